"""``ekuscan report``: the whole estate from the history store, judged now by today's rules.

For each endpoint, its latest observation from any scanner's complete or stopped run
(``store.latest``) is judged again from the evidence kept with it (the certificates' DER and
the observation's facts) by the same analysis as a scan, at ``--at`` or now, with the policy in
force: never the verdict stored at the time. Rows recorded before the store kept evidence are
shown with their recorded verdicts and say so (NOT_REJUDGED). The reports go through the same
ReportStream, inventory and writers as a scan's, so hosts and estate rules see the whole estate
at once (a C seen by one jump host beside the E another saw), and the output, exit code and
``--fail-on`` are a scan's.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.app.defaults import DEFAULT_MAX_AGE_DAYS
from scanner.app.errors import ScanFailed, UsageFailure
from scanner.app.inputs import analysis_context, load_policy, read_intermediates, read_roots
from scanner.app.output import reporting
from scanner.app.parse_cache import PARSE_CACHE, ParseCache
from scanner.app.report_judging import (
    JudgedHost,
    Judging,
    SightingCounts,
    StoredRow,
    judge_host,
    moment,
    package,
    sighted,
)
from scanner.core.analysis import AnalysisContext, analyze_host
from scanner.edge.files import intermediate_pool
from scanner.edge.heap import freeze_startup_heap
from scanner.edge.jobs import AnalysisInputs
from scanner.edge.sizing import MAX_WORKERS, usable_cores
from scanner.model import EndpointReport, Observation, Verdict
from scanner.report.evidence import EvidenceError, chain_hashes, observation_from_facts
from scanner.report.recorded import recorded_report
from scanner.report.sink import ScannerFreshness
from scanner.writers import OutputFormat

if TYPE_CHECKING:
    from scanner.app.report_pool import HostPool
    from scanner.store import SqlStore
    from scanner.store.latest import ScannerRuns, StoredObservation


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """Everything ``ekuscan report`` was asked, as given (checked by ``run_report``)."""

    db: str | None
    scanners: tuple[str, ...] = ()
    max_age_days: float = DEFAULT_MAX_AGE_DAYS
    at: str | None = None
    warn_days: int | None = None
    policy_file: Path | None = None
    public_roots: Path | None = None
    intermediates: Path | None = None
    fmt: OutputFormat | None = None
    output: Path | None = None
    show_all: bool = False
    workers: int | None = None  # None: one per CPU for 2,048 stored observations or more, else 1


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    worst: Verdict  # the worst verdict of any listed endpoint
    endpoints: int
    rejudged: int  # judged again from their evidence
    recorded: int  # shown with the verdict recorded then (no evidence stored)
    stale: int
    vanished: int


# Judging a stored observation costs a fraction of probing one, and each spawned judge pays its
# start-up (imports, roots), so a report goes parallel later than a scan does.
PARALLEL_FROM_OBSERVATIONS = 2048


def _default_workers(observations: int) -> int:
    """One process below PARALLEL_FROM_OBSERVATIONS stored observations, else one per core."""
    return 1 if observations < PARALLEL_FROM_OBSERVATIONS else min(usable_cores(), MAX_WORKERS)


def run_report(request: ReportRequest, now: datetime) -> ReportOutcome:
    """Judge the estate in the store and write it; ``now`` is the clock's time (ages are from it)."""
    if not request.db:
        raise UsageFailure("--db (or EKUSCAN_DB) is required: which history database?")
    if request.max_age_days <= 0:
        raise UsageFailure(f"--max-age: {request.max_age_days} is not a number of days above 0")
    policy = load_policy(request.policy_file)
    roots = read_roots(request.public_roots)
    intermediates = read_intermediates(request.intermediates)
    analysis = analysis_context(
        roots, request.at, request.warn_days, policy, now, intermediate_pool(intermediates)
    )
    analysis = replace(analysis, parse=ParseCache())
    inputs = AnalysisInputs(
        roots.pem,
        analysis.now,
        analysis.warn,
        policy.document,
        roots_program=roots.program,
        mozilla_roots=roots.mozilla,
        intermediates_pem=intermediates,
    )
    from scanner.app.history import open_store
    from scanner.store import StoreError

    freeze_startup_heap()
    with open_store(request.db, must_exist=True) as store:
        try:
            return _report(store, request, analysis, inputs, now)
        except StoreError as exc:
            raise ScanFailed(str(exc)) from None


