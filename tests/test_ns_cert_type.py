"""The Netscape certificate type as a certificate fact: decoding, CertFacts, JSON, and `ekuscan inspect`.

OpenSSL's verdicts on the same values are in tests/test_ca_openssl.py; here the decoder is
held to the names and errors it promises, on fixed values and on any bytes (Hypothesis).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.core.analysis import analyze
from scanner.core.certs import (
    NS_CERT_TYPE_BITS,
    MalformedExtensionError,
    ParsedCert,
    decode_ns_cert_type,
    parse_der,
)
from scanner.model import CertFacts
from scanner.report.document import cert_dict, endpoint_dict
from tests.conftest import context
from tests.factories import CA_, SA, observation
from tests.purpose_certs import CA_KEY_USAGE, make, make_v1_root, ns_value


@pytest.mark.parametrize(
    ("value", "names"),
    [
        pytest.param(b"\x03\x02\x07\x80", ("sslClient",), id="client"),
        pytest.param(b"\x03\x02\x06\x40", ("sslServer",), id="server"),
        pytest.param(b"\x03\x02\x06\xc0", ("sslClient", "sslServer"), id="client-server"),
        pytest.param(b"\x03\x02\x05\xa0", ("sslClient", "smime"), id="easy-rsa-2-client"),
        pytest.param(b"\x03\x02\x00\xff", NS_CERT_TYPE_BITS, id="every-bit"),
        pytest.param(b"\x03\x02\x01\x06", ("sslCA", "smimeCA"), id="ca-bits"),
        pytest.param(b"\x03\x01\x00", (), id="no-bits"),
        pytest.param(b"\x03\x01\x05", (), id="no-content-any-unused-count"),
        pytest.param(b"\x03\x02\x07\x81", ("sslClient",), id="unused-bits-masked"),
        pytest.param(b"\x03\x03\x00\x40\xff", ("sslServer",), id="second-octet-ignored"),
        pytest.param(b"\x03\x81\x02\x07\x80", ("sslClient",), id="long-form-length"),
        pytest.param(b"\x03\x85\x00\x00\x00\x00\x02\x07\x80", ("sslClient",), id="long-form-leading-zeros"),
        pytest.param(b"\x03\x02\x07\x80\xde\xad", ("sslClient",), id="trailing-bytes-ignored"),
    ],
)
def test_decodes_as_openssl_reads(value: bytes, names: tuple[str, ...]) -> None:
    assert decode_ns_cert_type(value) == names


@pytest.mark.parametrize(
    ("value", "says"),
    [
        pytest.param(b"", "not a BIT STRING", id="empty"),
        pytest.param(b"\x03", "not a BIT STRING", id="tag-only"),
        pytest.param(b"\x04\x01\x80", "not a BIT STRING", id="octet-string"),
        pytest.param(b"\x03\x02\x00", "truncated", id="truncated"),
        pytest.param(b"\x03\x81", "truncated", id="long-form-without-its-octets"),
        pytest.param(b"\x03\x00", "no unused-bits octet", id="zero-length"),
        pytest.param(b"\x03\x02\x08\x80", "8 unused bits", id="eight-unused"),
        pytest.param(b"\x03\x80\x07\x80\x00\x00", "indefinite", id="indefinite-length"),
        pytest.param(b"\x23\x04\x03\x02\x07\x80", "not DER", id="constructed"),
        pytest.param(b"\x1f\x03\x02\x07\x80", "not DER", id="high-tag-number"),
    ],
)
def test_refuses_what_it_cannot_read(value: bytes, says: str) -> None:
    with pytest.raises(MalformedExtensionError, match=says):
        decode_ns_cert_type(value)


@given(value=st.binary(max_size=12))
def test_any_bytes_give_names_or_the_one_error(value: bytes) -> None:
    error: MalformedExtensionError | None = None
    try:
        names = decode_ns_cert_type(value)
    except MalformedExtensionError as exc:
        error, names = exc, ()
    if error is not None:
        assert str(error).startswith("nsCertType ")
    assert set(names) <= set(NS_CERT_TYPE_BITS)
    assert list(names) == sorted(names, key=NS_CERT_TYPE_BITS.index)


@given(names=st.sets(st.sampled_from(NS_CERT_TYPE_BITS)))
def test_der_encoding_reads_back(names: set[str]) -> None:
    assert set(decode_ns_cert_type(ns_value(*names))) == names


def facts(value: bytes | None, **kw: object) -> CertFacts:
    parsed = parse_der(make("host.example.test", ns=value, **kw).der)  # type: ignore[arg-type]
    assert isinstance(parsed, ParsedCert)
    return parsed.facts


def test_cert_facts() -> None:
    assert facts(None).ns_cert_type is None
    assert facts(ns_value("sslServer")).ns_cert_type == ("sslServer",)
    broken = facts(b"\x03\x02\x00")
    assert broken.ns_cert_type is None
    assert broken.ns_cert_type_error == "nsCertType BIT STRING is truncated"
    assert facts(None, ca=True).has_basic_constraints and facts(None, ca=True).is_ca
    assert not facts(None).has_basic_constraints and not facts(None).is_ca
    assert facts(None, ca=False).has_basic_constraints
    assert facts(None).version == 3
    v1 = parse_der(make_v1_root("Old Root").der)
    assert isinstance(v1, ParsedCert) and v1.facts.version == 1 and v1.facts.self_issued


def test_chain_json_names_the_bits_and_the_error() -> None:
    """The chain JSON gains ns_cert_type (a list, or null without the extension) and
    ns_cert_type_error; every field it had stays."""
    root = make("Legacy Root", ca=True, ku=CA_KEY_USAGE)
    inter = make("Legacy Intermediate", issuer=root, ca=True, ku=CA_KEY_USAGE, ns=b"\x03\x02\x00")
    leaf = make("host.example.test", issuer=inter, eku=[SA, CA_], ns=ns_value("sslServer"))
    document = endpoint_dict(analyze(observation(leaf, inter, root), context()))
    leaf_json, inter_json, root_json = document["chain"]
    assert leaf_json["ns_cert_type"] == ["sslServer"] and leaf_json["ns_cert_type_error"] is None
    assert inter_json["ns_cert_type"] is None
    assert inter_json["ns_cert_type_error"] == "nsCertType BIT STRING is truncated"
    assert root_json["ns_cert_type"] is None and root_json["ns_cert_type_error"] is None
    assert {"subject", "eku", "key_usage", "is_ca", "san", "signature_hash"} <= set(leaf_json)
    assert cert_dict(facts(ns_value()))["ns_cert_type"] == []


def test_inspect_reports_a_legacy_server_certificate(tmp_path: Path) -> None:
    """`ekuscan inspect` on an Easy-RSA 2 style server certificate: the client side breaks, said why."""
    root = make("Legacy Root", ca=True, ku=CA_KEY_USAGE)
    leaf = make("expc.example.test", issuer=root, eku=[SA, CA_], ns=ns_value("sslServer"))
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaf.pem + root.pem)
    result = subprocess.run(
        [sys.executable, "-m", "scanner", "inspect", str(chain), "--role", "expressway-c", "-f", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr  # --fail-on breaks
    (endpoint,) = json.loads(result.stdout)["endpoints"]
    assert "NS_CERT_TYPE_NO_CLIENT" in {f["code"] for f in endpoint["findings"]}
    client_links = [link for link in endpoint["links"] if link["uses"] == "client"]
    assert client_links and all(link["verdict"] == "breaks" for link in client_links)
    assert all(link["reason"] == "leaf nsCertType lacks sslClient" for link in client_links)
    assert endpoint["chain"][0]["ns_cert_type"] == ["sslServer"]
