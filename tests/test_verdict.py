"""Link verdicts and the endpoint verdict, table-driven from the packaged policy.

The expected link names come from the policy data (``links_for(role)``), never from a list
written here: server links whose ports include the endpoint's port (or that name no port),
the generic ``tls-server`` link when none does, and every client link of the role. A client
link that names a service (CUCM) is judged only where that service's server links listen;
probed alone elsewhere, it is listed as unseen (``unknown``), never judged on this certificate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest

from scanner.core.analysis import AnalysisContext, analyze
from scanner.core.policy import GENERIC_SERVER_LINK
from scanner.core.trust import RootStore
from scanner.core.verdict import worst
from scanner.edge.files import load_packaged_policy
from scanner.model import Endpoint, EndpointReport, Observation, Role, Status, Use, Verdict
from tests.conftest import context
from tests.factories import DAY, NOW, make_chain, observation

POLICY = load_packaged_policy()
ROLES = [Role.EXPRESSWAY_C, Role.EXPRESSWAY_E, Role.EXPRESSWAY, Role.CUCM, Role.CUBE, Role.SERVER]
PORTS = [5061, 7001, 9443]  # SIP TLS, traversal, a port no link names
# Worst first; written out here rather than taken from Verdict.rank.
SEVERITY_ORDER = [Verdict.BREAKS, Verdict.AT_RISK, Verdict.OK, Verdict.UNKNOWN]
LEAF_END = NOW + 300 * DAY  # the factories' default leaf notAfter


def expected_links(role: Role, port: int) -> tuple[list[str], list[str]]:
    """Server links and judged client links; ``unseen_links`` gives the rest of the client links."""
    links = POLICY.links_for(role)
    server = [s.name for s in links if s.uses is Use.SERVER and (port in s.ports or not s.ports)]
    client = [s.name for s in links if s.uses is Use.CLIENT and s.name not in unseen_links(role, port)]
    return server or [GENERIC_SERVER_LINK], client


def unseen_links(role: Role, port: int) -> list[str]:
    links = POLICY.links_for(role)
    shown = {s.service for s in links if s.uses is Use.SERVER and (port in s.ports or not s.ports)}
    client = [s for s in links if s.uses is Use.CLIENT]
    return [s.name for s in client if s.service is not None and s.service not in shown]


@dataclass(frozen=True)
class Situation:
    build: Callable[[Role, int], tuple[Observation, AnalysisContext]]
    server: Verdict
    client: Verdict
    server_breaks_on: datetime | None
    client_breaks_on: datetime | None


def private(
    leaf_eku: str = "both", **leaf_kw: object
) -> Callable[[Role, int], tuple[Observation, AnalysisContext]]:
    def build(role: Role, port: int) -> tuple[Observation, AnalysisContext]:
        root, inter, leaf = make_chain(leaf_eku, **leaf_kw)  # type: ignore[arg-type]
        return observation(leaf, inter, root, role=role, port=port), context()

    return build


def public(
    leaf_eku: str = "both", **leaf_kw: object
) -> Callable[[Role, int], tuple[Observation, AnalysisContext]]:
    def build(role: Role, port: int) -> tuple[Observation, AnalysisContext]:
        root, inter, leaf = make_chain(leaf_eku, **leaf_kw)  # type: ignore[arg-type]
        return observation(leaf, inter, role=role, port=port), context(RootStore.from_ders([root.der]))

    return build


def no_certificate(role: Role, port: int) -> tuple[Observation, AnalysisContext]:
    endpoint = Endpoint(target="192.0.2.10", host="192.0.2.10", ip="192.0.2.10", port=port, role=role)
    return Observation(endpoint, Status.TIMEOUT, error="timed out"), context()


OK, UNKNOWN, AT_RISK, BREAKS = Verdict.OK, Verdict.UNKNOWN, Verdict.AT_RISK, Verdict.BREAKS
SITUATIONS = {
    "private-both": Situation(private("both"), OK, OK, None, None),
    "public-serverAuth-only": Situation(public("serverAuth"), OK, BREAKS, None, NOW),
    "public-both": Situation(public("both"), OK, AT_RISK, None, LEAF_END),
    "expired": Situation(private("both", not_after=NOW - DAY), BREAKS, BREAKS, NOW - DAY, NOW - DAY),
    "public-expired": Situation(public("both", not_after=NOW - DAY), BREAKS, BREAKS, NOW - DAY, NOW - DAY),
    "expiring-in-10-days": Situation(
        private("both", not_after=NOW + 10 * DAY), AT_RISK, AT_RISK, NOW + 10 * DAY, NOW + 10 * DAY
    ),
    "not-yet-valid": Situation(private("both", not_before=NOW + DAY), BREAKS, BREAKS, NOW, NOW),
    "no-certificate-timeout": Situation(no_certificate, UNKNOWN, UNKNOWN, None, None),
}


def _links(report: EndpointReport, use: Use) -> list[tuple[str, Verdict, datetime | None]]:
    return [(link.name, link.verdict, link.breaks_on) for link in report.links if link.uses is use]


@pytest.mark.parametrize("port", PORTS, ids=lambda p: f"port-{p}")
@pytest.mark.parametrize("role", ROLES, ids=lambda r: f"role-{r.value}")
@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_link_verdicts(situation: str, role: Role, port: int) -> None:
    s = SITUATIONS[situation]
    obs, ctx = s.build(role, port)
    report = analyze(obs, ctx)
    server_names, client_names = expected_links(role, port)
    unseen = unseen_links(role, port)

    assert report.role is role
    assert len(report.links) == len(server_names) + len(client_names) + len(unseen)
    assert sorted(_links(report, Use.SERVER)) == sorted(
        (n, s.server, s.server_breaks_on) for n in server_names
    )
    assert sorted(_links(report, Use.CLIENT)) == sorted(
        [(n, s.client, s.client_breaks_on) for n in client_names] + [(n, UNKNOWN, None) for n in unseen]
    )
    for link in report.links:
        assert link.reason

    sides = [s.server] + ([s.client] if client_names else [])
    assert report.verdict is min(sides, key=SEVERITY_ORDER.index)
    dates = [d for d in (s.server_breaks_on, s.client_breaks_on if client_names else None) if d is not None]
    assert report.breaks_on == (min(dates) if dates else None)


@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_role_server_has_no_client_links(situation: str) -> None:
    obs, ctx = SITUATIONS[situation].build(Role.SERVER, 443)
    report = analyze(obs, ctx)
    assert [link.name for link in report.links] == [GENERIC_SERVER_LINK]
    assert all(link.uses is Use.SERVER for link in report.links)


@pytest.mark.parametrize("role", [r for r in ROLES if r is not Role.SERVER], ids=lambda r: f"role-{r.value}")
def test_other_roles_have_client_links(role: Role) -> None:
    """Guards the table above: without client links the client expectations would check nothing."""
    assert expected_links(role, 5061)[1]


def test_no_certificate_reason() -> None:
    obs, ctx = no_certificate(Role.EXPRESSWAY_C, 7001)
    report = analyze(obs, ctx)
    assert {link.reason for link in report.links} == {"no certificate: timeout"}
    assert report.verdict is Verdict.UNKNOWN
    assert report.breaks_on is None


def test_public_serverauth_only_reason_names_the_missing_eku() -> None:
    obs, ctx = public("serverAuth")(Role.EXPRESSWAY_C, 5061)
    report = analyze(obs, ctx)
    client = [link for link in report.links if link.uses is Use.CLIENT]
    assert client
    assert {link.reason for link in client} == {"leaf EKU lacks clientAuth"}


def test_file_port_0_takes_part_in_every_server_link() -> None:
    obs, ctx = private("both")(Role.EXPRESSWAY_E, 0)
    report = analyze(obs, ctx)
    wanted = [s.name for s in POLICY.links_for(Role.EXPRESSWAY_E) if s.uses is Use.SERVER]
    assert sorted(link.name for link in report.links if link.uses is Use.SERVER) == sorted(wanted)


# --- endpoint verdict: worst link, earliest date ---------------------------------------------------


def test_endpoint_verdict_is_worst_and_breaks_on_is_earliest() -> None:
    """serverAuth-only public leaf expiring in 10 days: client links break now, server links at-risk."""
    obs, ctx = public("serverAuth", not_after=NOW + 10 * DAY)(Role.EXPRESSWAY_C, 5061)
    report = analyze(obs, ctx)
    assert {link.verdict for link in report.links if link.uses is Use.SERVER} == {AT_RISK}
    assert {link.breaks_on for link in report.links if link.uses is Use.SERVER} == {NOW + 10 * DAY}
    assert {link.verdict for link in report.links if link.uses is Use.CLIENT} == {BREAKS}
    assert report.verdict is BREAKS
    assert report.breaks_on == NOW


def test_breaks_on_is_the_earliest_expiry_of_the_path() -> None:
    """An intermediate that expires before the leaf sets the date."""
    root, inter, leaf = make_chain("both", int_kw={"not_after": NOW + 20 * DAY})
    report = analyze(observation(leaf, inter, root, role=Role.EXPRESSWAY_C), context())
    assert {link.verdict for link in report.links} == {AT_RISK}
    assert {link.breaks_on for link in report.links} == {NOW + 20 * DAY}
    assert report.breaks_on == NOW + 20 * DAY


# --- --at (ctx.now) moves verdicts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "verdict", "breaks_on"),
    [
        pytest.param(NOW, OK, None, id="at-now-ok"),
        pytest.param(LEAF_END - 10 * DAY, AT_RISK, LEAF_END, id="at-10-days-before-not_after-at-risk"),
        pytest.param(LEAF_END, AT_RISK, LEAF_END, id="at-not_after-still-valid-at-risk"),
        pytest.param(LEAF_END + DAY, BREAKS, LEAF_END, id="at-after-not_after-breaks"),
        pytest.param(NOW - 31 * DAY, BREAKS, NOW - 31 * DAY, id="at-before-not_before-breaks"),
    ],
)
def test_at_moves_verdicts(at: datetime, verdict: Verdict, breaks_on: datetime | None) -> None:
    obs, _ = private("both")(Role.EXPRESSWAY_C, 5061)
    report = analyze(obs, context(now=at))
    assert {link.verdict for link in report.links} == {verdict}
    assert report.verdict is verdict
    assert report.breaks_on == breaks_on


def test_at_moves_public_sunset_to_breaks() -> None:
    obs, ctx = public("both")(Role.EXPRESSWAY_E, 5061)
    assert analyze(obs, ctx).verdict is AT_RISK
    later = analyze(obs, context(ctx.roots, now=LEAF_END + DAY))
    assert {link.verdict for link in later.links} == {BREAKS}
    assert later.breaks_on == LEAF_END


# --- Verdict.rank and worst() -----------------------------------------------------------------------


def test_verdict_rank_order() -> None:
    assert sorted(Verdict, key=lambda v: v.rank) == [UNKNOWN, OK, AT_RISK, BREAKS]
    assert len({v.rank for v in Verdict}) == len(Verdict)


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        pytest.param([], UNKNOWN, id="nothing-is-unknown"),
        pytest.param([UNKNOWN], UNKNOWN, id="only-unknown"),
        pytest.param([UNKNOWN, OK], OK, id="unknown-does-not-hide-ok"),
        pytest.param([OK, AT_RISK, UNKNOWN], AT_RISK, id="at-risk-over-ok"),
        pytest.param([AT_RISK, BREAKS, OK], BREAKS, id="breaks-over-all"),
    ],
)
def test_worst(verdicts: list[Verdict], expected: Verdict) -> None:
    assert worst(verdicts) is expected


def test_a_chain_is_judged_once_per_context_and_each_port_keeps_its_own_links() -> None:
    # The chain's half of analyze (parse, trust, path, usability) is remembered per chain; what
    # depends on the endpoint (its port's links, the request) is judged per endpoint.
    root, intermediate, leaf = make_chain("both")
    analysis = context(RootStore.from_ders([root.der]))
    on_sip = analyze(observation(leaf, intermediate, port=5061), analysis)
    on_https = analyze(observation(leaf, intermediate, port=443), analysis)
    info = analysis.judge_chain.cache_info()  # type: ignore[attr-defined]
    assert (info.misses, info.hits) == (1, 1)
    assert on_sip.trust is on_https.trust and on_sip.chain is on_https.chain
    assert {link.name for link in on_sip.links} != {link.name for link in on_https.links}
    # The same chain judged afresh in a new context gives the same reports.
    fresh = context(RootStore.from_ders([root.der]))
    assert analyze(observation(leaf, intermediate, port=443), fresh) == on_https
