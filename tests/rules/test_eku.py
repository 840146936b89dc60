"""EKU rules, driven through analyze(): EKU_NO_CLIENTAUTH, EKU_NO_SERVERAUTH, EKU_ABSENT,
CHAIN_EKU_NO_CLIENTAUTH, CHAIN_EKU_NO_SERVERAUTH, KEY_USAGE_MISMATCH, CLIENTAUTH_SUNSET.

Each rule has one parametrized test whose cases say which certificates (by label) the rule
flags: an empty tuple means the rule must stay silent, either because the chain is fine or
because the rule does not apply (role, policy, no parsable leaf).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography import x509

from scanner.core.analysis import analyze
from scanner.core.certs import ParsedCert, parse_der, split_certificates
from scanner.core.policy import POLICY_SCHEMA
from scanner.core.policy_schema import parse_policy
from scanner.core.rules import RULES_BY_CODE, ChainUnderTest, RuleContext, evaluate
from scanner.core.rules._engine import day
from scanner.core.trust import RootStore
from scanner.core.usage import usability
from scanner.model import CertFacts, EffectKind, LinkEffect, Role, TrustClass, TrustResult, Use, Verdict
from tests.conftest import context
from tests.factories import DAY, NOW, make_cert, make_chain, observation
from tests.rules.scenarios import GARBAGE, Build, Scenario, flagged, messages

MS_SGC = x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3")

# A policy in which expressway-c only ever dials out: no server use at all.
CLIENT_ONLY_POLICY = parse_policy(
    {
        "schema": POLICY_SCHEMA,
        "links": [{"role": "expressway-c", "name": "traversal-zone", "uses": "client", "ports": [7001]}],
    }
)


def chain(
    leaf_eku: object = "both",
    int_eku: str = "none",
    root_eku: str = "none",
    *,
    public: bool = False,
    role: Role | None = None,
    client_only: bool = False,
    **leaf_kw: object,
) -> Scenario:
    """root -> intermediate -> leaf; private chains present the root, public ones rely on the store."""
    root, inter, leaf = make_chain(leaf_eku, int_eku, root_eku, **leaf_kw)  # type: ignore[arg-type]
    if public:
        obs = observation(leaf, inter, role=role)
        ctx = context(RootStore.from_ders([root.der]))
    else:
        obs = observation(leaf, inter, root, role=role)
        ctx = context()
    if client_only:
        ctx = dataclasses.replace(ctx, policy=CLIENT_ONLY_POLICY)
    return Scenario(obs, ctx, {"leaf": leaf.der, "int": inter.der, "root": root.der})


def self_signed(eku: object = "both", **kw: object) -> Scenario:
    leaf = make_cert("self.example.test", eku=eku, **kw)  # type: ignore[arg-type]
    return Scenario(observation(leaf), context(), {"leaf": leaf.der})


def unparseable_leaf(role: Role | None = None) -> Scenario:
    return Scenario(observation(GARBAGE, role=role), context(), {"garbage": GARBAGE})


# --- EKU_NO_CLIENTAUTH -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain("serverAuth"), ("leaf",), id="leaf-serverAuth-only"),
        pytest.param(lambda: chain("serverAuth", public=True), ("leaf",), id="public-leaf-serverAuth-only"),
        pytest.param(lambda: chain("anyEKU"), ("leaf",), id="leaf-anyEKU-only-is-not-clientAuth"),
        pytest.param(
            lambda: chain("serverAuth", role=Role.EXPRESSWAY_C), ("leaf",), id="role-expressway-c-applies"
        ),
        pytest.param(
            lambda: chain("serverAuth", role=Role.EXPRESSWAY_E), ("leaf",), id="role-expressway-e-applies"
        ),
        pytest.param(lambda: chain("serverAuth", role=Role.CUCM), ("leaf",), id="role-cucm-applies"),
        pytest.param(lambda: chain("serverAuth", role=Role.CUBE), ("leaf",), id="role-cube-applies"),
        pytest.param(lambda: self_signed("serverAuth"), ("leaf",), id="self-signed-serverAuth-only"),
        pytest.param(lambda: chain("both"), (), id="private-both"),
        pytest.param(lambda: chain("both", public=True), (), id="public-both"),
        pytest.param(lambda: chain("clientAuth"), (), id="leaf-clientAuth-only"),
        pytest.param(lambda: chain("none"), (), id="leaf-no-eku"),
        pytest.param(lambda: chain("both", "serverAuth"), (), id="int-serverAuth-is-another-rule"),
        pytest.param(lambda: chain("serverAuth", role=Role.SERVER), (), id="role-server-not-applicable"),
        pytest.param(lambda: unparseable_leaf(Role.EXPRESSWAY_C), (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_eku_no_clientauth(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "EKU_NO_CLIENTAUTH") == expected
    for message in messages(s, "EKU_NO_CLIENTAUTH"):
        assert "no clientAuth" in message


# --- EKU_NO_SERVERAUTH -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain("clientAuth"), ("leaf",), id="leaf-clientAuth-only"),
        pytest.param(lambda: chain("anyEKU"), ("leaf",), id="leaf-anyEKU-only-is-not-serverAuth"),
        pytest.param(lambda: chain("clientAuth", role=Role.SERVER), ("leaf",), id="role-server-applies"),
        pytest.param(lambda: chain("clientAuth", public=True), ("leaf",), id="public-leaf-clientAuth-only"),
        pytest.param(lambda: chain("both"), (), id="private-both"),
        pytest.param(lambda: chain("serverAuth"), (), id="leaf-serverAuth-only"),
        pytest.param(lambda: chain("none"), (), id="leaf-no-eku"),
        pytest.param(lambda: chain([MS_SGC]), (), id="leaf-msSGC-counts-as-serverAuth"),
        pytest.param(lambda: chain("both", "clientAuth"), (), id="int-clientAuth-is-another-rule"),
        pytest.param(
            lambda: chain("clientAuth", role=Role.EXPRESSWAY_C, client_only=True),
            (),
            id="client-only-policy-not-applicable",
        ),
        pytest.param(lambda: unparseable_leaf(), (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_eku_no_serverauth(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "EKU_NO_SERVERAUTH") == expected
    for message in messages(s, "EKU_NO_SERVERAUTH"):
        assert "no serverAuth" in message


# --- EKU_ABSENT ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain("none"), ("leaf",), id="leaf-no-eku"),
        pytest.param(lambda: chain("none", public=True), ("leaf",), id="public-leaf-no-eku"),
        pytest.param(lambda: self_signed(None), ("leaf",), id="self-signed-no-eku"),
        pytest.param(lambda: chain("none", role=Role.SERVER), ("leaf",), id="role-server-still-reported"),
        pytest.param(lambda: chain("both"), (), id="private-both-int-without-eku-does-not-count"),
        pytest.param(lambda: chain("serverAuth"), (), id="leaf-serverAuth-only"),
        pytest.param(lambda: chain("anyEKU"), (), id="leaf-anyEKU-is-an-extension"),
        pytest.param(lambda: unparseable_leaf(), (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_eku_absent(build: Build, expected: tuple[str, ...]) -> None:
    assert flagged(build(), "EKU_ABSENT") == expected


# --- CHAIN_EKU_NO_CLIENTAUTH ------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain("both", "serverAuth"), ("int",), id="private-int-serverAuth"),
        pytest.param(lambda: chain("both", "serverAuth", public=True), ("int",), id="public-int-serverAuth"),
        pytest.param(lambda: chain("both", "anyEKU"), ("int",), id="int-anyEKU-is-not-clientAuth"),
        pytest.param(lambda: chain("both", "none", "serverAuth"), ("root",), id="presented-root-serverAuth"),
        pytest.param(
            lambda: chain("both", "serverAuth", "serverAuth"), ("int", "root"), id="int-and-root-serverAuth"
        ),
        pytest.param(
            lambda: chain("both", "serverAuth", role=Role.EXPRESSWAY_C),
            ("int",),
            id="role-expressway-c-applies",
        ),
        pytest.param(lambda: chain("both", "none"), (), id="private-both-int-no-eku"),
        pytest.param(lambda: chain("both", "both"), (), id="int-both"),
        pytest.param(lambda: chain("both", "clientAuth"), (), id="int-clientAuth-only"),
        pytest.param(lambda: chain("serverAuth", "none"), (), id="leaf-serverAuth-is-another-rule"),
        pytest.param(
            lambda: chain("both", "serverAuth", role=Role.SERVER), (), id="role-server-not-applicable"
        ),
        pytest.param(lambda: unparseable_leaf(), (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_chain_eku_no_clientauth(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "CHAIN_EKU_NO_CLIENTAUTH") == expected
    for message in messages(s, "CHAIN_EKU_NO_CLIENTAUTH"):
        assert "no clientAuth" in message


@pytest.mark.parametrize(
    ("root_eku", "code", "expected"),
    [
        pytest.param("serverAuth", "CHAIN_EKU_NO_CLIENTAUTH", True, id="public-root-not-sent-serverAuth"),
        pytest.param("clientAuth", "CHAIN_EKU_NO_SERVERAUTH", True, id="public-root-not-sent-clientAuth"),
        pytest.param("both", "CHAIN_EKU_NO_CLIENTAUTH", False, id="public-root-not-sent-both-client"),
        pytest.param("both", "CHAIN_EKU_NO_SERVERAUTH", False, id="public-root-not-sent-both-server"),
    ],
)
def test_chain_eku_rules_cover_the_public_anchor(root_eku: str, code: str, expected: bool) -> None:
    """A public root from the bundle (not sent by the server) whose EKU lacks the usage blocks the
    links in OpenSSL, and the engine's usability already says so; the chain-EKU rule must explain it."""
    root, inter, leaf = make_chain("both", "none", root_eku)
    report = analyze(observation(leaf, inter, role=Role.EXPRESSWAY), context(RootStore.from_ders([root.der])))
    assert report.trust.anchor_eku is not None
    assert (report.verdict is Verdict.BREAKS) is expected
    assert (code in {f.code for f in report.findings}) is expected


