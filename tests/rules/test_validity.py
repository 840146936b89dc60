"""Validity rules, driven through analyze() at an explicit evaluation time (ctx.now, i.e. --at):
EXPIRED, NOT_YET_VALID, EXPIRES_SOON.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from scanner.core.analysis import analyze
from scanner.core.certs import ParsedCert, parse_der, split_certificates
from scanner.core.rules._engine import day
from scanner.core.trust import RootStore
from scanner.model import EffectKind, LinkEffect, Use, Verdict
from tests.conftest import context
from tests.factories import DAY, NOW, make_cert, observation
from tests.rules.scenarios import GARBAGE, Build, Scenario, flagged, messages, no_certificate


def chain(
    *,
    leaf: dict[str, object] | None = None,
    inter: dict[str, object] | None = None,
    now: datetime = NOW,
    warn_days: int = 30,
    public: bool = False,
    extra: bytes | None = None,
) -> Scenario:
    """root -> intermediate -> leaf with explicit validity windows (keyword overrides per certificate)."""
    root = make_cert("Test Root", ca=True, eku=None, not_before=NOW - 1000 * DAY, not_after=NOW + 5000 * DAY)
    int_kw: dict[str, object] = {
        "not_before": NOW - 900 * DAY,
        "not_after": NOW + 3000 * DAY,
        **(inter or {}),
    }
    intermediate = make_cert("Test Intermediate", issuer=root, ca=True, eku=None, **int_kw)  # type: ignore[arg-type]
    end = make_cert("host.example.test", issuer=intermediate, **(leaf or {}))  # type: ignore[arg-type]
    certs = {"leaf": end.der, "int": intermediate.der, "root": root.der}
    presented: list[bytes] = [end.der, intermediate.der] if public else [end.der, intermediate.der, root.der]
    if extra is not None:
        presented.append(extra)
        certs["extra"] = extra
    roots = RootStore.from_ders([root.der]) if public else None
    return Scenario(observation(*presented), context(roots, now=now, warn_days=warn_days), certs)


def unparseable_leaf() -> Scenario:
    return Scenario(observation(GARBAGE), context(), {"garbage": GARBAGE})


LEAF_END = NOW + 300 * DAY  # the factories' default leaf notAfter
LEAF, INT = "CN=host.example.test,O=Test Org", "CN=Test Intermediate,O=Test Org"


# --- EXPIRED ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain(leaf={"not_after": NOW - DAY}), ("leaf",), id="leaf-expired-yesterday"),
        pytest.param(
            lambda: chain(leaf={"not_after": NOW - DAY}, public=True), ("leaf",), id="public-leaf-expired"
        ),
        pytest.param(
            lambda: chain(inter={"not_before": NOW - 900 * DAY, "not_after": NOW - DAY}),
            ("int",),
            id="int-expired-leaf-valid",
        ),
        pytest.param(
            lambda: chain(leaf={"not_after": NOW - 2 * DAY}, inter={"not_after": NOW - DAY}),
            ("leaf", "int"),
            id="leaf-and-int-expired",
        ),
        pytest.param(lambda: chain(now=LEAF_END + DAY), ("leaf",), id="at-after-leaf-not_after"),
        pytest.param(lambda: chain(), (), id="private-valid"),
        pytest.param(lambda: chain(public=True), (), id="public-valid"),
        pytest.param(lambda: chain(leaf={"not_after": NOW}), (), id="not_after-equals-now-still-valid"),
        pytest.param(
            lambda: chain(leaf={"not_after": NOW - DAY}, now=NOW - 2 * DAY), (), id="at-before-leaf-not_after"
        ),
        pytest.param(
            lambda: chain(extra=make_cert("Unrelated", not_after=NOW - DAY).der),
            (),
            id="expired-cert-not-on-the-path",
        ),
        pytest.param(unparseable_leaf, (), id="leaf-unparseable-not-applicable"),
        pytest.param(no_certificate, (), id="no-certificate-not-applicable"),
    ],
)
def test_expired(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "EXPIRED") == expected
    for message in messages(s, "EXPIRED"):
        assert " expired on " in message


def test_expired_message_names_the_certificate_and_date() -> None:
    s = chain(leaf={"not_after": NOW - DAY}, inter={"not_after": NOW - 2 * DAY})
    assert messages(s, "EXPIRED") == [
        f"leaf CN=host.example.test,O=Test Org expired on {day(NOW - DAY)}",
        f"CA certificate CN=Test Intermediate,O=Test Org expired on {day(NOW - 2 * DAY)}",
    ]


REAL_LEAVES = [
    pytest.param("badssl-invalid-expected-sct-leaf.pem", id="badssl-leaf"),
    pytest.param("cryptography-io-leaf.pem", id="cryptography-io-leaf"),
]


@pytest.mark.parametrize("name", REAL_LEAVES)
def test_expired_real_leaf(realcerts: Path, name: str) -> None:
    (der,) = split_certificates((realcerts / name).read_bytes())
    parsed = parse_der(der)
    assert isinstance(parsed, ParsedCert)
    facts = parsed.facts
    assert facts.eku is not None
    assert {"serverAuth", "clientAuth"} <= set(facts.eku)

    at_now = analyze(observation(der), context())
    expired = [f for f in at_now.findings if f.code == "EXPIRED"]
    assert [f.cert_sha256 for f in expired] == [facts.sha256]
    assert day(facts.not_after) in expired[0].message
    assert all(link.breaks_on == facts.not_after for link in at_now.links)

    inside = facts.not_before + (facts.not_after - facts.not_before) / 2
    during = analyze(observation(der), context(now=inside))
    codes = {f.code for f in during.findings}
    assert "EXPIRED" not in codes
    assert "NOT_YET_VALID" not in codes
    before = analyze(observation(der), context(now=facts.not_before - DAY))
    assert "NOT_YET_VALID" in {f.code for f in before.findings}


# --- NOT_YET_VALID ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain(leaf={"not_before": NOW + DAY}), ("leaf",), id="leaf-starts-tomorrow"),
        pytest.param(
            lambda: chain(leaf={"not_before": NOW + DAY}, public=True),
            ("leaf",),
            id="public-leaf-starts-tomorrow",
        ),
        pytest.param(lambda: chain(inter={"not_before": NOW + DAY}), ("int",), id="int-starts-tomorrow"),
        pytest.param(lambda: chain(now=NOW - 31 * DAY), ("leaf",), id="at-before-leaf-not_before"),
        pytest.param(lambda: chain(), (), id="private-valid"),
        pytest.param(lambda: chain(leaf={"not_before": NOW}), (), id="not_before-equals-now-valid"),
        pytest.param(
            lambda: chain(leaf={"not_before": NOW + DAY}, now=NOW + 2 * DAY),
            (),
            id="at-after-leaf-not_before",
        ),
        pytest.param(unparseable_leaf, (), id="leaf-unparseable-not-applicable"),
        pytest.param(no_certificate, (), id="no-certificate-not-applicable"),
    ],
)
def test_not_yet_valid(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "NOT_YET_VALID") == expected
    for message in messages(s, "NOT_YET_VALID"):
        assert " is not valid before " in message


# --- EXPIRES_SOON -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain(leaf={"not_after": NOW + 10 * DAY}), ("leaf",), id="leaf-10-days-warn-30"),
        pytest.param(
            lambda: chain(leaf={"not_after": NOW + 30 * DAY}), ("leaf",), id="leaf-exactly-warn-days"
        ),
        pytest.param(lambda: chain(leaf={"not_after": NOW}), ("leaf",), id="leaf-expires-this-second"),
        pytest.param(
            lambda: chain(inter={"not_after": NOW + 10 * DAY}), ("int",), id="int-10-days-leaf-later"
        ),
        pytest.param(
            lambda: chain(leaf={"not_after": NOW + 10 * DAY}, public=True),
            ("leaf",),
            id="public-leaf-10-days",
        ),
        pytest.param(
            lambda: chain(leaf={"not_after": NOW + 100 * DAY}, warn_days=120), ("leaf",), id="warn-days-120"
        ),
        pytest.param(lambda: chain(now=LEAF_END - 5 * DAY), ("leaf",), id="at-5-days-before-not_after"),
        pytest.param(lambda: chain(), (), id="private-valid-300-days"),
        pytest.param(lambda: chain(leaf={"not_after": NOW + 31 * DAY}), (), id="leaf-31-days-warn-30"),
        pytest.param(
            lambda: chain(leaf={"not_after": NOW + 10 * DAY}, warn_days=5), (), id="leaf-10-days-warn-5"
        ),
        pytest.param(lambda: chain(leaf={"not_after": NOW + DAY}, warn_days=0), (), id="warn-days-0"),
        pytest.param(lambda: chain(leaf={"not_after": NOW - DAY}), (), id="already-expired-is-EXPIRED"),
        pytest.param(lambda: chain(now=LEAF_END + DAY), (), id="at-after-not_after-is-EXPIRED"),
        pytest.param(unparseable_leaf, (), id="leaf-unparseable-not-applicable"),
        pytest.param(no_certificate, (), id="no-certificate-not-applicable"),
    ],
)
def test_expires_soon(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "EXPIRES_SOON") == expected
    for message in messages(s, "EXPIRES_SOON"):
        assert " expires on " in message


def test_expires_soon_message_counts_days_from_the_evaluation_time() -> None:
    s = chain(leaf={"not_after": NOW + 10 * DAY}, now=NOW + 3 * DAY)
    assert messages(s, "EXPIRES_SOON") == [
        f"leaf CN=host.example.test,O=Test Org expires on {day(NOW + 10 * DAY)} (7 days)"
    ]


# --- the effects these rules have on the links ------------------------------------------------


def effects(s: Scenario, code: str) -> list[LinkEffect | None]:
    return [f.effect for f in analyze(s.obs, s.ctx).findings if f.code == code]


def test_expired_breaks_every_use_from_each_not_after() -> None:
    s = chain(leaf={"not_after": NOW - DAY}, inter={"not_after": NOW - 2 * DAY})
    assert effects(s, "EXPIRED") == [
        LinkEffect(EffectKind.EXPIRED, frozenset(Use), f"{LEAF} expired on {day(NOW - DAY)}", NOW - DAY),
        LinkEffect(
            EffectKind.EXPIRED, frozenset(Use), f"{INT} expired on {day(NOW - 2 * DAY)}", NOW - 2 * DAY
        ),
    ]
    report = analyze(s.obs, s.ctx)
    # The links show the first certificate to have expired; the findings keep no date of their own.
    assert {(link.verdict, link.reason, link.breaks_on) for link in report.links} == {
        (Verdict.BREAKS, f"{INT} expired on {day(NOW - 2 * DAY)}", NOW - 2 * DAY)
    }
    assert [f.breaks_on for f in report.findings if f.code == "EXPIRED"] == [None, None]


@pytest.mark.parametrize("at", [NOW, NOW - 31 * DAY], ids=["now", "at-a-month-earlier"])
def test_not_yet_valid_breaks_every_use_at_the_evaluation_time(at: datetime) -> None:
    s = chain(leaf={"not_before": NOW + DAY}, now=at)
    assert effects(s, "NOT_YET_VALID") == [
        LinkEffect(EffectKind.NOT_YET_VALID, frozenset(Use), f"{LEAF} not valid before {day(NOW + DAY)}", at)
    ]


def test_expires_soon_puts_every_use_at_risk_on_its_not_after() -> None:
    s = chain(inter={"not_after": NOW + 10 * DAY}, leaf={"not_after": NOW + 20 * DAY})
    assert effects(s, "EXPIRES_SOON") == [
        LinkEffect(
            EffectKind.EXPIRES_SOON, frozenset(Use), f"chain expires on {day(NOW + 20 * DAY)}", NOW + 20 * DAY
        ),
        LinkEffect(
            EffectKind.EXPIRES_SOON, frozenset(Use), f"chain expires on {day(NOW + 10 * DAY)}", NOW + 10 * DAY
        ),
    ]
    report = analyze(s.obs, s.ctx)
    assert {(link.verdict, link.breaks_on) for link in report.links} == {(Verdict.AT_RISK, NOW + 10 * DAY)}
