"""Sighting rules: how old, and how complete, the evidence behind a report from the store is."""

from __future__ import annotations

from collections.abc import Sequence

from scanner.core.rules._engine import Hit, SightingFacts, day, sighting_rule
from scanner.model import Severity


def _days(facts: SightingFacts) -> float:
    return round((facts.now - facts.seen_at).total_seconds() / 86400, 1)


@sighting_rule(
    "STALE_OBSERVATION",
    Severity.MEDIUM,
    "The endpoint was last seen longer ago than --max-age: its verdict rests on old evidence",
    fix="Check that the scanner that covers this endpoint still runs (cron, its --db URL), or "
    "that the endpoint still exists; raise --max-age if scans are meant to be this far apart.",
)
def stale_observation(facts: SightingFacts) -> Sequence[Hit]:
    """The latest observation of this endpoint, from any scanner, is older than ``--max-age``
    (7 days unless given). The report still judges it (today's rules on the certificate it
    presented then), but the server may since have been given another certificate, or be gone.
    The age is measured from the start of the run that saw it to the clock's time, not to
    ``--at``: staleness is about when the evidence was gathered.
    """
    if facts.now - facts.seen_at <= facts.max_age:
        return []
    return [
        Hit(
            f"last seen {_days(facts)} days ago ({day(facts.seen_at)}, scanner {facts.scanner}), "
            f"longer ago than --max-age ({facts.max_age.days} days)",
            details=(
                ("scanner", facts.scanner),
                ("seen_at", day(facts.seen_at)),
                ("age_days", str(_days(facts))),
            ),
        )
    ]


@sighting_rule(
    "ENDPOINT_VANISHED",
    Severity.MEDIUM,
    "The endpoint was not in its scanner's latest complete run: it answered before, not now",
    fix="Find out whether the host was retired, moved (another address or scanner) or is down; "
    "remove it from the targets if it is gone.",
)
def endpoint_vanished(facts: SightingFacts) -> Sequence[Hit]:
    """The scanner that last saw this endpoint has completed a run since then without it: the
    host was taken out of that scanner's targets, stopped answering, or moved to an address no
    scanner covers. It is listed with what it last showed, so that it is not dropped silently.
    """
    if not facts.vanished or facts.latest_run_at is None:
        return []
    return [
        Hit(
            f"absent from the latest complete run of scanner {facts.scanner} "
            f"({day(facts.latest_run_at)}); last seen {day(facts.seen_at)}",
            details=(("scanner", facts.scanner), ("seen_at", day(facts.seen_at))),
        )
    ]


@sighting_rule(
    "NOT_REJUDGED",
    Severity.MEDIUM,
    "Recorded by an older ekuscan without its certificates: shown with the verdict recorded then",
    fix="Scan the endpoint again with this ekuscan and --db: its next observation keeps the "
    "evidence, and the report judges it by today's rules.",
)
def not_rejudged(facts: SightingFacts) -> Sequence[Hit]:
    """The observation was recorded before the store kept certificates' DER and observations'
    facts (schema version 3), so today's rules and policy cannot judge it again. The report
    shows the findings, links and verdict recorded at the time, which may be out of date: a
    date announced since, a rule corrected since, or ``--at``, are not applied to it.
    """
    if facts.rejudged:
        return []
    return [
        Hit(
            f"recorded {day(facts.seen_at)} by scanner {facts.scanner} without its certificates: "
            "cannot be re-judged; the verdict shown is the one recorded then",
            details=(("scanner", facts.scanner), ("seen_at", day(facts.seen_at))),
        )
    ]
