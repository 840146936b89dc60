"""Handshake rules, driven through analyze(): CLIENT_CERT_REQUESTED."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scanner.core.analysis import analyze
from scanner.core.rules import RULES_BY_CODE
from scanner.core.trust import RootStore
from scanner.model import EffectKind, Endpoint, LinkEffect, Observation, Role, Severity, Status, Use, Verdict
from tests.conftest import context
from tests.factories import make_chain, observation
from tests.rules.scenarios import GARBAGE

CA_NAMES = ("CN=Corp Issuing CA,O=Corp", "CN=Corp Root,O=Corp")


def presented(*, requested: bool, ca_names: tuple[str, ...] = (), role: Role | None = None) -> Observation:
    root, inter, leaf = make_chain("both")
    return observation(leaf, inter, root, requested=requested, ca_names=ca_names, role=role)


def timeout() -> Observation:
    endpoint = Endpoint(target="192.0.2.10", host="192.0.2.10", ip="192.0.2.10", port=7001)
    return Observation(endpoint, Status.TIMEOUT)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(
            lambda: presented(requested=True, ca_names=CA_NAMES),
            ["server requests a client certificate (CN=Corp Issuing CA,O=Corp; CN=Corp Root,O=Corp)"],
            id="requested-with-ca-names",
        ),
        pytest.param(
            lambda: presented(requested=True),
            ["server requests a client certificate (no CA names sent)"],
            id="requested-without-ca-names",
        ),
        pytest.param(
            lambda: presented(requested=True, role=Role.SERVER),
            ["server requests a client certificate (no CA names sent)"],
            id="role-server-still-reported",
        ),
        pytest.param(
            lambda: observation(GARBAGE, requested=True),
            ["server requests a client certificate (no CA names sent)"],
            id="requested-leaf-unparseable",
        ),
        pytest.param(lambda: presented(requested=False), [], id="not-requested"),
        pytest.param(
            lambda: presented(requested=False, ca_names=CA_NAMES), [], id="ca-names-without-request-ignored"
        ),
        pytest.param(timeout, [], id="no-handshake-not-applicable"),
    ],
)
def test_client_cert_requested(build: Callable[[], Observation], expected: list[str]) -> None:
    report = analyze(build(), context())
    found = [f for f in report.findings if f.code == "CLIENT_CERT_REQUESTED"]
    assert [f.message for f in found] == expected
    for f in found:
        assert f.severity is RULES_BY_CODE["CLIENT_CERT_REQUESTED"].severity is Severity.INFO
        assert f.cert_sha256 is None  # about the server's request, not about a certificate


# --- PUBLIC_CLIENT_CA_TRUSTED ----------------------------------------------------------------

LE_R11 = "CN=R11,O=Let's Encrypt,C=US"
PRIVATE = "CN=Corp Root,O=Corp"


@pytest.mark.parametrize(
    ("requested", "names", "public"),
    [
        (True, (LE_R11,), [LE_R11]),  # a CA of the policy's public CA table
        (True, (PRIVATE, LE_R11), [LE_R11]),
        (True, ("CN=DigiCert Global Root G2,O=DigiCert Inc,OU=www.digicert.com,C=US",), "all"),
        (True, (PRIVATE,), []),
        (True, (), []),
        (False, (LE_R11,), []),  # names without a request are ignored (as CLIENT_CERT_REQUESTED does)
    ],
)
def test_public_client_ca_trusted(requested, names, public):
    report = analyze(presented(requested=requested, ca_names=names), context())
    found = [f for f in report.findings if f.code == "PUBLIC_CLIENT_CA_TRUSTED"]
    expected = list(names) if public == "all" else public
    if not expected:
        assert found == []
        return
    (finding,) = found
    assert finding.severity is RULES_BY_CODE["PUBLIC_CLIENT_CA_TRUSTED"].severity
    assert [value for key, value in finding.details if key == "public_ca"] == expected
    assert finding.breaks_on is not None and finding.breaks_on.date().isoformat() == "2027-09-30"
    # The inbound links of this listener are at risk by that day; they work today.
    server = [link for link in report.links if link.uses.value == "server"]
    assert server and all(link.verdict.value == "at-risk" for link in server)


def test_a_root_of_the_public_bundle_counts_as_public():
    root, inter, leaf = make_chain("both")
    store = RootStore.from_ders([root.der])
    cn = root.cert.subject.rfc4514_string()
    report = analyze(observation(leaf, inter, root, requested=True, ca_names=(cn,)), context(store))
    assert "PUBLIC_CLIENT_CA_TRUSTED" in [f.code for f in report.findings]
    assert "PUBLIC_CLIENT_CA_TRUSTED" not in [
        f.code
        for f in analyze(observation(leaf, inter, root, requested=True, ca_names=(cn,)), context()).findings
    ]


def test_ca_names_with_commas_are_read_whole():
    """A name is matched on its unescaped O=: "GoDaddy.com\\, Inc." is GoDaddy's organisation."""
    root, inter, leaf = make_chain("both")
    name = "CN=Example Root 9,O=GoDaddy.com\\, Inc.,L=Scottsdale,C=US"  # matched by organisation only
    report = analyze(observation(leaf, inter, root, requested=True, ca_names=(name,)), context())
    assert "PUBLIC_CLIENT_CA_TRUSTED" in [f.code for f in report.findings]


def test_public_client_ca_trusted_puts_only_server_links_at_risk():
    report = analyze(presented(requested=True, ca_names=(LE_R11,)), context())
    (finding,) = [f for f in report.findings if f.code == "PUBLIC_CLIENT_CA_TRUSTED"]
    assert finding.effect == LinkEffect(
        EffectKind.PUBLIC_CLIENT_CAS,
        frozenset({Use.SERVER}),
        "accepts client certificates from public CAs: peers lose clientAuth, all by 2027-09-30",
        finding.breaks_on,
    )
    by_use = {use: {(link.verdict, link.reason) for link in report.links if link.uses is use} for use in Use}
    assert by_use[Use.SERVER] == {(Verdict.AT_RISK, finding.effect.reason)}
    assert by_use[Use.CLIENT] == {(Verdict.OK, "chain usable for TLS client use")}


def test_client_cert_requested_has_no_effect_on_links():
    report = analyze(presented(requested=True, ca_names=CA_NAMES), context())
    assert [f.effect for f in report.findings if f.code == "CLIENT_CERT_REQUESTED"] == [None]
    assert {link.verdict for link in report.links} == {Verdict.OK}
