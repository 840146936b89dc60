"""Chain-shape, name and crypto-strength rules, driven through analyze(): SELF_SIGNED,
CHAIN_INCOMPLETE, HOSTNAME_MISMATCH, WEAK_KEY, WEAK_SIGNATURE, CERT_UNPARSEABLE.
"""

from __future__ import annotations

import dataclasses
from functools import cache

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from scanner.core.analysis import analyze
from scanner.core.certs import ParsedCert, parse_der
from scanner.core.completion import IntermediatePool
from scanner.core.intermediates import CertificateBundle
from scanner.core.trust import RootStore
from scanner.model import Role, TrustClass
from tests.conftest import context
from tests.factories import DAY, NOW, Made, make_cert, make_chain, observation
from tests.rules.scenarios import GARBAGE, Build, Scenario, flagged, messages, no_certificate


def build_chain(
    *,
    leaf: dict[str, object] | None = None,
    inter: dict[str, object] | None = None,
    root: dict[str, object] | None = None,
) -> tuple[Made, Made, Made]:
    """A chain without EKUs on the CAs; the dicts override make_cert arguments per certificate."""
    return make_chain("both", "none", "none", root_kw=root, int_kw=inter, **(leaf or {}))


def scenario(
    *presented: tuple[str, bytes],
    roots: tuple[bytes, ...] = (),
    host: str = "192.0.2.10",
    sni: str | None = None,
    port: int = 5061,
    role: Role | None = None,
) -> Scenario:
    obs = observation(*(der for _, der in presented), host=host, sni=sni, port=port, role=role)
    ctx = context(RootStore.from_ders(roots) if roots else None)
    return Scenario(obs, ctx, dict(presented))


def private(**kw: object) -> Scenario:
    r, i, leaf = build_chain(**kw)  # type: ignore[arg-type]
    return scenario(("leaf", leaf.der), ("int", i.der), ("root", r.der))


def public(**kw: object) -> Scenario:
    r, i, leaf = build_chain(**kw)  # type: ignore[arg-type]
    return scenario(("leaf", leaf.der), ("int", i.der), roots=(r.der,))


def named(
    host: str, *, dns: tuple[str, ...] = ("host.example.test",), sni: str | None = None, port: int = 5061
) -> Scenario:
    r, i, leaf = build_chain(leaf={"dns": list(dns)})
    return scenario(("leaf", leaf.der), ("int", i.der), roots=(r.der,), host=host, sni=sni, port=port)


def unparseable_leaf() -> Scenario:
    return scenario(("garbage", GARBAGE))


# --- SHA-1 signatures ------------------------------------------------------------------------
# cryptography's CertificateBuilder may refuse SHA-1. Then the certificate is built with
# SHA-256 and re-signed by hand: the sha256WithRSAEncryption AlgorithmIdentifier (in the TBS
# and outside it) becomes sha1WithRSAEncryption, which has the same length, and the TBS is
# signed with the RSA primitive. Only if cryptography cannot even do that are the cases skipped.

_SHA256_RSA = bytes.fromhex("300d06092a864886f70d01010b0500")
_SHA1_RSA = bytes.fromhex("300d06092a864886f70d0101050500")


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return bytes([tag]) + length + body


def sha1_signed(cn: str, *, signer: Made | None = None, **kw: object) -> tuple[Made, bytes]:
    """A certificate signed with SHA-1 by ``signer`` (itself when None), RSA keys; (made, DER)."""
    issuer_key = signer.key if signer else None
    try:
        made = make_cert(cn, issuer=signer, hash_alg=hashes.SHA1(), **kw)  # type: ignore[arg-type]
        return made, made.der
    except (UnsupportedAlgorithm, ValueError):
        pass
    made = make_cert(cn, issuer=signer, **kw)  # type: ignore[arg-type]
    key = issuer_key or made.key
    assert isinstance(key, rsa.RSAPrivateKey)
    tbs = made.cert.tbs_certificate_bytes
    assert tbs.count(_SHA256_RSA) == 1
    tbs = tbs.replace(_SHA256_RSA, _SHA1_RSA)
    try:
        signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    except UnsupportedAlgorithm:
        pytest.skip("this cryptography cannot sign with SHA-1 at all")
    return made, _tlv(0x30, tbs + _SHA1_RSA + _tlv(0x03, b"\x00" + signature))


