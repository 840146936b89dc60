"""Certificate facts from real public certificates and from certificates built for the test."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from scanner.core.certs import (
    NoCertificateError,
    ParsedCert,
    name_attributes,
    parse_der,
    rfc4514_text,
    sha256_hex,
    split_certificates,
)
from scanner.model import KeyFacts, UnparsedCert
from tests.factories import DAY, NOW, key, make_cert

SA, CA = "serverAuth", "clientAuth"

# file, EKU in certificate order, is_ca, notAfter, issuer organisation, key: as in SOURCES.md and
# `openssl x509 -noout -text`.
REAL = [
    pytest.param(
        "letsencrypt-r11.pem",
        (CA, SA),
        True,
        datetime(2027, 3, 12, 23, 59, 59, tzinfo=UTC),
        "Internet Security Research Group",
        KeyFacts("RSA", 2048),
        id="LE-R11",
    ),
    pytest.param(
        "letsencrypt-yr1.pem",
        (SA,),
        True,
        datetime(2028, 9, 2, 23, 59, 59, tzinfo=UTC),
        "ISRG",
        KeyFacts("RSA", 2048),
        id="LE-YR1",
    ),
    pytest.param(
        "letsencrypt-ye1.pem",
        (SA,),
        True,
        datetime(2028, 9, 2, 23, 59, 59, tzinfo=UTC),
        "ISRG",
        KeyFacts("EC", 384, "secp384r1"),
        id="LE-YE1",
    ),
    pytest.param(
        "digicert-global-g2-tls-rsa-sha256-2020-ca1.pem",
        (SA, CA),
        True,
        datetime(2030, 9, 23, 23, 59, 59, tzinfo=UTC),
        "DigiCert Inc",
        KeyFacts("RSA", 2048),
        id="DigiCert-G2",
    ),
    pytest.param(
        "hydrantid-server-ca-o1.pem",
        (SA, CA),
        True,
        datetime(2029, 12, 12, 16, 56, 15, tzinfo=UTC),
        "IdenTrust",
        KeyFacts("RSA", 2048),
        id="HydrantID-O1",
    ),
    pytest.param(
        "godaddy-secure-ca-g2.pem",
        None,
        True,
        datetime(2031, 5, 3, 7, 0, 0, tzinfo=UTC),
        "GoDaddy.com, Inc.",
        KeyFacts("RSA", 2048),
        id="GoDaddy-G2-no-EKU",
    ),
    pytest.param(
        "badssl-invalid-expected-sct-leaf.pem",
        (SA, CA),
        False,
        datetime(2018, 11, 17, 23, 59, 59, tzinfo=UTC),
        "GeoTrust Inc.",
        KeyFacts("RSA", 2048),
        id="badssl-leaf",
    ),
    pytest.param(
        "cryptography-io-leaf.pem",
        (SA, CA),
        False,
        datetime(2018, 11, 16, 1, 15, 3, tzinfo=UTC),
        "GeoTrust Inc.",
        KeyFacts("RSA", 4096),
        id="cryptography.io-leaf",
    ),
]


def der_of(path: Path) -> bytes:
    (der,) = split_certificates(path.read_bytes())
    return der


@pytest.mark.parametrize(("filename", "eku", "is_ca", "not_after", "issuer_org", "key_facts"), REAL)
def test_real_certificate_facts(realcerts, filename, eku, is_ca, not_after, issuer_org, key_facts):
    der = der_of(realcerts / filename)
    parsed = parse_der(der)
    assert isinstance(parsed, ParsedCert), parsed
    facts = parsed.facts
    assert facts.eku == eku
    assert facts.is_ca is is_ca
    assert facts.not_after == not_after
    assert facts.sha256 == hashlib.sha256(der).hexdigest().upper() == sha256_hex(der)
    assert facts.issuer_organization == issuer_org
    assert facts.key == key_facts
    assert facts.signature_hash == ("sha384" if key_facts.algorithm == "EC" else "sha256")
    assert not facts.self_issued
    assert facts.not_before < facts.not_after


def test_real_leaf_names(realcerts):
    parsed = parse_der(der_of(realcerts / "cryptography-io-leaf.pem"))
    assert isinstance(parsed, ParsedCert)
    assert "CN=www.cryptography.io" in parsed.facts.subject
    assert "www.cryptography.io" in parsed.facts.san_dns
    assert parsed.facts.issuer == "CN=RapidSSL SHA256 CA - G3,O=GeoTrust Inc.,C=US"


# --- split_certificates -------------------------------------------------------------------


def test_pem_bundle_in_order(realcerts):
    names = ["letsencrypt-r11.pem", "godaddy-secure-ca-g2.pem", "letsencrypt-ye1.pem"]
    bundle = b"some text before\n" + b"\n".join((realcerts / n).read_bytes() for n in names) + b"\ntrailer\n"
    ders = split_certificates(bundle)
    assert ders == [der_of(realcerts / n) for n in names]
    subjects = []
    for der in ders:
        parsed = parse_der(der)
        assert isinstance(parsed, ParsedCert)
        subjects.append(parsed.facts.subject)
    assert [s.split(",")[0] for s in subjects] == [
        "CN=R11",
        "CN=Go Daddy Secure Certificate Authority - G2",
        "CN=YE1",
    ]


def test_der_input_is_returned_whole(realcerts):
    der = der_of(realcerts / "letsencrypt-r11.pem")
    assert split_certificates(der) == [der]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello, this is not a certificate\n" * 4, id="text"),
        pytest.param(b"\x30\x03\x02\x01\x00", id="short-sequence"),
        pytest.param(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", id="other-pem"),
        pytest.param(b"-----BEGIN CERTIFICATE-----\nMIIB\n", id="unterminated-pem"),
    ],
)
def test_garbage_raises_no_certificate_error(data):
    with pytest.raises(NoCertificateError):
        split_certificates(data)


def test_broken_base64_still_yields_a_block_that_is_unparsed(realcerts):
    good = (realcerts / "letsencrypt-yr1.pem").read_bytes()
    broken = b"-----BEGIN CERTIFICATE-----\nMIIB!!not*base64\nAAA=\n-----END CERTIFICATE-----\n"
    blocks = split_certificates(good + broken)
    assert len(blocks) == 2
    assert blocks[0] == der_of(realcerts / "letsencrypt-yr1.pem")
    parsed = parse_der(blocks[1])
    assert isinstance(parsed, UnparsedCert)
    assert parsed.sha256 == hashlib.sha256(blocks[1]).hexdigest().upper()
    assert parsed.error


def test_parse_der_never_raises_on_garbage():
    for data in (b"", b"\x00", b"\x30\x03\x02\x01\x00", b"\x30\x82\xff\xff" + b"\x00" * 100):
        parsed = parse_der(data)
        assert isinstance(parsed, UnparsedCert)
        assert parsed.sha256 == sha256_hex(data)


def test_truncated_real_certificate_is_unparsed(realcerts):
    der = der_of(realcerts / "letsencrypt-r11.pem")
    assert isinstance(parse_der(der[: len(der) // 2]), UnparsedCert)


# --- malformed extension ------------------------------------------------------------------


def test_a_common_name_over_its_bound_is_parsed_without_a_warning():
    """X.520 bounds a CN at 64 characters; certificates in the wild and hostile servers exceed it.

    cryptography warns on every access to such a name; under ``-W error`` (the tests) that made
    the certificate unparsed, and in a scan it put Python warnings on stderr.
    """
    long_cn = "a-common-name-well-over-sixty-four-characters." * 3
    private = key("ec")
    with pytest.warns(UserWarning, match="Attribute's length"):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, long_cn, _validate=False)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(4321)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .sign(private, hashes.SHA256())
    )
    parsed = parse_der(cert.public_bytes(Encoding.DER))  # filterwarnings = error: a warning would fail
    assert not isinstance(parsed, UnparsedCert)
    assert parsed.facts.subject_common_name == long_cn and parsed.facts.subject == f"CN={long_cn}"


def test_malformed_eku_extension_gives_unparsed_cert():
    private = key("ec")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bad-eku.example.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1234)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.EXTENDED_KEY_USAGE, b"\x00garbage"), critical=False
        )
        .sign(private, hashes.SHA256())
    )
    der = cert.public_bytes(Encoding.DER)
    # The certificate itself loads; only its EKU extension is broken.
    assert x509.load_der_x509_certificate(der).subject == name
    parsed = parse_der(der)
    assert isinstance(parsed, UnparsedCert)
    assert parsed.sha256 == sha256_hex(der)
    assert parsed.error


# --- key facts and EKU names of built certificates ----------------------------------------


@pytest.mark.parametrize(
    ("key_kind", "expected"),
    [
        pytest.param("rsa1024", KeyFacts("RSA", 1024), id="rsa-1024"),
        pytest.param("rsa2048", KeyFacts("RSA", 2048), id="rsa-2048"),
        pytest.param("ec", KeyFacts("EC", 256, "secp256r1"), id="ec-p256"),
        pytest.param("ec-p384", KeyFacts("EC", 384, "secp384r1"), id="ec-p384"),
    ],
)
def test_key_facts(key_kind, expected):
    made = make_cert("key.example.test", key_kind=key_kind, unique_key=False)
    parsed = parse_der(made.der)
    assert isinstance(parsed, ParsedCert)
    assert parsed.facts.key == expected


@pytest.mark.parametrize(
    ("eku", "expected"),
    [
        pytest.param("none", None, id="absent"),
        pytest.param("serverAuth", (SA,), id="serverAuth"),
        pytest.param("clientAuth", (CA,), id="clientAuth"),
        pytest.param("both", (SA, CA), id="both"),
        pytest.param("anyEKU", ("anyExtendedKeyUsage",), id="any"),
        pytest.param([x509.ObjectIdentifier("1.2.3.4.5")], ("1.2.3.4.5",), id="unknown-oid-dotted"),
    ],
)
def test_eku_names(eku, expected):
    parsed = parse_der(make_cert("eku.example.test", eku=eku).der)
    assert isinstance(parsed, ParsedCert)
    assert parsed.facts.eku == expected


def test_built_certificate_facts():
    issuer = make_cert("Facts CA", ca=True, org="Facts Org")
    made = make_cert("facts.example.test", issuer=issuer, dns=["facts.example.test", "alt.example.test"])
    parsed = parse_der(made.der)
    assert isinstance(parsed, ParsedCert)
    facts = parsed.facts
    assert facts.subject == "CN=facts.example.test,O=Test Org"
    assert facts.issuer == "CN=Facts CA,O=Facts Org"
    assert facts.issuer_organization == "Facts Org"
    assert facts.san_dns == ("facts.example.test", "alt.example.test")
    assert facts.san == ("DNS:facts.example.test", "DNS:alt.example.test")
    assert facts.key_usage == ("digitalSignature", "keyEncipherment")
    assert facts.is_ca is False
    assert facts.self_issued is False
    assert facts.serial == format(made.cert.serial_number, "X")
    ca_facts = parse_der(issuer.der)
    assert isinstance(ca_facts, ParsedCert)
    assert ca_facts.facts.is_ca is True
    assert ca_facts.facts.self_issued is True
    assert ca_facts.facts.key_usage == ("keyCertSign", "cRLSign")


# --- RFC 4514 text ----------------------------------------------------------------------------

names_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)


@given(cn=names_text, org=names_text)
def test_rfc4514_text_reads_back(cn, org):
    text = rfc4514_text([("CN", cn), ("O", org)])
    assert name_attributes(text) == {"CN": cn, "O": org}


# at most 15 characters: cryptography caps CN and O at 64 bytes of UTF-8
short_names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=15)


@given(cn=short_names.filter(str.strip), org=short_names.filter(str.strip))
def test_reads_cryptography_subjects(cn, org):
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )
    text = subject.rfc4514_string()
    assert name_attributes(text) == {"CN": cn, "O": org}
    assert rfc4514_text([("CN", cn), ("O", org)]) == text  # the same escaping as cryptography


def test_name_attributes_is_lenient():
    assert name_attributes("CN=a,garbage,O=b\\") == {"CN": "a", "O": "b\\"}
    assert name_attributes("CN=x+OU=y") == {"CN": "x", "OU": "y"}  # a multi-valued RDN
    assert name_attributes("CN=caf\\C3\\A9") == {"CN": "café"}
