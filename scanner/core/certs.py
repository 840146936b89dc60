"""Certificate facts from DER or PEM bytes, with pyca/cryptography (pure, no I/O).

A certificate is parsed once into :class:`CertFacts`; the rules and the trust classifier
work on those facts and, where a signature must be checked, on the parsed certificate.
A certificate that cryptography refuses (whole, or one of its extensions) becomes an
:class:`UnparsedCert` carrying the reason, never an exception: a broken certificate on one
endpoint is a finding on that endpoint, not the end of a sweep.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from scanner.model import CertFacts, KeyFacts, UnparsedCert

# Short names for EKU OIDs, as OpenSSL and RFC 5280 spell them. Anything else is reported
# as its dotted OID so that nothing is hidden.
EKU_NAMES: dict[str, str] = {
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING.dotted_string: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING.dotted_string: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING.dotted_string: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string: "anyExtendedKeyUsage",
    ExtendedKeyUsageOID.SMARTCARD_LOGON.dotted_string: "msSmartcardLogin",
    ExtendedKeyUsageOID.KERBEROS_PKINIT_KDC.dotted_string: "pkInitKDC",
    ExtendedKeyUsageOID.IPSEC_IKE.dotted_string: "ipsecIKE",
    "1.3.6.1.5.5.7.3.5": "ipsecEndSystem",
    "1.3.6.1.5.5.7.3.6": "ipsecTunnel",
    "1.3.6.1.5.5.7.3.7": "ipsecUser",
    "1.3.6.1.4.1.311.10.3.3": "msSGC",
    "2.16.840.1.113730.4.1": "nsSGC",
}

PARSE_CACHE_SIZE = 256  # intermediates repeat; a leaf repeats on its host's ports, analysed together

SERVER_AUTH = "serverAuth"
CLIENT_AUTH = "clientAuth"
ANY_EKU = "anyExtendedKeyUsage"

_KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
_KEY_USAGE_NAMES = {
    "digital_signature": "digitalSignature",
    "content_commitment": "nonRepudiation",
    "key_encipherment": "keyEncipherment",
    "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement",
    "key_cert_sign": "keyCertSign",
    "crl_sign": "cRLSign",
    "encipher_only": "encipherOnly",
    "decipher_only": "decipherOnly",
}


# Netscape certificate type: a BIT STRING whose bits, most significant first, are these uses
# (OpenSSL's NS_SSL_CLIENT 0x80 ... NS_OBJSIGN_CA 0x01, crypto/x509/v3_bitst.c). OpenSSL reads
# only the first octet, so later bits (none are defined) are ignored here too.
NS_CERT_TYPE_OID = "2.16.840.1.113730.1.1"
NS_CERT_TYPE_BITS = (
    "sslClient",
    "sslServer",
    "smime",
    "objectSigning",
    "reserved",
    "sslCA",
    "smimeCA",
    "objectSigningCA",
)


class MalformedExtensionError(ValueError):
    """An extension's value that OpenSSL's decoder would refuse."""


@dataclass(frozen=True, slots=True)
class ParsedCert:
    """A certificate and its facts; the certificate is kept for signature checks."""

    facts: CertFacts
    cert: x509.Certificate


def sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest().upper()


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_der(der: bytes) -> ParsedCert | UnparsedCert:
    """Parse one DER certificate; never raises for bad input.

    Memoised: a sweep sees the same intermediates on every endpoint, and parsed
    certificates are immutable values.
    """
    fingerprint = sha256_hex(der)
    try:
        with warnings.catch_warnings():
            # Roots in Mozilla's bundle (Go Daddy and Starfield G2, ...) have serial number 0,
            # which cryptography warns about. The warning is not ours to show, and under
            # ``-W error`` it would turn a trusted root into an UnparsedCert.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            # A name attribute longer than its X.520 bound (a CN over 64 characters, seen in the
            # wild and in hostile certificates) makes cryptography warn on every access: stderr
            # noise in a scan, an UnparsedCert under ``-W error``. It is a fact, not our warning.
            warnings.filterwarnings("ignore", "Attribute's length must be", UserWarning)
            cert = x509.load_der_x509_certificate(der)
            return ParsedCert(facts=_facts(cert, fingerprint), cert=cert)
    except Exception as exc:  # cryptography raises ValueError, but also others for odd DER
        return UnparsedCert(sha256=fingerprint, error=_describe(exc))


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _facts(cert: x509.Certificate, fingerprint: str) -> CertFacts:
    # Touching .extensions parses every extension: a malformed one raises here, and the
    # caller turns that into an UnparsedCert, because a certificate whose EKU cannot be
    # read cannot be judged.
    extensions = cert.extensions
    eku: tuple[str, ...] | None = None
    key_usage: tuple[str, ...] | None = None
    is_ca = False
    has_basic_constraints = False
    san_dns: tuple[str, ...] = ()
    san_ip: tuple[str, ...] = ()
    ns_cert_type: tuple[str, ...] | None = None
    ns_cert_type_error: str | None = None
    completion = _CompletionFacts()
    for ext in extensions:
        value = ext.value
        if isinstance(value, x509.ExtendedKeyUsage):
            eku = tuple(EKU_NAMES.get(oid.dotted_string, oid.dotted_string) for oid in value)
        elif isinstance(value, x509.KeyUsage):
            key_usage = _key_usage_names(value)
        elif isinstance(value, x509.BasicConstraints):
            is_ca = value.ca
            has_basic_constraints = True
        elif isinstance(value, x509.SubjectAlternativeName):
            san_dns = tuple(value.get_values_for_type(x509.DNSName))
            san_ip = tuple(str(a) for a in value.get_values_for_type(x509.IPAddress))
        elif isinstance(value, x509.UnrecognizedExtension) and ext.oid.dotted_string == NS_CERT_TYPE_OID:
            # A bad value is a fact to report, not a reason to give up on the certificate:
            # OpenSSL refuses the certificate for every purpose, and the rules say so.
            try:
                ns_cert_type = decode_ns_cert_type(value.value)
            except MalformedExtensionError as exc:
                ns_cert_type_error = str(exc)
        else:
            completion.add(value)
    subject_der = cert.subject.public_bytes()
    issuer_der = cert.issuer.public_bytes()
    hash_alg = cert.signature_hash_algorithm
    return CertFacts(
        sha256=fingerprint,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "X"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        eku=eku,
        key_usage=key_usage,
        is_ca=is_ca,
        san_dns=san_dns,
        san_ip=san_ip,
        key=_key_facts(cert),
        signature_hash=hash_alg.name if hash_alg is not None else None,
        self_issued=subject_der == issuer_der,
        issuer_organization=_first_attribute(cert.issuer, NameOID.ORGANIZATION_NAME),
        subject_der=subject_der,
        issuer_der=issuer_der,
        issuer_common_name=_first_attribute(cert.issuer, NameOID.COMMON_NAME),
        subject_common_name=_first_attribute(cert.subject, NameOID.COMMON_NAME),
        subject_organization=_first_attribute(cert.subject, NameOID.ORGANIZATION_NAME),
        ns_cert_type=ns_cert_type,
        ns_cert_type_error=ns_cert_type_error,
        has_basic_constraints=has_basic_constraints,
        version=1 if cert.version is x509.Version.v1 else 3,
        ca_issuers=tuple(completion.ca_issuers),
        authority_key_id=completion.authority_key_id,
        subject_key_id=completion.subject_key_id,
        sct_count=completion.sct_count,
    )


@dataclass(slots=True)
class _CompletionFacts:
    """The extensions that say where a certificate's issuer is and how it was logged."""

    ca_issuers: list[str] = field(default_factory=list)
    authority_key_id: bytes | None = None
    subject_key_id: bytes | None = None
    sct_count: int = 0

    def add(self, value: x509.ExtensionType) -> None:
        if isinstance(value, x509.AuthorityInformationAccess):
            self.ca_issuers += [
                d.access_location.value
                for d in value
                if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
                and isinstance(d.access_location, x509.UniformResourceIdentifier)
            ]
        elif isinstance(value, x509.AuthorityKeyIdentifier):
            self.authority_key_id = value.key_identifier
        elif isinstance(value, x509.SubjectKeyIdentifier):
            self.subject_key_id = value.digest
        elif isinstance(value, x509.PrecertificateSignedCertificateTimestamps):
            self.sct_count = len(value)