@cache
def sha1_chains() -> dict[str, bytes]:
    """DERs: a SHA-1 leaf, a SHA-1 intermediate, a SHA-1 self-signed root and leaf, and SHA-256 peers."""
    root = make_cert(
        "SHA1 Root",
        ca=True,
        eku=None,
        key_kind="rsa2048",
        not_before=NOW - 1000 * DAY,
        not_after=NOW + 5000 * DAY,
    )
    root_made, root_sha1 = sha1_signed(
        "SHA1 Root",
        ca=True,
        eku=None,
        key_kind="rsa2048",
        not_before=NOW - 1000 * DAY,
        not_after=NOW + 5000 * DAY,
    )
    assert root_made.key is root.key  # the same cached RSA key: both roots sign the same children
    inter = make_cert(
        "RSA Intermediate",
        issuer=root,
        ca=True,
        eku=None,
        key_kind="rsa2048",
        not_before=NOW - 900 * DAY,
        not_after=NOW + 3000 * DAY,
    )
    _, inter_sha1 = sha1_signed(
        "RSA Intermediate",
        signer=root,
        ca=True,
        eku=None,
        key_kind="rsa2048",
        not_before=NOW - 900 * DAY,
        not_after=NOW + 3000 * DAY,
    )
    leaf = make_cert("host.example.test", issuer=inter)
    _, leaf_sha1 = sha1_signed("host.example.test", signer=inter)
    _, self_sha1 = sha1_signed("self.example.test", key_kind="rsa2048")
    for der in (root_sha1, inter_sha1, leaf_sha1, self_sha1):
        parsed = parse_der(der)
        assert isinstance(parsed, ParsedCert)
        assert parsed.facts.signature_hash == "sha1"
    return {
        "root": root.der,
        "root-sha1": root_sha1,
        "int": inter.der,
        "int-sha1": inter_sha1,
        "leaf": leaf.der,
        "leaf-sha1": leaf_sha1,
        "self-sha1": self_sha1,
    }


def sha1(*labels: str, roots: tuple[str, ...] = ()) -> Scenario:
    ders = sha1_chains()
    return scenario(*((label, ders[label]) for label in labels), roots=tuple(ders[r] for r in roots))


# --- SELF_SIGNED ------------------------------------------------------------------------------


def self_signed(**kw: object) -> Scenario:
    leaf = make_cert("self.example.test", **kw)  # type: ignore[arg-type]
    return scenario(("leaf", leaf.der))


def self_signed_in_roots() -> Scenario:
    leaf = make_cert("self.example.test")
    return scenario(("leaf", leaf.der), roots=(leaf.der,))


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(self_signed, ("leaf",), id="leaf-self-signed"),
        pytest.param(lambda: self_signed(eku=None, key_kind="rsa2048"), ("leaf",), id="leaf-self-signed-rsa"),
        pytest.param(lambda: sha1("self-sha1"), ("self-sha1",), id="leaf-self-signed-sha1"),
        pytest.param(private, (), id="private-chain"),
        pytest.param(public, (), id="public-chain"),
        pytest.param(self_signed_in_roots, (), id="self-signed-leaf-in-public-roots-is-public"),
        pytest.param(unparseable_leaf, (), id="leaf-unparseable-not-applicable"),
        pytest.param(no_certificate, (), id="no-certificate-not-applicable"),
    ],
)
def test_self_signed(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "SELF_SIGNED") == expected
    if expected:
        assert analyze(s.obs, s.ctx).trust.trust is TrustClass.SELF_SIGNED
        assert "CHAIN_INCOMPLETE" not in {f.code for f in analyze(s.obs, s.ctx).findings}


# --- CHAIN_INCOMPLETE -------------------------------------------------------------------------


def leaf_only() -> Scenario:
    _, _, leaf = build_chain()
    return scenario(("leaf", leaf.der))


def leaf_and_root() -> Scenario:
    r, _, leaf = build_chain()
    return scenario(("leaf", leaf.der), ("root", r.der))


def leaf_and_int() -> Scenario:
    _, i, leaf = build_chain()
    return scenario(("leaf", leaf.der), ("int", i.der))


def public_leaf_only() -> Scenario:
    r, _, leaf = build_chain()
    return scenario(("leaf", leaf.der), roots=(r.der,))


def public_root_also_sent() -> Scenario:
    r, i, leaf = build_chain()
    return scenario(("leaf", leaf.der), ("int", i.der), ("root", r.der), roots=(r.der,))


def shuffled_order() -> Scenario:
    r, i, leaf = build_chain()
    return scenario(("leaf", leaf.der), ("root", r.der), ("int", i.der))


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(leaf_only, ("leaf",), id="private-leaf-only"),
        pytest.param(leaf_and_root, ("leaf",), id="intermediate-missing-root-sent"),
        pytest.param(leaf_and_int, ("int",), id="private-root-neither-sent-nor-known"),
        pytest.param(public_leaf_only, ("leaf",), id="public-intermediate-not-sent"),
        pytest.param(private, (), id="private-complete-with-root"),
        pytest.param(public, (), id="public-complete"),
        pytest.param(public_root_also_sent, (), id="public-root-also-sent"),
        pytest.param(shuffled_order, (), id="out-of-order-still-links"),
        pytest.param(lambda: sha1("leaf", "int-sha1", "root"), (), id="private-sha1-intermediate-complete"),
        pytest.param(self_signed, (), id="self-signed-is-another-rule"),
        pytest.param(unparseable_leaf, (), id="leaf-unparseable-not-applicable"),
        pytest.param(no_certificate, (), id="no-certificate-not-applicable"),
    ],
)
def test_chain_incomplete(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "CHAIN_INCOMPLETE") == expected
    for message in messages(s, "CHAIN_INCOMPLETE"):
        assert "was neither sent nor found among the public roots" in message