# --- CHAIN_EKU_NO_SERVERAUTH ------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain("both", "clientAuth"), ("int",), id="int-clientAuth-only"),
        pytest.param(lambda: chain("both", "anyEKU"), ("int",), id="int-anyEKU-is-not-serverAuth"),
        pytest.param(lambda: chain("both", "none", "clientAuth"), ("root",), id="presented-root-clientAuth"),
        pytest.param(
            lambda: chain("both", "clientAuth", role=Role.SERVER), ("int",), id="role-server-applies"
        ),
        pytest.param(lambda: chain("both", "none"), (), id="private-both-int-no-eku"),
        pytest.param(lambda: chain("both", "serverAuth"), (), id="int-serverAuth"),
        pytest.param(lambda: chain("both", "both"), (), id="int-both"),
        pytest.param(
            lambda: chain("both", "clientAuth", role=Role.EXPRESSWAY_C, client_only=True),
            (),
            id="client-only-policy-not-applicable",
        ),
        pytest.param(lambda: unparseable_leaf(), (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_chain_eku_no_serverauth(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "CHAIN_EKU_NO_SERVERAUTH") == expected
    for message in messages(s, "CHAIN_EKU_NO_SERVERAUTH"):
        assert "no serverAuth" in message


# --- KEY_USAGE_MISMATCH -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "uses"),
    [
        pytest.param(
            lambda: chain("both", key_usage="keyCertSign-only"),
            ("client", "server"),
            id="leaf-keyCertSign-only",
        ),
        pytest.param(
            lambda: chain("both", key_usage="keyCertSign-only", public=True),
            ("client", "server"),
            id="public-leaf-keyCertSign-only",
        ),
        pytest.param(lambda: chain("both"), (), id="leaf-digitalSignature-keyEncipherment"),
        pytest.param(lambda: chain("both", key_usage=None), (), id="leaf-no-keyUsage"),
        pytest.param(
            lambda: chain("both", key_usage="keyCertSign-only", role=Role.SERVER),
            ("server",),
            id="role-server-client-use-not-applicable",
        ),
        pytest.param(
            lambda: chain("both", key_usage="keyCertSign-only", role=Role.EXPRESSWAY_C, client_only=True),
            ("client",),
            id="client-only-policy-server-use-not-applicable",
        ),
        pytest.param(lambda: unparseable_leaf(), (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_key_usage_mismatch(build: Build, uses: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "KEY_USAGE_MISMATCH") == ("leaf",) * len(uses)
    found = messages(s, "KEY_USAGE_MISMATCH")
    assert [next(u for u in ("client", "server") if f"TLS {u} use" in m) for m in found] == list(uses)
    for message in found:
        assert "keyCertSign" in message


# --- CLIENTAUTH_SUNSET ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain("both", public=True), ("leaf",), id="public-both"),
        pytest.param(lambda: chain("clientAuth", public=True), ("leaf",), id="public-clientAuth-only"),
        pytest.param(lambda: chain("none", public=True), ("leaf",), id="public-leaf-no-eku"),
        pytest.param(
            lambda: chain("both", public=True, role=Role.EXPRESSWAY_C),
            ("leaf",),
            id="role-expressway-c-applies",
        ),
        pytest.param(lambda: chain("both"), (), id="private-both"),
        pytest.param(lambda: self_signed("both"), (), id="self-signed-both"),
        pytest.param(
            lambda: chain("serverAuth", public=True), (), id="public-serverAuth-only-already-broken"
        ),
        pytest.param(
            lambda: chain("both", "serverAuth", public=True), (), id="public-int-serverAuth-already-broken"
        ),
        pytest.param(lambda: chain("both", public=True, not_after=NOW - DAY), (), id="public-both-expired"),
        pytest.param(
            lambda: chain("both", public=True, role=Role.SERVER), (), id="role-server-not-applicable"
        ),
        pytest.param(lambda: unparseable_leaf(), (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_clientauth_sunset(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "CLIENTAUTH_SUNSET") == expected
    if expected:
        leaf = parse_der(s.certs["leaf"])
        assert isinstance(leaf, ParsedCert)
        (message,) = messages(s, "CLIENTAUTH_SUNSET")
        assert f"at the latest on {day(leaf.facts.not_after)}" in message
        assert "from 2027-03-15 (Chrome's rule for the CAs of its root store)" in message
        assert "Test Org" in message  # the issuer's organization


def test_clientauth_sunset_stops_once_the_evaluation_time_passes_not_after() -> None:
    s = chain("both", public=True)
    leaf = parse_der(s.certs["leaf"])
    assert isinstance(leaf, ParsedCert)
    assert flagged(s, "CLIENTAUTH_SUNSET") == ("leaf",)
    later = dataclasses.replace(s, ctx=dataclasses.replace(s.ctx, now=leaf.facts.not_after + DAY))
    assert flagged(later, "CLIENTAUTH_SUNSET") == ()


# --- EKU_NO_CLIENTAUTH by role ------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "applies"),
    [
        pytest.param(Role.SERVER, False, id="role-server-not-applicable"),
        pytest.param(Role.EXPRESSWAY_C, True, id="role-expressway-c"),
        pytest.param(Role.EXPRESSWAY_E, True, id="role-expressway-e"),
        pytest.param(Role.EXPRESSWAY, True, id="role-expressway"),
        pytest.param(Role.CUCM, True, id="role-cucm"),
        pytest.param(Role.CUBE, True, id="role-cube"),
        pytest.param(None, True, id="role-unset-defaults-to-expressway"),
    ],
)
def test_eku_no_clientauth_depends_on_role(role: Role | None, applies: bool) -> None:
    s = chain("serverAuth", role=role)
    report = analyze(s.obs, s.ctx)
    assert ("EKU_NO_CLIENTAUTH" in {f.code for f in report.findings}) is applies
    assert any(link.uses is Use.CLIENT for link in report.links) is applies
    # the server side is judged whatever the role
    assert "EKU_NO_SERVERAUTH" not in {f.code for f in report.findings}


# --- real public intermediates ---------------------------------------------------------------


def real_facts(directory: Path, name: str) -> CertFacts:
    (der,) = split_certificates((directory / name).read_bytes())
    parsed = parse_der(der)
    assert isinstance(parsed, ParsedCert), name
    return parsed.facts


REAL_INTERMEDIATES = [
    pytest.param("letsencrypt-yr1.pem", ("serverAuth",), False, id="letsencrypt-yr1-serverAuth-only"),
    pytest.param("letsencrypt-ye1.pem", ("serverAuth",), False, id="letsencrypt-ye1-serverAuth-only"),
    pytest.param("letsencrypt-r11.pem", ("clientAuth", "serverAuth"), True, id="letsencrypt-r11-both"),
    pytest.param(
        "digicert-global-g2-tls-rsa-sha256-2020-ca1.pem",
        ("serverAuth", "clientAuth"),
        True,
        id="digicert-both",
    ),
    pytest.param("hydrantid-server-ca-o1.pem", ("serverAuth", "clientAuth"), True, id="hydrantid-both"),
    pytest.param("godaddy-secure-ca-g2.pem", None, True, id="godaddy-no-eku"),
]


@pytest.mark.parametrize(("name", "eku", "client_ok"), REAL_INTERMEDIATES)
def test_real_intermediate_usability(
    realcerts: Path, name: str, eku: tuple[str, ...] | None, client_ok: bool
):
    inter = real_facts(realcerts, name)
    assert inter.is_ca
    assert inter.eku == eku
    leaf = parse_der(make_cert("host.example.test", eku="both").der)
    assert isinstance(leaf, ParsedCert)
    path = (leaf.facts, inter)
    client = usability(path, Use.CLIENT)
    assert client.usable is client_ok
    assert client.blocking_cas == (() if client_ok else (inter.subject,))
    assert client.leaf_eku_ok
    # every one of them still allows server use
    assert usability(path, Use.SERVER).usable


@pytest.mark.parametrize(("name", "eku", "client_ok"), REAL_INTERMEDIATES)
def test_real_intermediate_chain_eku_no_clientauth(
    realcerts: Path, name: str, eku: tuple[str, ...] | None, client_ok: bool
) -> None:
    """The rule itself over a path leaf -> real intermediate (the link is asserted, not signed)."""
    inter = real_facts(realcerts, name)
    leaf = parse_der(make_cert("host.example.test", eku="both").der)
    assert isinstance(leaf, ParsedCert)
    path = (leaf.facts, inter)
    chain_under_test = ChainUnderTest(
        presented=path,
        path=path,
        trust=TrustResult(TrustClass.PUBLIC, anchor="(root)", complete=True, path=(0, 1)),
        client=usability(path, Use.CLIENT),
        server=usability(path, Use.SERVER),
    )
    ctx = RuleContext(now=NOW, warn=30 * DAY, role=Role.EXPRESSWAY_C, uses=frozenset(Use))
    findings = evaluate(chain_under_test, ctx, [RULES_BY_CODE["CHAIN_EKU_NO_CLIENTAUTH"]])
    assert [f.cert_sha256 for f in findings] == ([] if client_ok else [inter.sha256])
    server_only = dataclasses.replace(ctx, role=Role.SERVER, uses=frozenset({Use.SERVER}))
    assert evaluate(chain_under_test, server_only, [RULES_BY_CODE["CHAIN_EKU_NO_CLIENTAUTH"]]) == ()


def test_unlinked_real_intermediate_is_not_judged(realcerts: Path) -> None:
    """YR1 sent after a leaf it did not sign is not on the path: chain incomplete, no chain-EKU finding."""
    yr1 = (realcerts / "letsencrypt-yr1.pem").read_bytes()
    (yr1_der,) = split_certificates(yr1)
    _root, _inter, leaf = make_chain("both")
    report = analyze(observation(leaf, yr1_der), context())
    assert report.trust.path == (0,)
    codes = {f.code for f in report.findings}
    assert "CHAIN_INCOMPLETE" in codes
    assert "CHAIN_EKU_NO_CLIENTAUTH" not in codes


# --- the effects these rules have on the links ------------------------------------------------


def test_clientauth_sunset_puts_only_client_links_at_risk_until_the_paths_first_expiry() -> None:
    """The finding's date is the leaf's notAfter; the links' date is the earliest of the path."""
    root, inter, leaf = make_chain("both", int_kw={"not_after": NOW + 100 * DAY})
    report = analyze(
        observation(leaf, inter, role=Role.EXPRESSWAY_C), context(RootStore.from_ders([root.der]))
    )
    (sunset,) = [f for f in report.findings if f.code == "CLIENTAUTH_SUNSET"]
    leaf_end = leaf.cert.not_valid_after_utc
    assert sunset.breaks_on == leaf_end
    assert sunset.effect == LinkEffect(
        EffectKind.CLIENTAUTH_SUNSET,
        frozenset({Use.CLIENT}),
        f"public certificate carries clientAuth until {day(leaf_end)}; renewals from 2027-03-15 will not",
        NOW + 100 * DAY,
    )
    client = {(link.verdict, link.reason, link.breaks_on) for link in report.links if link.uses is Use.CLIENT}
    assert client == {(Verdict.AT_RISK, sunset.effect.reason, NOW + 100 * DAY)}
    assert {link.verdict for link in report.links if link.uses is Use.SERVER} == {Verdict.OK}


def test_clientauth_sunset_without_a_cutoff_says_the_replacement_will_not() -> None:
    _root, inter, leaf = make_chain("both")
    parsed = [parse_der(c.der) for c in (leaf, inter)]
    path = tuple(p.facts for p in parsed if isinstance(p, ParsedCert))
    chain_under_test = ChainUnderTest(
        presented=path,
        path=path,
        trust=TrustResult(TrustClass.PUBLIC, anchor="(root)", complete=True, path=(0, 1)),
        client=usability(path, Use.CLIENT),
        server=usability(path, Use.SERVER),
    )
    ctx = RuleContext(now=NOW, warn=30 * DAY, role=Role.EXPRESSWAY_C, uses=frozenset(Use), policy=None)
    (finding,) = evaluate(chain_under_test, ctx, [RULES_BY_CODE["CLIENTAUTH_SUNSET"]])
    assert finding.details == ()
    assert finding.effect is not None
    assert finding.effect.reason == (
        f"public certificate carries clientAuth until {day(path[0].not_after)}; its replacement will not"
    )
    assert finding.effect.breaks_on == path[0].not_after


@pytest.mark.parametrize(
    ("leaf_eku", "int_eku", "codes"),
    [
        pytest.param("serverAuth", "none", {"EKU_NO_CLIENTAUTH"}, id="leaf-serverAuth-only"),
        pytest.param("both", "serverAuth", {"CHAIN_EKU_NO_CLIENTAUTH"}, id="int-serverAuth-only"),
        pytest.param("clientAuth", "none", {"EKU_NO_SERVERAUTH"}, id="leaf-clientAuth-only"),
    ],
)
def test_usage_findings_carry_no_effect_the_usability_does(
    leaf_eku: str, int_eku: str, codes: set[str]
) -> None:
    """A missing usage breaks links through usage.py's Usability (which judges every link, the
    generic tls-server one too), not through these findings."""
    s = chain(leaf_eku, int_eku)
    report = analyze(s.obs, s.ctx)
    found = [f for f in report.findings if f.code in codes]
    assert {f.code for f in found} == codes
    assert all(f.effect is None for f in found)
    assert Verdict.BREAKS in {link.verdict for link in report.links}


def test_a_client_only_role_still_judges_its_generic_server_link() -> None:
    """No server link in the policy, so no server rule runs; the tls-server link still breaks."""
    s = chain("clientAuth", client_only=True, role=Role.EXPRESSWAY_C)
    report = analyze(s.obs, s.ctx)
    assert "EKU_NO_SERVERAUTH" not in {f.code for f in report.findings}
    server = [(link.name, link.verdict, link.reason) for link in report.links if link.uses is Use.SERVER]
    assert server == [("tls-server", Verdict.BREAKS, "leaf EKU lacks serverAuth")]
