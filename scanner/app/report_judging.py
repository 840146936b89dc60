"""One stored host judged again, whole: its reports with their sightings, counted and rendered.

``ekuscan report`` judges the estate host by host, in this process or in several
(``app.report_pool``). Whatever can be done with a host's reports without the rest of the
estate is done where they are judged: the sighting (who saw it, when, stale or vanished), the
inventory's counters and the host as its endpoints show it (``Inventory.share``), and, for a
writer that keeps only a rendering of each endpoint (JSON, JSONL, Prometheus), that rendering.
What comes back to the writing process is then a few bytes per endpoint, not the report: that
process reads the store and writes the output, and neither is what limits the pace.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from scanner.core.analysis import AnalysisContext, analyze_host
from scanner.core.peers import LinkPair
from scanner.core.rules import SIGHTING_RULES, SightingFacts, evaluate_sighting
from scanner.edge.jobs import compact_report
from scanner.model import EndpointReport, Observation, Sighting
from scanner.model.pickling import fast_pickling
from scanner.report.inventory import HostShare, Inventory
from scanner.report.ordering import EndpointSortKey, endpoint_sort_key
from scanner.report.sink import Renderer

if TYPE_CHECKING:
    from scanner.store.latest import ScannerRuns, StoredObservation


@dataclass(frozen=True, slots=True)
class Judging:
    """What judging a stored host takes besides the analysis context; sent to each judge once."""

    runs: dict[str, ScannerRuns]  # by scanner: what "vanished" is measured against
    now: datetime  # the clock's time: ages are from it
    max_age: timedelta
    show_all: bool
    link_pairs: tuple[LinkPair, ...]
    renderer: Renderer | None  # the writer's (``Writer.renderer``); None: the reports go back


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One endpoint's latest observation: where it was seen, and its evidence decoded."""

    stored: StoredObservation  # without its facts once decoded (they are in ``observation``)
    observation: Observation | None  # None: cannot be judged again (no evidence)


@dataclass(frozen=True, slots=True)
class SightingCounts:
    endpoints: int = 0
    rejudged: int = 0
    stale: int = 0
    vanished: int = 0

    def __add__(self, other: SightingCounts) -> SightingCounts:
        return SightingCounts(
            self.endpoints + other.endpoints,
            self.rejudged + other.rejudged,
            self.stale + other.stale,
            self.vanished + other.vanished,
        )


@dataclass(frozen=True, slots=True)
class JudgedHost:
    """A host's reports as the writing process takes them (``ReportStream.record_host``)."""

    share: HostShare
    rendered: tuple[tuple[EndpointSortKey, bytes], ...]  # its listed endpoints, with a renderer
    reports: tuple[EndpointReport, ...]  # its listed endpoints, without one (no DER)
    counts: SightingCounts


def judge_host(rows: list[StoredRow], analysis: AnalysisContext, judging: Judging) -> JudgedHost:
    """Every row of the host must carry its evidence (``observation``)."""
    observations = [row.observation for row in rows if row.observation is not None]
    assert len(observations) == len(rows), "a row without evidence is shown as recorded, not judged"
    reports = analyze_host(observations, analysis)
    return package([sighted(r, row.stored, judging) for r, row in zip(reports, rows, strict=True)], judging)


def package(reports: list[EndpointReport], judging: Judging) -> JudgedHost:
    """A host's sighted reports, counted into a share of the inventory and rendered."""
    inventory = Inventory(show_all=judging.show_all, link_pairs=judging.link_pairs)
    listed = [report for report in reports if inventory.add(report)]
    counts = SightingCounts(
        len(reports),
        sum(r.sighting is not None and r.sighting.rejudged for r in reports),
        sum(r.sighting is not None and r.sighting.stale for r in reports),
        sum(r.sighting is not None and r.sighting.vanished for r in reports),
    )
    render = judging.renderer
    if render is None:
        return JudgedHost(inventory.share(), (), tuple(compact_report(r) for r in listed), counts)
    return JudgedHost(inventory.share(), tuple((endpoint_sort_key(r), render(r)) for r in listed), (), counts)


def sighted(
    report: EndpointReport, stored: StoredObservation, judging: Judging, *, rejudged: bool = True
) -> EndpointReport:
    """The report with where and when it was seen, and the sighting rules' findings;
    ``rejudged``: judged again from its evidence (else shown as recorded)."""
    seen_at = moment(stored.started_at)
    runs = judging.runs.get(stored.scanner)
    complete = runs.complete_run_id if runs is not None else None
    vanished = complete is not None and stored.run_id < complete
    facts = SightingFacts(
        scanner=stored.scanner,
        seen_at=seen_at,
        now=judging.now,
        max_age=judging.max_age,
        vanished=vanished,
        latest_run_at=moment(runs.complete_started_at) if runs and runs.complete_started_at else None,
        rejudged=rejudged,
    )
    sighting = Sighting(
        scanner=stored.scanner,
        run_id=stored.run_id,
        seen_at=seen_at,
        age=judging.now - seen_at,
        stale=judging.now - seen_at > judging.max_age,
        vanished=vanished,
        rejudged=rejudged,
    )
    findings = evaluate_sighting(facts, SIGHTING_RULES)
    return replace(report, findings=report.findings + findings, sighting=sighting)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


__all__ = [
    "JudgedHost",
    "Judging",
    "SightingCounts",
    "StoredRow",
    "judge_host",
    "moment",
    "package",
    "sighted",
]


fast_pickling(globals())  # the state of its dataclasses as tuples: see model/pickling.py