def completed_with(pool_of: str) -> tuple[Scenario, Made]:
    """A leaf sent alone whose intermediate is in the pool: the user's bundle, or fetched."""
    r, i, leaf = build_chain()
    s = scenario(("leaf", leaf.der), roots=(r.der,))
    pool = IntermediatePool(user=CertificateBundle.of([i.der]))
    if pool_of == "fetched":
        pool = IntermediatePool().with_fetched("http://127.0.0.1:9/ca.crt", [i.der])
    return Scenario(s.obs, dataclasses.replace(s.ctx, intermediates=pool), s.certs), i


@pytest.mark.parametrize(
    ("pool_of", "says"),
    [("user", "(--intermediates)"), ("fetched", "(fetched from http://127.0.0.1:9/ca.crt)")],
)
def test_chain_incomplete_stays_when_completed_and_says_with_what(pool_of: str, says: str) -> None:
    s, inter = completed_with(pool_of)
    assert flagged(s, "CHAIN_INCOMPLETE") == ("leaf",)
    (finding,) = [f for f in analyze(s.obs, s.ctx).findings if f.code == "CHAIN_INCOMPLETE"]
    assert "The chain was completed with CN=Test Intermediate,O=Test Org " + says in finding.message
    details = dict(finding.details)
    assert details["trust_basis"] == "completed"
    assert details["completed_with"] == parse_der(inter.der).facts.sha256  # type: ignore[union-attr]
    assert details["sources"] == pool_of


def test_chain_incomplete_says_when_the_anchor_is_inferred_from_scts() -> None:
    _, i, _ = build_chain()
    leaf = make_cert("logged.example.test", issuer=i, scts=True)
    s = scenario(("leaf", leaf.der))
    (finding,) = [f for f in analyze(s.obs, s.ctx).findings if f.code == "CHAIN_INCOMPLETE"]
    assert "carries 1 embedded CT SCT, so it was publicly issued" in finding.message
    assert "the anchor inferred, not verified" in finding.message
    assert dict(finding.details) == {"trust_basis": "inferred"}


def test_chain_incomplete_names_where_the_missing_issuer_is_published() -> None:
    _, i, _ = build_chain()
    leaf = make_cert("host.example.test", issuer=i, ca_issuers=["http://127.0.0.1:9/ca.crt"])
    (message,) = messages(scenario(("leaf", leaf.der)), "CHAIN_INCOMPLETE")
    assert message.endswith("; its certificate is published at http://127.0.0.1:9/ca.crt")