def _report(
    store: SqlStore, request: ReportRequest, analysis: AnalysisContext, inputs: AnalysisInputs, now: datetime
) -> ReportOutcome:
    from scanner.store.latest import observation_count, scanner_runs

    runs = {r.scanner: r for r in scanner_runs(store, request.scanners)}
    unknown = sorted(set(request.scanners) - set(runs))
    if unknown:
        known = ", ".join(sorted(store.scanners())) or "none"
        raise UsageFailure(
            f"--scanner: no runs of {', '.join(unknown)} in {store.description} (known: {known})"
        )
    workers = request.workers or _default_workers(observation_count(store, request.scanners))
    pool: HostPool | None = None
    with reporting(
        analysis, request.fmt, request.output, now, show_all=request.show_all, scanners=freshness(runs)
    ) as stream:
        judging = Judging(
            runs,
            now,
            timedelta(days=request.max_age_days),
            request.show_all,
            stream.inventory.link_pairs,
            stream.writer.renderer(),
        )
        judge = EstateJudge(store, analysis, judging)
        try:
            if workers > 1:
                from scanner.app.report_pool import HostPool  # multiprocessing loads only when used

                pool = HostPool(inputs, judging, workers, PARSE_CACHE)
            for host in judge.hosts(request.scanners, pool):
                stream.record_host(host.share, host.rendered, host.reports)
        finally:
            if pool is not None:
                pool.close()
    counts = judge.counts
    return ReportOutcome(
        stream.inventory.worst_verdict(),
        counts.endpoints,
        counts.rejudged,
        counts.endpoints - counts.rejudged,
        counts.stale,
        counts.vanished,
    )


def freshness(runs: dict[str, ScannerRuns]) -> tuple[ScannerFreshness, ...]:
    return tuple(
        ScannerFreshness(
            r.scanner,
            moment(r.last_started_at),
            r.last_status.value,
            r.last_endpoints,
            moment(r.complete_started_at) if r.complete_started_at else None,
        )
        for r in runs.values()
    )


class EstateJudge:
    """Judges the stored estate host by host, counting what it did."""

    def __init__(self, store: SqlStore, analysis: AnalysisContext, judging: Judging) -> None:
        self.store, self.analysis, self.judging = store, analysis, judging
        self.counts = SightingCounts()

    def hosts(self, scanners: Sequence[str], pool: HostPool | None = None) -> Iterator[JudgedHost]:
        """Each host in turn: the rows come in host order, so a host's are together. A host
        whose rows all carry their evidence is judged here or by ``pool``'s processes; one with
        a row recorded before the store kept evidence is put together here."""
        hosts = (
            list(group)
            for _, group in itertools.groupby(self._rows(scanners), key=lambda row: row.stored.host)
        )
        judged: Iterable[JudgedHost] = (
            (
                judge_host(rows, self.analysis, self.judging)
                if all(row.observation is not None for row in rows)
                else self._with_recorded(rows)
                for rows in hosts
            )
            if pool is None
            else pool.judge(hosts, self._with_recorded)
        )
        for host in judged:
            self.counts += host.counts
            yield host

    def _rows(self, scanners: Sequence[str]) -> Iterator[StoredRow]:
        from scanner.store.latest import certificate_ders, latest_observations

        for batch in latest_observations(self.store, scanners):
            facts: list[dict[str, Any] | None] = [json.loads(s.facts) if s.facts else None for s in batch]
            ders = certificate_ders(self.store, (sha for f in facts if f for sha in chain_hashes(f)))
            for stored, fact in zip(batch, facts, strict=True):
                observation = _observation(fact, ders)
                # the facts are in the observation now: a judge in another process need not get them twice
                yield StoredRow(stored if observation is None else replace(stored, facts=None), observation)

    def _with_recorded(self, rows: list[StoredRow]) -> JudgedHost:
        """A host with rows that cannot be judged again: those shown with their recorded
        verdicts, the others judged, in row order."""
        judged = iter(analyze_host([r.observation for r in rows if r.observation is not None], self.analysis))
        recorded = self._recorded([r.stored for r in rows if r.observation is None])
        reports = [
            sighted(next(judged), row.stored, self.judging)
            if row.observation is not None
            else sighted(next(recorded), row.stored, self.judging, rejudged=False)
            for row in rows
        ]
        return package(reports, self.judging)

    def _recorded(self, rows: list[StoredObservation]) -> Iterator[EndpointReport]:
        if not rows:
            return
        from scanner.store.latest import certificate_documents, observation_document

        documents = [
            json.loads(
                r.document if r.document is not None else observation_document(self.store, r.run_id, r.seq)
            )
            for r in rows
        ]
        certs = certificate_documents(self.store, (sha for d in documents for sha in d.get("chain") or ()))
        for doc in documents:
            doc["chain"] = [certs.get(sha, {"sha256": sha}) for sha in doc.get("chain") or ()]
            yield recorded_report(doc)


def _observation(facts: dict[str, Any] | None, ders: dict[str, bytes]) -> Observation | None:
    if facts is None:
        return None
    try:
        return observation_from_facts(facts, ders)
    except EvidenceError:
        return None  # shown as recorded, like a row without evidence


__all__ = ["ReportOutcome", "ReportRequest", "run_report"]