def decode_ns_cert_type(value: bytes) -> tuple[str, ...]:
    """The names of the bits set in an nsCertType value (a DER BIT STRING), as OpenSSL reads it.

    Accepted as OpenSSL's decoder accepts them: a long-form length, set bits among the unused
    ones (masked off), bytes after the BIT STRING (ignored). Refused, as OpenSSL refuses them:
    another tag, a length past the end, no unused-bits octet, more than 7 unused bits. Refused
    although OpenSSL's BER decoder takes them: the BER-only forms DER forbids (constructed,
    high-tag-number), which no CA writes; the message says so.
    """
    if value[:1] in (b"\x23", b"\x1f", b"\x3f"):
        raise MalformedExtensionError("nsCertType is not DER (a constructed or high-tag-number form)")
    if len(value) < 2 or value[0] != 0x03:
        raise MalformedExtensionError("nsCertType is not a BIT STRING")
    length, start = _der_length(value, 1)
    if start + length > len(value):
        raise MalformedExtensionError("nsCertType BIT STRING is truncated")
    if length == 0:
        raise MalformedExtensionError("nsCertType BIT STRING has no unused-bits octet")
    unused = value[start]
    if unused > 7:
        raise MalformedExtensionError(f"nsCertType BIT STRING claims {unused} unused bits")
    content = value[start + 1 : start + length]
    if not content:
        return ()  # present but empty: OpenSSL then allows no Netscape use at all
    # OpenSSL clears the unused bits of the last octet and reads only the first one.
    first = content[0] & (0xFF << unused) if len(content) == 1 else content[0]
    return tuple(name for bit, name in enumerate(NS_CERT_TYPE_BITS) if first & (0x80 >> bit))