# --- HOSTNAME_MISMATCH ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: named("other.example.test"), ("leaf",), id="dns-host-not-in-san"),
        pytest.param(
            lambda: named("192.0.2.10", sni="other.example.test"), ("leaf",), id="ip-host-with-sni-mismatch"
        ),
        pytest.param(
            lambda: named("a.b.example.test", dns=("*.example.test",)),
            ("leaf",),
            id="wildcard-one-label-only",
        ),
        pytest.param(
            lambda: named("example.test", dns=("*.example.test",)), ("leaf",), id="wildcard-not-the-apex"
        ),
        pytest.param(lambda: named("host.example.test", dns=()), ("leaf",), id="no-san-at-all"),
        pytest.param(lambda: named("host.example.test"), (), id="dns-host-in-san"),
        pytest.param(lambda: named("HOST.Example.Test."), (), id="case-and-trailing-dot"),
        pytest.param(lambda: named("x.example.test", dns=("*.example.test",)), (), id="wildcard-match"),
        pytest.param(
            lambda: named("192.0.2.10", sni="host.example.test"), (), id="ip-host-with-matching-sni"
        ),
        pytest.param(lambda: named("192.0.2.10"), (), id="ip-host-without-sni-not-applicable"),
        pytest.param(
            lambda: named("other.example.test", port=0), (), id="file-port-0-without-sni-not-applicable"
        ),
        pytest.param(unparseable_leaf, (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_hostname_mismatch(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "HOSTNAME_MISMATCH") == expected
    for message in messages(s, "HOSTNAME_MISMATCH"):
        assert "is not in the certificate's names" in message


# --- WEAK_KEY -----------------------------------------------------------------------------------


def p192_leaf() -> Scenario:
    try:
        return private(leaf={"key_kind": "ec-p192"})
    except (UnsupportedAlgorithm, ValueError):
        pytest.skip("this cryptography cannot generate or sign with EC P-192 keys")


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: private(leaf={"key_kind": "rsa1024"}), ("leaf",), id="leaf-rsa1024"),
        pytest.param(p192_leaf, ("leaf",), id="leaf-ec-p192"),
        pytest.param(lambda: public(leaf={"key_kind": "rsa1024"}), ("leaf",), id="public-leaf-rsa1024"),
        pytest.param(lambda: private(inter={"key_kind": "rsa1024"}), ("int",), id="int-rsa1024"),
        pytest.param(lambda: self_signed(key_kind="rsa1024"), ("leaf",), id="self-signed-rsa1024"),
        pytest.param(private, (), id="private-ec-p256"),
        pytest.param(lambda: private(leaf={"key_kind": "rsa2048"}), (), id="leaf-rsa2048"),
        pytest.param(lambda: private(leaf={"key_kind": "ec-p384"}), (), id="leaf-ec-p384"),
        pytest.param(unparseable_leaf, (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_weak_key(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "WEAK_KEY") == expected
    for message in messages(s, "WEAK_KEY"):
        assert "RSA 1024-bit key" in message or "EC 192-bit key" in message


# --- WEAK_SIGNATURE -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: sha1("leaf-sha1", "int", "root"), ("leaf-sha1",), id="leaf-sha1"),
        pytest.param(lambda: sha1("leaf", "int-sha1", "root"), ("int-sha1",), id="int-sha1"),
        pytest.param(lambda: sha1("self-sha1"), ("self-sha1",), id="self-signed-leaf-sha1"),
        pytest.param(lambda: sha1("leaf", "int", "root"), (), id="private-sha256-rsa"),
        pytest.param(private, (), id="private-sha256-ec"),
        pytest.param(lambda: sha1("leaf", "int", "root-sha1"), (), id="self-signed-sha1-root-at-index-2"),
        pytest.param(unparseable_leaf, (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_weak_signature(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "WEAK_SIGNATURE") == expected
    for message in messages(s, "WEAK_SIGNATURE"):
        assert message.endswith("is signed with SHA1")


def test_sha1_root_is_on_the_path_it_is_exempted_from() -> None:
    """The root exemption is only meaningful if the SHA-1 root really is part of the judged path."""
    s = sha1("leaf", "int", "root-sha1")
    report = analyze(s.obs, s.ctx)
    assert report.trust.path == (0, 1, 2)
    assert report.trust.complete


# --- CERT_UNPARSEABLE -------------------------------------------------------------------------------


def garbage_after_leaf() -> Scenario:
    r, i, leaf = build_chain()
    return scenario(("leaf", leaf.der), ("int", i.der), ("garbage", GARBAGE), ("root", r.der))


def truncated_leaf() -> Scenario:
    _, i, leaf = build_chain()
    return scenario(("truncated", leaf.der[:-20]), ("int", i.der))


def empty_eku_leaf() -> Scenario:
    r, i, leaf = build_chain(leaf={"eku": []})
    return scenario(("leaf", leaf.der), ("int", i.der), ("root", r.der))


def empty_chain() -> Scenario:
    return scenario()


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(unparseable_leaf, ("garbage",), id="garbage-leaf"),
        pytest.param(garbage_after_leaf, ("garbage",), id="garbage-at-index-2"),
        pytest.param(truncated_leaf, ("truncated",), id="truncated-der-leaf"),
        pytest.param(empty_eku_leaf, ("leaf",), id="empty-eku-extension"),
        pytest.param(private, (), id="private-chain"),
        pytest.param(public, (), id="public-chain"),
        pytest.param(empty_chain, (), id="no-certificate-presented"),
        pytest.param(no_certificate, (), id="timeout-not-applicable"),
    ],
)
def test_cert_unparseable(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "CERT_UNPARSEABLE") == expected
    index = {label: i for i, label in enumerate(s.certs)}
    found = messages(s, "CERT_UNPARSEABLE")
    assert len(found) == len(expected)
    for message, label in zip(found, expected, strict=True):
        assert message.startswith(f"certificate #{index[label]} cannot be parsed: ")


def test_unparseable_leaf_makes_links_unknown() -> None:
    s = unparseable_leaf()
    report = analyze(s.obs, s.ctx)
    assert report.links
    assert {link.verdict.value for link in report.links} == {"unknown"}
    assert {link.reason for link in report.links} == {"the leaf certificate cannot be parsed"}
    assert report.leaf is None
