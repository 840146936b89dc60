"""Sighting rules: how old and how complete the stored evidence behind a report is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scanner.core.rules import RULES_BY_CODE, SIGHTING_RULES, SightingFacts, evaluate_sighting

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def facts(**kw) -> SightingFacts:
    values = {
        "scanner": "dmz-1",
        "seen_at": NOW - timedelta(days=1),
        "now": NOW,
        "max_age": timedelta(days=7),
        "vanished": False,
        "latest_run_at": NOW - timedelta(days=1),
        "rejudged": True,
    }
    return SightingFacts(**(values | kw))


def codes(f: SightingFacts) -> list[str]:
    return [finding.code for finding in evaluate_sighting(f, SIGHTING_RULES)]


def test_fresh_evidence_judged_again_says_nothing():
    assert codes(facts()) == []


def test_stale_observation_past_max_age_with_its_age():
    assert codes(facts(seen_at=NOW - timedelta(days=7))) == []  # exactly at --max-age: still fresh
    (finding,) = evaluate_sighting(facts(seen_at=NOW - timedelta(days=12, hours=6)), SIGHTING_RULES)
    assert finding.code == "STALE_OBSERVATION"
    assert "12.2 days ago" in finding.message and "--max-age (7 days)" in finding.message
    assert dict(finding.details) == {"scanner": "dmz-1", "seen_at": "2026-11-19", "age_days": "12.2"}
    assert finding.effect is None  # old evidence is said, not turned into a verdict


def test_endpoint_vanished_names_the_run_it_was_missing_from():
    (finding,) = evaluate_sighting(facts(vanished=True, seen_at=NOW - timedelta(days=2)), SIGHTING_RULES)
    assert finding.code == "ENDPOINT_VANISHED"
    assert "latest complete run of scanner dmz-1 (2026-11-30)" in finding.message
    assert codes(facts(vanished=True, latest_run_at=None)) == []  # no complete run: nothing to miss from


def test_not_rejudged_says_the_verdict_is_the_recorded_one():
    assert codes(facts(rejudged=False)) == ["NOT_REJUDGED"]
    assert "cannot be re-judged" in evaluate_sighting(facts(rejudged=False), SIGHTING_RULES)[0].message


def test_all_three_at_once_and_registered_once():
    old = facts(seen_at=NOW - timedelta(days=400), vanished=True, rejudged=False)
    assert codes(old) == ["STALE_OBSERVATION", "ENDPOINT_VANISHED", "NOT_REJUDGED"]
    assert all(RULES_BY_CODE[r.code] is r for r in SIGHTING_RULES)
