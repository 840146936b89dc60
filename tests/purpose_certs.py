"""Certificates for OpenSSL's purpose checks, every extension chosen, and openssl to judge them.

keyUsage and nsCertType by bit name (or nsCertType as raw bytes, to test malformed values),
basicConstraints present or absent, the EKU as OIDs, and X.509 v1 roots, which
cryptography's builder cannot write: the v3 encoding is re-encoded without its version.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scanner.core.certs import NS_CERT_TYPE_BITS, NS_CERT_TYPE_OID
from scanner.model import Use
from tests.factories import DAY, NOW, Made

NS_OID = x509.ObjectIdentifier(NS_CERT_TYPE_OID)
# x509.KeyUsage's positional arguments, by the names CertFacts uses.
KEY_USAGE_ARGS = (
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
)
CA_KEY_USAGE = ("keyCertSign", "cRLSign")


def ns_value(*names: str) -> bytes:
    """The DER BIT STRING of an nsCertType with these bits, trailing zero bits dropped (DER)."""
    octet = 0
    for name in names:
        octet |= 0x80 >> NS_CERT_TYPE_BITS.index(name)
    if octet == 0:
        return b"\x03\x01\x00"
    unused = (octet & -octet).bit_length() - 1
    return bytes([0x03, 0x02, unused, octet])


def key_usage(*names: str) -> x509.KeyUsage:
    unknown = set(names) - set(KEY_USAGE_ARGS)
    if unknown:
        raise ValueError(f"not keyUsage bits: {sorted(unknown)}")
    return x509.KeyUsage(*(name in names for name in KEY_USAGE_ARGS))


def make(
    cn: str,
    *,
    issuer: Made | None = None,
    ca: bool | None = None,
    ku: Sequence[str] | None = None,
    eku: Sequence[x509.ObjectIdentifier] | None = None,
    ns: bytes | None = None,
    not_before: datetime = NOW - 30 * DAY,
    not_after: datetime = NOW + 300 * DAY,
) -> Made:
    """One certificate. ``ca``: basicConstraints CA:TRUE, CA:FALSE, or (None) no extension.

    ``ku``/``eku``/``ns`` None: no such extension; ``ns`` is the extension's raw value.
    """
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if ku is not None:
        builder = builder.add_extension(key_usage(*ku), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if ns is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(NS_OID, ns), critical=False)
    cert = builder.sign(issuer.key if issuer else private, hashes.SHA256())
    return Made(cert, private)


def make_v1_root(cn: str, **kw: datetime) -> Made:
    """A self-signed X.509 v1 certificate (no version field, no extensions)."""
    v3 = make(cn, **kw)  # type: ignore[arg-type]
    assert isinstance(v3.key, ec.EllipticCurvePrivateKey)
    fields = _elements(v3.cert.tbs_certificate_bytes)
    assert fields[0][:1] == b"\xa0", "a v3 TBSCertificate starts with its [0] version"
    tbs = _tlv(0x30, b"".join(fields[1:]))
    signature = v3.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    algorithm = fields[2]  # the TBSCertificate's own signature AlgorithmIdentifier
    der = _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    cert = x509.load_der_x509_certificate(der)
    assert cert.version is x509.Version.v1
    return Made(cert, v3.key)


def _elements(der: bytes) -> list[bytes]:
    """The elements of the SEQUENCE ``der``, each as its full TLV."""
    start, end = _contents(der, 0)
    elements, position = [], start
    while position < end:
        _, element_end = _contents(der, position)
        elements.append(der[position:element_end])
        position = element_end
    return elements


def _contents(der: bytes, offset: int) -> tuple[int, int]:
    """(start, end) of the contents of the TLV at ``offset``."""
    first = der[offset + 1]
    if first < 0x80:
        return offset + 2, offset + 2 + first
    count = first & 0x7F
    length = int.from_bytes(der[offset + 2 : offset + 2 + count], "big")
    return offset + 2 + count, offset + 2 + count + length


def _tlv(tag: int, contents: bytes) -> bytes:
    length = len(contents)
    if length < 0x80:
        return bytes([tag, length]) + contents
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(encoded)]) + encoded + contents


# --- the judge: Debian's openssl binary --------------------------------------------------------

OPENSSL = shutil.which("openssl")
PURPOSES = {Use.CLIENT: "sslclient", Use.SERVER: "sslserver"}


def openssl_verdicts(
    leaves: Sequence[Path], use: Use, *, cafile: Path, untrusted: Path | None = None, at: datetime = NOW
) -> dict[Path, bool]:
    """``openssl verify -purpose`` over many leaves in one run (one run costs ~5 ms): which pass.

    The evaluation time is pinned with -attime, so the certificates' dates never matter.
    """
    assert OPENSSL is not None
    command = [OPENSSL, "verify", "-attime", str(int(at.timestamp())), "-purpose", PURPOSES[use]]
    command += ["-CAfile", str(cafile), *(["-untrusted", str(untrusted)] if untrusted else [])]
    result = subprocess.run(
        [*command, *map(str, leaves)], capture_output=True, text=True, timeout=120, check=False
    )
    accepted = {line.removesuffix(": OK") for line in result.stdout.splitlines() if line.endswith(": OK")}
    verdicts = {leaf: str(leaf) in accepted for leaf in leaves}
    # Every leaf got exactly one answer: a file openssl could not even read fails this.
    rejected = result.stderr.count(": verification failed")
    assert sum(verdicts.values()) + rejected == len(leaves), result.stderr[-2000:]
    return verdicts


def write_pems(path: Path, *certs: Made) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(c.pem for c in certs))
    return path
