"""Names compared as OpenSSL compares them: real names, and pyOpenSSL's X509_NAME_cmp as the oracle."""

from __future__ import annotations

import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from OpenSSL import crypto

from scanner.core.certs import parse_der, split_certificates
from scanner.core.name_match import NameDecodeError, NameKey, canonical_name
from tests.conftest import REALCERTS
from tests.factories import NOW

_KEY = ec.generate_private_key(ec.SECP256R1())


def real(name: str) -> x509.Certificate:
    (der,) = split_certificates((REALCERTS / name).read_bytes())
    return x509.load_der_x509_certificate(der)


def der_of(name: x509.Name) -> bytes:
    return name.public_bytes()


def name(*attributes: tuple[x509.ObjectIdentifier, str, _ASN1Type]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value, _type=kind) for oid, value, kind in attributes])


def openssl_says_equal(a: x509.Name, b: x509.Name) -> bool:
    """X509_NAME_cmp, through pyOpenSSL's X509Name equality, on certificates carrying the names."""

    def subject(n: x509.Name) -> crypto.X509Name:
        cert = (
            x509.CertificateBuilder()
            .subject_name(n)
            .issuer_name(n)
            .public_key(_KEY.public_key())
            .serial_number(1)
            .not_valid_before(NOW)
            .not_valid_after(NOW)
            .sign(_KEY, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM)
        with warnings.catch_warnings():  # pyOpenSSL's X509 is deprecated; its X509_NAME_cmp is the oracle
            warnings.simplefilter("ignore", DeprecationWarning)
            return crypto.load_certificate(crypto.FILETYPE_PEM, pem).get_subject()

    first, second = subject(a), subject(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return bool(first == second)


def test_real_names_match_themselves_and_not_each_other():
    digicert = real("digicert-global-g2-tls-rsa-sha256-2020-ca1.pem")
    hydrant = real("hydrantid-server-ca-o1.pem")
    own = NameKey.of_der(der_of(digicert.subject), digicert.subject.rfc4514_string())
    assert own.matches(NameKey.of_der(der_of(digicert.subject)))
    assert not own.matches(NameKey.of_der(der_of(digicert.issuer)))  # the CA is not its root
    assert not own.matches(NameKey.of_der(der_of(hydrant.subject)))
    # The parsed facts carry the same DER as the certificate's own encoding.
    facts = parse_der(digicert.public_bytes(serialization.Encoding.DER)).facts
    assert facts.subject_der == der_of(digicert.subject)


def test_string_type_case_and_spacing_do_not_make_another_name_to_openssl():
    """A real CA's name, re-encoded as a UTF8String in other case with doubled spaces, is the
    same name to OpenSSL (and to us); with a letter changed it is not."""
    original = real("godaddy-secure-ca-g2.pem").subject
    variant = x509.Name(
        [
            a
            if a.oid == NameOID.COUNTRY_NAME  # two letters, always
            else x509.NameAttribute(
                a.oid, f"  {a.value.upper().replace(' ', '  ')} ", _type=_ASN1Type.UTF8String
            )
            for a in original
        ]
    )
    assert der_of(variant) != der_of(original)
    assert openssl_says_equal(original, variant)
    assert NameKey.of_der(der_of(original)).matches(NameKey.of_der(der_of(variant)))
    changed = x509.Name(
        [a if a.oid == NameOID.COUNTRY_NAME else x509.NameAttribute(a.oid, a.value + "x") for a in original]
    )
    assert not openssl_says_equal(original, changed)
    assert not NameKey.of_der(der_of(original)).matches(NameKey.of_der(der_of(changed)))


def test_text_is_compared_exactly_and_only_without_der():
    text = real("letsencrypt-r11.pem").subject.rfc4514_string()
    assert NameKey.of_text(text).matches(NameKey.of_text(text))
    assert not NameKey.of_text(text).matches(NameKey.of_text(text.lower()))  # text is lossy: no guessing
    assert not NameKey.of_text("").matches(NameKey.of_text(""))
    # Both with DER: the DER decides, whatever the texts say.
    r11 = real("letsencrypt-r11.pem")
    assert not NameKey.of_der(der_of(r11.subject), text).matches(NameKey.of_der(der_of(r11.issuer), text))


def test_attribute_order_matters_but_order_inside_a_multi_valued_rdn_does_not():
    cn = x509.NameAttribute(NameOID.COMMON_NAME, "Example CA")
    org = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example")
    forward, backward = x509.Name([cn, org]), x509.Name([org, cn])
    assert not openssl_says_equal(forward, backward)
    assert not NameKey.of_der(der_of(forward)).matches(NameKey.of_der(der_of(backward)))
    one_rdn = x509.Name([x509.RelativeDistinguishedName([cn, org])])
    same_rdn = x509.Name([x509.RelativeDistinguishedName([org, cn])])
    assert NameKey.of_der(der_of(one_rdn)).matches(NameKey.of_der(der_of(same_rdn)))


def test_bytes_that_are_no_name_are_compared_as_bytes():
    for garbage in (b"", b"\x30", b"\x30\x05\x31\x03\x30\x01", b"\x04\x00", b"\x30\x84\xff\xff\xff\xff"):
        try:
            canonical_name(garbage)
        except NameDecodeError:
            pass
        key = NameKey.of_der(garbage)
        assert key.matches(NameKey.of_der(garbage))


_PRINTABLE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?")
_TYPES = [_ASN1Type.UTF8String, _ASN1Type.PrintableString, _ASN1Type.BMPString, _ASN1Type.IA5String]
_printable = st.text(alphabet="AbCdEz09  '()+,-./:=?", min_size=1, max_size=12)
_any_text = st.text(alphabet=st.sampled_from("aZ \t\n\u00e9\u00c9\u4e2d"), min_size=1, max_size=8)


@settings(max_examples=80, deadline=None)
@given(
    value=_any_text,
    other=_any_text,
    types=st.tuples(st.sampled_from([_ASN1Type.UTF8String, _ASN1Type.BMPString]), st.sampled_from(_TYPES)),
    tweak=st.sampled_from(["same", "upper", "lower", "spaces", "other"]),
)
def test_we_agree_with_openssl_on_every_name_pair(value, other, types, tweak):
    """Hypothesis makes two names; NameKey equality must be what X509_NAME_cmp says."""
    second = {
        "same": value,
        "upper": value.upper(),
        "lower": value.lower(),
        "spaces": f"  {value.replace(' ', '   ')}\t",
        "other": other,
    }[tweak]
    first_type, second_type = types
    if (second_type is _ASN1Type.PrintableString and not set(second) <= _PRINTABLE) or (
        second_type is _ASN1Type.IA5String and not second.isascii()
    ):
        second_type = _ASN1Type.UTF8String  # a value that type cannot hold
    a = name((NameOID.COMMON_NAME, value, first_type))
    b = name((NameOID.COMMON_NAME, second, second_type))
    ours = NameKey.of_der(der_of(a)).matches(NameKey.of_der(der_of(b)))
    assert ours == openssl_says_equal(a, b), (value, second, types)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_give_a_key_or_a_decode_error(data):
    try:
        canonical_name(data)
    except NameDecodeError:
        pass
    assert NameKey.of_der(data).matches(NameKey.of_der(data))


@settings(max_examples=40, deadline=None)
@given(_printable)
def test_printable_and_utf8_encodings_of_one_value_are_one_name(value):
    a = name((NameOID.COMMON_NAME, value, _ASN1Type.PrintableString))
    b = name((NameOID.COMMON_NAME, value, _ASN1Type.UTF8String))
    assert openssl_says_equal(a, b)
    assert NameKey.of_der(der_of(a)).matches(NameKey.of_der(der_of(b)))
