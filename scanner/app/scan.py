"""``ekuscan scan``: a request of targets and options in, the judged inventory written and its outcome out.

``run_scan`` checks the request, reads what the run is judged with, then runs the sweep
(``edge.workers.judge_sweep``: one process or several, wired the same way) into the chosen
writer and, with ``--db``, the history store. A stopped run (Ctrl-C, SIGTERM) still writes
what it found; the outcome says how it ended, and the CLI picks the exit code.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from scanner.app.client_cert import ClientCertFiles, read_client_credential
from scanner.app.defaults import DEFAULT_CONCURRENCY
from scanner.app.errors import ScanFailed, UsageFailure
from scanner.app.inputs import (
    RootBundle,
    analysis_context,
    load_policy,
    probe_estimate,
    read_intermediates,
    read_roots,
    scanner_name,
    target_specs,
)
from scanner.app.output import ReportStream, reporting
from scanner.app.recording import (
    Clock,
    finish_history,
    history_run,
    keep_recording,
    known_issuers,
    log_fetch,
    record_issuers,
)
from scanner.core.analysis import AnalysisContext
from scanner.core.discovery import DiscoveryOptions
from scanner.core.targets import (
    DEFAULT_PORTS,
    Shard,
    TargetError,
    TargetSpec,
    check_sweep_size,
    parse_ports,
    parse_shard,
)
from scanner.edge import runlog
from scanner.edge.files import intermediate_pool
from scanner.edge.forked import ForkedProcess
from scanner.edge.frames import WorkerFailed
from scanner.edge.heap import freeze_startup_heap
from scanner.edge.issuers import IssuerFetcher
from scanner.edge.jobs import AnalysisInputs
from scanner.edge.net import ProbeConfig
from scanner.edge.pool import PoolConfig, ScanTerminated, ensure_fd_limit, run_stoppable
from scanner.edge.progress import Progress, keep_drawing
from scanner.edge.sizing import default_workers
from scanner.edge.workers import judge_sweep, preforked
from scanner.model import Role, Verdict
from scanner.writers import OutputFormat

if TYPE_CHECKING:
    from scanner.store.recorder import Recorder
    from scanner.store.session import RunSession


class Stop(enum.Enum):
    """How a run that did not finish was stopped."""

    INTERRUPTED = "interrupted"  # Ctrl-C
    TERMINATED = "terminated"  # SIGTERM


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """Everything ``ekuscan scan`` was asked, as given (checked by ``run_scan``)."""

    targets: tuple[str, ...] = ()
    input_csv: Path | None = None
    ports: str | None = None
    role: Role | None = None
    sni: str | None = None
    sni_from_input: bool = False  # the host name nmap's output gives an address is its SNI
    public_roots: Path | None = None
    intermediates: Path | None = None  # --intermediates PEM: completes chains besides the packaged set
    fetch_issuers: bool = False  # --fetch-issuers: fetch a missing issuer from its AIA URL (off: no traffic)
    at: str | None = None
    warn_days: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = 5.0
    connect_timeout: float | None = None
    fmt: OutputFormat | None = None
    output: Path | None = None
    policy_file: Path | None = None
    show_all: bool = False
    db: str | None = None
    only_changes: bool = False
    wait: bool = False
    quiet: bool = False
    scanner_name: str | None = None
    workers: int | None = None
    rate: float | None = None
    max_per_host: int | None = None
    retries: int = 0
    first_address_only: bool = False
    shard: str | None = None
    yes: bool = False
    client_cert: ClientCertFiles | None = None  # --client-cert and its key, chain and passphrase


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    worst: Verdict  # the worst verdict of any listed endpoint
    stopped: Stop | None  # None: the run finished


@dataclass(frozen=True, slots=True)
class _Plan:
    """A checked request: what to sweep, how, and what to judge it with."""

    specs: list[TargetSpec]
    shard: Shard | None
    probes: int
    processes: int
    pool: PoolConfig
    analysis: AnalysisContext
    inputs: AnalysisInputs
    scanner: str
    issuers: IssuerFetcher | None = None  # --fetch-issuers


def run_scan(request: ScanRequest, now: datetime, clock: Clock) -> ScanOutcome:
    """Scan, write, record; ``now`` is when the run started, ``clock`` tells the time later."""
    _check(request)
    plan = _plan(request, now)
    log = runlog.Log(quiet=request.quiet)
    stopped: Stop | None = None
    discard = request.only_changes and request.output is None
    with history_run(request.db, plan.scanner, request.wait, now, plan.analysis.now, clock, log) as session:
        plan = _with_issuers(plan, request, session, log, now)
        with reporting(
            plan.analysis,
            request.fmt,
            request.output,
            now,
            show_all=request.show_all,
            session=session,
            discard=discard,
        ) as stream:
            if not request.quiet and sys.stderr.isatty():
                stream.progress = Progress(sys.stderr, plan.probes, approximate=plan.shard is not None)
            stopped = _sweep(plan, stream, session.recorder if session is not None else None)
        if session is not None:
            from scanner.store import RunStatus

            if plan.issuers is not None:
                record_issuers(session, plan.issuers, clock)

            status = {
                None: RunStatus.COMPLETE,
                Stop.INTERRUPTED: RunStatus.INTERRUPTED,
                Stop.TERMINATED: RunStatus.TERMINATED,
            }[stopped]
            finish_history(
                session,
                status,
                stream.inventory,
                clock,
                log,
                only_changes=request.only_changes,
                changes_as_json=request.fmt is OutputFormat.JSON,
            )
    if stopped is not None and not request.quiet:
        print("ekuscan: stopped; the output holds what was found so far", file=sys.stderr)
    return ScanOutcome(stream.inventory.worst_verdict(), stopped)


def _check(request: ScanRequest) -> None:
    if not request.targets and request.input_csv is None:
        raise UsageFailure("nothing to scan: give TARGET arguments or -i FILE.csv")
    if request.sni_from_input and request.input_csv is None:
        raise UsageFailure(
            "--sni-from-input needs -i FILE: nmap's -oX or -oG output, whose host names become SNI"
        )
    if request.only_changes and not request.db:
        raise UsageFailure(
            "--only-changes needs --db (or EKUSCAN_DB): changes are since the run recorded there"
        )
    text_or_json = (None, OutputFormat.TABLE, OutputFormat.JSON)
    if request.only_changes and request.fmt not in text_or_json and request.output is None:
        raise UsageFailure(
            f"--only-changes prints text or json; -f {request.fmt} needs -o FILE for the inventory"
        )


def _plan(request: ScanRequest, now: datetime) -> _Plan:
    scanner = scanner_name(request.scanner_name)
    policy = load_policy(request.policy_file)  # first: the CSV's links column names its links
    try:
        given_ports = parse_ports(request.ports) if request.ports else None
        discovery = DiscoveryOptions(
            frozenset(given_ports) if given_ports else None, request.role, request.sni, request.sni_from_input
        )
        specs = target_specs(
            list(request.targets),
            request.input_csv,
            given_ports or DEFAULT_PORTS,
            request.role,
            request.sni,
            discovery,
            policy,
        )
        check_sweep_size(specs, request.yes)
        shard = parse_shard(request.shard) if request.shard is not None else None
    except TargetError as exc:
        raise UsageFailure(str(exc)) from None
    roots: RootBundle = read_roots(request.public_roots)
    intermediates = read_intermediates(request.intermediates)
    credential = read_client_credential(request.client_cert)
    candidate = credential.presented if credential is not None else ()
    analysis = replace(
        analysis_context(roots, request.at, request.warn_days, policy, now, intermediate_pool(intermediates)),
        client_candidate=candidate,
    )
    probes = probe_estimate(specs, shard)
    usable = ensure_fd_limit(request.concurrency)
    if usable < request.concurrency:
        print(
            f"ekuscan: warning: the open-file limit allows only {usable} connections at once "
            f"(asked for {request.concurrency}); raise it with 'ulimit -n'",
            file=sys.stderr,
        )
    processes = request.workers if request.workers is not None else default_workers(probes)
    pool = PoolConfig(
        concurrency=usable,
        probe=ProbeConfig(
            connect_timeout=request.connect_timeout or request.timeout,
            timeout=request.timeout,
            client_credential=credential,
        ),
        rate=request.rate,
        max_per_host=request.max_per_host,
        retries=request.retries,
        first_address_only=request.first_address_only,
    )
    inputs = AnalysisInputs(
        roots.pem,
        analysis.now,
        analysis.warn,
        policy.document,
        roots_program=roots.program,
        mozilla_roots=roots.mozilla,
        intermediates_pem=intermediates,
        fetch_issuers=request.fetch_issuers,
        keep_evidence=bool(request.db),
        client_candidate=candidate,
        judge_unlisted=request.show_all,  # without --show-all, closed ports of ranges are only counted
    )
    return _Plan(specs, shard, probes, min(processes, usable), pool, analysis, inputs, scanner)


def _with_issuers(
    plan: _Plan, request: ScanRequest, session: RunSession | None, log: runlog.Log, now: datetime
) -> _Plan:
    """With --fetch-issuers: a fetcher for the run, and what earlier runs fetched (``--db``) as
    intermediates, in this process and in the workers, so that it is not fetched again."""
    if not request.fetch_issuers:
        return plan
    known = known_issuers(session, now) if session is not None else ()
    pool = plan.analysis.intermediates
    for url, certificates in known:
        pool = pool.with_fetched(url, certificates)
    return replace(
        plan,
        analysis=replace(plan.analysis, intermediates=pool),
        inputs=replace(plan.inputs, fetched_issuers=known),
        issuers=IssuerFetcher(request.timeout, known, on_result=lambda result: log_fetch(log, result)),
    )


# Failures with their own exit path in the CLI, which must not arrive wrapped in exception
# groups: a worker that died (exit 3), a reader that went away (head, less: exit 0).
_PASSTHROUGH: tuple[type[Exception], ...] = (WorkerFailed, BrokenPipeError)


def _sweep(plan: _Plan, stream: ReportStream, recorder: Recorder | None) -> Stop | None:
    """Run the sweep into ``stream`` until it ends or is stopped; the progress line and the
    history store's batch timer run beside it. Its workers are forked first, before trio runs."""
    forked: list[ForkedProcess] = []

    async def body() -> None:
        async with trio.open_nursery() as nursery:
            if stream.progress is not None:
                nursery.start_soon(keep_drawing, stream.progress)
            if recorder is not None:
                nursery.start_soon(keep_recording, recorder)
            await judge_sweep(
                plan.specs,
                plan.shard,
                plan.pool,
                plan.inputs,
                plan.processes,
                stream.record,
                plan.analysis,
                plan.issuers,
                forked,
                renderer,
            )
            nursery.cancel_scope.cancel()  # done: stop the progress line and the timer

    # With a renderer (JSON, JSONL, Prometheus; not with --db, whose recorder needs the reports)
    # each worker renders its own hosts, and this process only adds what they send.
    renderer = stream.writer.renderer()
    freeze_startup_heap()  # imports, roots, intermediates, policy: walked by no collection again
    workers = preforked(
        plan.specs, plan.shard, plan.pool, plan.inputs, plan.processes, plan.analysis, renderer
    )
    try:
        with workers as forked:
            run_stoppable(body, _PASSTHROUGH)
    except KeyboardInterrupt:
        return Stop.INTERRUPTED  # what was found is written, and is valid
    except ScanTerminated:
        return Stop.TERMINATED
    except WorkerFailed as exc:
        raise ScanFailed(str(exc)) from None
    finally:
        if stream.progress is not None:
            stream.progress.close()
    return None


__all__ = ["ScanOutcome", "ScanRequest", "Stop", "run_scan"]
