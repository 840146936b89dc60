"""Link verdicts come from the findings' typed effects (LinkEffect), never from their codes,
messages or details: ``judge_links`` driven directly with hand-made findings.

The links are those of a usable private chain (serverAuth + clientAuth), so without an
effect every link is ``ok``; each test adds effects and watches what the links show.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from scanner.core.certs import ParsedCert, parse_der
from scanner.core.usage import Usability, usability
from scanner.core.verdict import judge_links
from scanner.model import EffectKind, Finding, LinkEffect, LinkVerdict, Severity, Use, Verdict
from tests.factories import DAY, NOW, make_chain

WANTED = (("sip-tls", Use.SERVER), ("tls-server", Use.SERVER), ("traversal-zone", Use.CLIENT))
EVERY_USE = frozenset(Use)
# The order of reasons a link can show, written out here rather than taken from EffectKind.
PRECEDENCE = [
    EffectKind.UNJUDGED,  # X15.5: client links unknown
    EffectKind.UNUSABLE,
    EffectKind.EXPIRED,
    EffectKind.NOT_YET_VALID,
    EffectKind.ISSUER_NOT_ACCEPTED,  # an estate finding: the peer does not trust the issuer
    EffectKind.CLIENTAUTH_SUNSET,
    EffectKind.EXPIRES_SOON,
    EffectKind.PUBLIC_CLIENT_CAS,
]


def _usability(leaf_eku: str = "both") -> dict[Use, Usability]:
    root, inter, leaf = make_chain(leaf_eku)
    path = []
    for made in (leaf, inter, root):
        parsed = parse_der(made.der)
        assert isinstance(parsed, ParsedCert)
        path.append(parsed.facts)
    return {use: usability(path, use) for use in Use}


USABLE = _usability()


def effect(
    kind: EffectKind,
    uses: frozenset[Use] = EVERY_USE,
    breaks_on: datetime | None = NOW + 10 * DAY,
    reason: str | None = None,
) -> LinkEffect:
    return LinkEffect(kind, uses, reason or f"because of {kind.name}", breaks_on)


def finding(
    e: LinkEffect | None, code: str = "ANY_CODE", message: str = "a message", **kw: object
) -> Finding:
    return Finding(code, Severity.MEDIUM, message, effect=e, **kw)  # type: ignore[arg-type]


def judge(*findings: Finding, usable: dict[Use, Usability] = USABLE) -> tuple[LinkVerdict, ...]:
    return judge_links(WANTED, usable, findings, NOW, unknown_reason="no certificate: timeout")


def sides(links: tuple[LinkVerdict, ...]) -> dict[Use, set[tuple[Verdict, str, datetime | None]]]:
    out: dict[Use, set[tuple[Verdict, str, datetime | None]]] = {use: set() for use in Use}
    for link in links:
        out[link.uses].add((link.verdict, link.reason, link.breaks_on))
    return out


def test_without_effects_every_link_is_ok() -> None:
    links = judge(finding(None, "EKU_ABSENT"), finding(None, "CLIENT_CERT_REQUESTED"))
    assert [(link.name, link.verdict) for link in links] == [(name, Verdict.OK) for name, _ in WANTED]
    assert sides(links)[Use.CLIENT] == {(Verdict.OK, "chain usable for TLS client use", None)}


@pytest.mark.parametrize("days", [1, 10, 29], ids=lambda d: f"in-{d}-days")
def test_the_link_date_is_the_effects_date(days: int) -> None:
    when = NOW + days * DAY
    links = judge(finding(effect(EffectKind.EXPIRES_SOON, breaks_on=when, reason="chain expires soon")))
    assert {(link.verdict, link.reason, link.breaks_on) for link in links} == {
        (Verdict.AT_RISK, "chain expires soon", when)
    }


def test_the_link_date_is_the_effects_not_the_findings() -> None:
    """A finding's own breaks_on (its JSON date) is not the link's date."""
    links = judge(
        finding(effect(EffectKind.CLIENTAUTH_SUNSET, breaks_on=NOW + 5 * DAY), breaks_on=NOW + 300 * DAY)
    )
    assert {link.breaks_on for link in links} == {NOW + 5 * DAY}


def test_an_effect_without_a_date_gives_an_undated_verdict() -> None:
    links = judge(finding(effect(EffectKind.PUBLIC_CLIENT_CAS, frozenset({Use.SERVER}), breaks_on=None)))
    assert sides(links)[Use.SERVER] == {(Verdict.AT_RISK, "because of PUBLIC_CLIENT_CAS", None)}


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param({"code": "CLIENTAUTH_SUNSET"}, id="other-code"),
        pytest.param({"message": "reworded entirely"}, id="other-message"),
        pytest.param({"details": (("clientauth_cutoff", "2020-01-01"),)}, id="other-details"),
        pytest.param({"breaks_on": NOW + 1000 * DAY}, id="other-finding-date"),
        pytest.param({"severity": Severity.CRITICAL}, id="other-severity"),
    ],
)
def test_wording_of_a_finding_does_not_change_the_verdict(variant: dict[str, object]) -> None:
    e = effect(EffectKind.CLIENTAUTH_SUNSET, frozenset({Use.CLIENT}), reason="the rule's sentence")
    plain = judge(finding(e))
    severity = variant.pop("severity", Severity.MEDIUM)
    kw = {"code": "ANY_CODE", "message": "a message", **variant}
    reworded = Finding(kw.pop("code"), severity, kw.pop("message"), effect=e, **kw)  # type: ignore[arg-type]
    assert judge(reworded) == plain


@pytest.mark.parametrize(
    "code", ["CLIENTAUTH_SUNSET", "PUBLIC_CLIENT_CA_TRUSTED", "EXPIRED", "NOT_YET_VALID", "EXPIRES_SOON"]
)
def test_a_code_without_an_effect_changes_nothing(code: str) -> None:
    """No verdict is looked up by code: a finding that carries no effect leaves the links alone."""
    details = (("clientauth_cutoff", "2026-02-11"),)
    links = judge(finding(None, code, breaks_on=NOW + DAY, details=details))
    assert {link.verdict for link in links} == {Verdict.OK}


@pytest.mark.parametrize("side", list(Use), ids=lambda u: f"{u.value}-only")
@pytest.mark.parametrize("kind", [EffectKind.CLIENTAUTH_SUNSET, EffectKind.EXPIRED, EffectKind.UNJUDGED])
def test_an_effect_on_one_side_leaves_the_other_alone(kind: EffectKind, side: Use) -> None:
    links = judge(finding(effect(kind, frozenset({side}))))
    other = Use.CLIENT if side is Use.SERVER else Use.SERVER
    assert {v for v, _, _ in sides(links)[side]} == {kind.verdict}
    assert {v for v, _, _ in sides(links)[other]} == {Verdict.OK}


def test_kind_precedence_is_the_documented_order() -> None:
    assert sorted(EffectKind) == PRECEDENCE


@pytest.mark.parametrize(
    ("first", "second"),
    list(itertools.combinations(PRECEDENCE, 2)),
    ids=lambda k: k.name,
)
def test_the_earlier_kind_wins_whatever_the_order_and_dates(first: EffectKind, second: EffectKind) -> None:
    # The later kind comes first in the findings and carries the earlier date: neither decides.
    winner = effect(first, breaks_on=NOW + 20 * DAY)
    loser = effect(second, breaks_on=NOW - 20 * DAY)
    links = judge(finding(loser), finding(winner))
    assert {(link.verdict, link.reason, link.breaks_on) for link in links} == {
        (first.verdict, winner.reason, winner.breaks_on)
    }


@pytest.mark.parametrize(
    ("kind", "verdict"),
    [
        (EffectKind.UNJUDGED, Verdict.UNKNOWN),
        (EffectKind.UNUSABLE, Verdict.BREAKS),
        (EffectKind.EXPIRED, Verdict.BREAKS),
        (EffectKind.NOT_YET_VALID, Verdict.BREAKS),
        (EffectKind.CLIENTAUTH_SUNSET, Verdict.AT_RISK),
        (EffectKind.EXPIRES_SOON, Verdict.AT_RISK),
        (EffectKind.PUBLIC_CLIENT_CAS, Verdict.AT_RISK),
    ],
)
def test_each_kind_gives_its_verdict(kind: EffectKind, verdict: Verdict) -> None:
    assert kind.verdict is verdict
    assert effect(kind).verdict is verdict


def test_within_a_kind_the_earliest_date_wins() -> None:
    links = judge(
        finding(effect(EffectKind.EXPIRES_SOON, breaks_on=NOW + 20 * DAY, reason="later")),
        finding(effect(EffectKind.EXPIRES_SOON, breaks_on=NOW + 3 * DAY, reason="sooner")),
        finding(effect(EffectKind.EXPIRES_SOON, breaks_on=None, reason="undated")),
    )
    assert {(link.reason, link.breaks_on) for link in links} == {("sooner", NOW + 3 * DAY)}


def test_within_a_kind_and_date_the_first_finding_wins() -> None:
    links = judge(
        finding(effect(EffectKind.NOT_YET_VALID, breaks_on=NOW, reason="leaf")),
        finding(effect(EffectKind.NOT_YET_VALID, breaks_on=NOW, reason="intermediate")),
    )
    assert {link.reason for link in links} == {"leaf"}


def test_unusable_comes_from_usability_and_outranks_an_earlier_expiry() -> None:
    links = judge(
        finding(effect(EffectKind.EXPIRED, breaks_on=NOW - 5 * DAY)), usable=_usability("serverAuth")
    )
    assert sides(links)[Use.CLIENT] == {(Verdict.BREAKS, "leaf EKU lacks clientAuth", NOW)}
    assert sides(links)[Use.SERVER] == {(Verdict.BREAKS, "because of EXPIRED", NOW - 5 * DAY)}


def test_unjudged_client_links_outrank_unusable() -> None:
    """X15.5: the client certificate is elsewhere, so this one's missing clientAuth says nothing."""
    links = judge(
        finding(
            effect(EffectKind.UNJUDGED, frozenset({Use.CLIENT}), breaks_on=None, reason="separate store")
        ),
        usable=_usability("serverAuth"),
    )
    assert sides(links)[Use.CLIENT] == {(Verdict.UNKNOWN, "separate store", None)}
    assert sides(links)[Use.SERVER] == {(Verdict.OK, "chain usable for TLS server use", None)}


def test_without_a_certificate_effects_are_not_read() -> None:
    links = judge(finding(effect(EffectKind.EXPIRED)), finding(effect(EffectKind.UNJUDGED)), usable={})
    assert {(link.verdict, link.reason, link.breaks_on) for link in links} == {
        (Verdict.UNKNOWN, "no certificate: timeout", None)
    }


def test_usability_effect() -> None:
    assert USABLE[Use.CLIENT].effect(NOW) is None
    broken = _usability("serverAuth")[Use.CLIENT].effect(NOW)
    assert broken == LinkEffect(
        EffectKind.UNUSABLE, frozenset({Use.CLIENT}), "leaf EKU lacks clientAuth", NOW
    )