def _der_length(data: bytes, offset: int) -> tuple[int, int]:
    """A definite length at ``data[offset]``: (length, offset of the contents)."""
    if offset >= len(data):
        raise MalformedExtensionError("nsCertType BIT STRING has no length")
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count == 0:
        raise MalformedExtensionError("nsCertType BIT STRING has an indefinite length")
    if offset + 1 + count > len(data):
        raise MalformedExtensionError("nsCertType BIT STRING is truncated")
    return int.from_bytes(data[offset + 1 : offset + 1 + count], "big"), offset + 1 + count


def _key_usage_names(ku: x509.KeyUsage) -> tuple[str, ...]:
    names = [_KEY_USAGE_NAMES[flag] for flag in _KEY_USAGE_FLAGS if getattr(ku, flag)]
    if ku.key_agreement:  # encipher_only/decipher_only raise unless key_agreement is set
        names += [_KEY_USAGE_NAMES[f] for f in ("encipher_only", "decipher_only") if getattr(ku, f)]
    return tuple(names)


def _key_facts(cert: x509.Certificate) -> KeyFacts | None:
    try:
        key = cert.public_key()
    except Exception:  # unsupported algorithm: say nothing rather than guess
        return None
    if isinstance(key, rsa.RSAPublicKey):
        return KeyFacts("RSA", key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return KeyFacts("EC", key.curve.key_size, key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyFacts("Ed25519", 256)
    if isinstance(key, ed448.Ed448PublicKey):
        return KeyFacts("Ed448", 456)
    if isinstance(key, dsa.DSAPublicKey):
        return KeyFacts("DSA", key.key_size)
    return KeyFacts(type(key).__name__, 0)


def _first_attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attrs = name.get_attributes_for_oid(oid)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


# --- reading certificate files (bytes in, DER blocks out) -------------------------------

_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----(.*?)-----END (?:X509 |TRUSTED )?CERTIFICATE-----",
    re.DOTALL,
)


class NoCertificateError(ValueError):
    """The bytes hold neither a PEM certificate block nor a DER certificate."""


def split_certificates(data: bytes) -> list[bytes]:
    """Return the DER of each certificate in a PEM bundle, or the DER file itself.

    A PEM block whose base64 is broken still yields its (garbage) bytes so that the report
    can say which block could not be parsed; bytes with no PEM block at all are taken as
    DER only if they start like an ASN.1 SEQUENCE.
    """
    blocks = _PEM_BLOCK.findall(data)
    if blocks:
        ders = []
        for body in blocks:
            try:
                ders.append(base64.b64decode(b"".join(body.split()), validate=True))
            except (binascii.Error, ValueError):
                ders.append(b"".join(body.split()))
        return ders
    if data[:1] == b"\x30" and len(data) > 16:
        return [data]
    raise NoCertificateError("no PEM certificate block and not DER")


# --- RFC 4514 distinguished-name text ------------------------------------------------------
# One writer and one reader, so that CA names from a CertificateRequest and subjects from
# cryptography (which escapes the same way) are read alike: a comma inside "O=GoDaddy.com\,
# Inc." stays in the value.

_RFC4514_ESCAPED = frozenset('",+;<>\\')


def rfc4514_value(value: str) -> str:
    """A value escaped for RFC 4514 text (section 2.4)."""
    chars = [f"\\{c}" if c in _RFC4514_ESCAPED else "\\00" if c == "\0" else c for c in value]
    if chars and chars[0] in ("#", " "):
        chars[0] = "\\" + chars[0]
    if len(chars) > 1 and chars[-1] == " ":
        chars[-1] = "\\ "
    return "".join(chars)


def rfc4514_text(attributes: Iterable[tuple[str, str]]) -> str:
    """``KEY=value`` pairs, most specific first, as RFC 4514 text."""
    return ",".join(f"{key}={rfc4514_value(value)}" for key, value in attributes)


def name_attributes(text: str) -> dict[str, str]:
    """The first value of each attribute type in RFC 4514 text, unescaped; keys upper-case.

    Lenient: a part without ``=`` is ignored, a malformed escape is taken literally.
    """
    attributes: dict[str, str] = {}
    for part in _split_unescaped(text):
        key, sep, value = part.partition("=")
        if sep:
            attributes.setdefault(key.strip().upper(), _unescape(value))
    return attributes


def _split_unescaped(text: str) -> list[str]:
    parts, current, escaped = [], [], False
    for c in text:
        if escaped:
            current.append(c)
            escaped = False
        elif c == "\\":
            current.append(c)
            escaped = True
        elif c in ",+":  # + joins the attributes of a multi-valued RDN
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    return parts


_HEX_PAIR = re.compile(r"\\([0-9A-Fa-f]{2})|\\(.)", re.S)


def _unescape(value: str) -> str:
    raw = bytearray()
    position = 0
    for match in _HEX_PAIR.finditer(value):
        raw += value[position : match.start()].encode()
        raw += bytes.fromhex(match.group(1)) if match.group(1) else match.group(2).encode()
        position = match.end()
    raw += value[position:].encode()
    return raw.decode("utf-8", "replace")
