"""The command line: the only place that reads the clock, prints, and picks exit codes."""

from __future__ import annotations

import dataclasses
import enum
import io
import ipaddress
import json
import os
import socket
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TextIO

import certifi
import trio
import typer

from scanner import __version__
from scanner import lab as labmod
from scanner.core.analysis import AnalysisContext, analyze_host
from scanner.core.certs import NoCertificateError, split_certificates
from scanner.core.hosts import HostGrouper
from scanner.core.policy import (
    Policy,
    PolicyError,
    load_packaged_policy,
    load_policy_file,
    packaged_policy_text,
)
from scanner.core.rules import EVERY_RULE, RULES_BY_CODE
from scanner.core.targets import (
    DEFAULT_PORTS,
    Shard,
    TargetError,
    TargetSpec,
    check_sweep_size,
    parse_csv,
    parse_ports,
    parse_shard,
    parse_target,
)
from scanner.core.trust import RootStore, load_pem_bundle
from scanner.edge import runlog
from scanner.edge.net import ProbeConfig
from scanner.edge.pool import (
    DEFAULT_CONCURRENCY,
    PoolConfig,
    ScanTerminated,
    consume_scan,
    ensure_fd_limit,
    run_stoppable,
    run_trio,
)
from scanner.edge.progress import Progress, keep_drawing
from scanner.edge.spool import DiskSpool
from scanner.edge.workers import (
    MAX_WORKERS,
    AnalysisInputs,
    WorkerFailed,
    default_workers,
    merge_workers,
    sweep,
)
from scanner.model import (
    Endpoint,
    EndpointReport,
    Fingerprint,
    Observation,
    Product,
    Role,
    Status,
    Verdict,
    Version,
)
from scanner.report.inventory import Inventory
from scanner.writers import SUFFIXES, OutputFormat, RunInfo, Writer, make_writer

if TYPE_CHECKING:  # the history store loads only for --db, diff and history (start-up time, memory)
    from scanner.core.changes import Changes
    from scanner.store import SqlStore
    from scanner.store.recorder import Recorder
    from scanner.store.session import RunSession


class ExitCode(enum.IntEnum):
    """The one table of exit codes (DESIGN.md section 6)."""

    OK = 0  # nothing at or above --fail-on
    FINDINGS = 1  # something is at or above --fail-on
    USAGE = 2  # bad arguments or input; one line on stderr
    FAILED = 3  # the scan could not run, or its output could not be written
    INTERRUPTED = 130  # Ctrl-C: what was found is still written
    TERMINATED = 143  # SIGTERM: likewise


class FailOn(enum.StrEnum):
    BREAKS = "breaks"
    AT_RISK = "at-risk"
    NEVER = "never"


class ScanFailed(Exception):
    """The run cannot go on (exit 3); the message is one line."""


class UsageFailure(Exception):
    """Bad arguments or input (exit 2); the message is one line that names the culprit.

    ``problems`` (a bad policy file) are printed one per line after it.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


def exit_code_for(worst: Verdict, fail_on: FailOn) -> ExitCode:
    if fail_on is FailOn.NEVER:
        return ExitCode.OK
    threshold = Verdict.BREAKS if fail_on is FailOn.BREAKS else Verdict.AT_RISK
    return ExitCode.FINDINGS if worst.rank >= threshold.rank else ExitCode.OK


app = typer.Typer(
    name="ekuscan",
    help="Find the mutual-TLS links of a Cisco Expressway estate that break when public certificates "
    "lose the clientAuth EKU, and when.",
    add_completion=False,
    invoke_without_command=True,
    rich_markup_mode=None,  # help texts hold literal brackets: [v6]:port, [default: ...]
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
)


def _version(value: bool) -> None:
    if value:
        print(f"ekuscan {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """ekuscan: an inventory of which mutual-TLS links break, when, and why."""
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit(ExitCode.USAGE)


# --- shared option parsing ----------------------------------------------------------------


def parse_at(text: str | None, now: datetime) -> datetime:
    """``--at``: a date (midnight UTC) or a date-time (UTC unless it says otherwise)."""
    if not text:
        return now
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageFailure(f"--at: {text!r} is not an ISO date or date-time (e.g. 2027-03-15)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def load_roots(path: Path | None) -> RootStore:
    return _roots_from(*read_roots(path))


def read_roots(path: Path | None) -> tuple[Path, bytes]:
    source = Path(certifi.where()) if path is None else path
    try:
        return source, source.read_bytes()
    except OSError as exc:
        raise UsageFailure(f"--public-roots: cannot read {source}: {exc.strerror or exc}") from None


def _roots_from(source: Path, data: bytes) -> RootStore:
    try:
        store = load_pem_bundle(data)
    except NoCertificateError:
        raise UsageFailure(f"--public-roots: {source} holds no PEM certificate") from None
    if not len(store):
        raise UsageFailure(f"--public-roots: no certificate in {source} could be parsed")
    return store


def pick_format(fmt: OutputFormat | None, output: Path | None) -> OutputFormat:
    if fmt is not None:
        return fmt
    if output is not None:
        return SUFFIXES.get(output.suffix.lower().lstrip("."), OutputFormat.TABLE)
    return OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.JSON


def use_color(fmt: OutputFormat, output: Path | None) -> bool:
    return (
        fmt is OutputFormat.TABLE
        and output is None
        and sys.stdout.isatty()
        and not os.environ.get("NO_COLOR")
    )


@contextmanager
def open_output(output: Path | None) -> Iterator[TextIO]:
    """stdout, or a temporary file beside ``output`` renamed over it only when complete."""
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    if output.exists() and not output.is_file():
        # /dev/null, a FIFO, a terminal: there is nothing to rename over, write straight in.
        try:
            handle = output.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise ScanFailed(f"cannot write {output}: {exc.strerror or exc}") from None
        with handle:
            yield handle
        return
    directory = output.parent if str(output.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ScanFailed(f"cannot write {output}: {exc.strerror or exc}") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, output)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ScanFailed(f"cannot write {output}: {exc.strerror or exc}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


class Run:
    """Analysis and writing of one scan or inspection, fed one Observation at a time.

    Observations wait in a ``HostGrouper`` until every endpoint of their host has reported,
    then the host is judged as a whole (its banners and listeners set its role).
    """

    def __init__(self, ctx: AnalysisContext, writer: Writer, inventory: Inventory) -> None:
        self.ctx, self.writer, self.inventory = ctx, writer, inventory
        self.grouper = HostGrouper()
        self.progress: Progress | None = None

    def consume(self, observation: Observation) -> None:
        group = self.grouper.add(observation)
        if group is not None:
            self._judge(group)

    def flush(self) -> None:
        """Judge the hosts still waiting for endpoints (an interrupted scan): what came is kept."""
        for group in self.grouper.flush():
            self._judge(group)

    def _judge(self, group: list[Observation]) -> None:
        for report in analyze_host(group, self.ctx):
            self.record(report)

    def record(self, report: EndpointReport) -> None:
        """Count and write one report (analysed here, or by a worker process)."""
        if self.inventory.add(report):
            self.writer.add(report)
        if self.progress is not None:
            self.progress.update(report)


@contextmanager
def reporting(
    ctx: AnalysisContext,
    fmt: OutputFormat | None,
    output: Path | None,
    started: datetime,
    *,
    show_all: bool = False,
    session: RunSession | None = None,
    discard: bool = False,
) -> Iterator[Run]:
    """A Run whose writer is finished, and whose output file is committed, when the block ends.

    ``session``: also record every listed endpoint in the history store. ``discard``: render
    the inventory nowhere (``--only-changes`` without ``-o``).
    """
    chosen = pick_format(fmt, output)
    clock = time.monotonic()
    with _output_for(chosen, output, discard) as out:
        writer = make_writer(
            chosen,
            out,
            RunInfo(__version__, started, ctx.now),
            color=use_color(chosen, output) and not discard,
            path=output if chosen is OutputFormat.PROMETHEUS else None,
            spool=DiskSpool,
        )
        if session is not None:
            from scanner.store.recorder import RecordingWriter

            writer = RecordingWriter(writer, session.recorder)
        inventory = Inventory(
            spool=DiskSpool,
            show_all=show_all,
            now=ctx.now,
            last_public_clientauth_day=ctx.policy.last_public_clientauth_day,
        )
        run = Run(ctx, writer, inventory)
        yield run
        run.flush()
        writer.finish(run.inventory, time.monotonic() - clock)


@contextmanager
def _output_for(chosen: OutputFormat, output: Path | None, discard: bool) -> Iterator[TextIO]:
    if discard:
        with open(os.devnull, "w", encoding="utf-8") as sink:
            yield sink
    elif chosen is OutputFormat.PROMETHEUS and output is not None:
        # prometheus_client's write_to_textfile writes the file itself, atomically
        try:
            yield io.StringIO()
        except OSError as exc:
            raise ScanFailed(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        with open_output(output) as out:
            yield out


# --- scan ---------------------------------------------------------------------------------

RoleOption = Annotated[
    Role | None,
    typer.Option(
        "--role",
        help="Role of every target without one in its CSV "
        "row: expressway-c, expressway-e, expressway (C or E), cucm, "
        "cube, server. Default: expressway.",
        show_default=False,
    ),
]
RootsOption = Annotated[
    Path | None,
    typer.Option(
        "--public-roots",
        metavar="PEM",
        help="Bundle of roots that define 'public' (default: Mozilla's, from certifi).",
        show_default=False,
    ),
]
AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="ISO-DATE",
        help="Evaluate as of this date or date-time (UTC), e.g. 2027-03-15: what is broken on that day?",
        show_default=False,
    ),
]
WarnOption = Annotated[
    int | None,
    typer.Option(
        "--warn-days",
        min=0,
        metavar="N",
        help="Expiry warning window in days (policy default: 30).",
        show_default=False,
    ),
]
FormatOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "-f",
        "--format",
        help="Output format. Default: table on a terminal, else json (or from -o's extension).",
        show_default=False,
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "-o",
        "--output",
        metavar="FILE",
        help="Write here (atomically) instead of stdout.",
        show_default=False,
    ),
]
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        "--policy",
        metavar="FILE",
        help="Policy data (links, releases, dates, CA cut-offs) to use instead of the packaged one; "
        "same schema as 'ekuscan policy show' prints.",
        show_default=False,
    ),
]
FailOnOption = Annotated[
    FailOn, typer.Option("--fail-on", help="Exit 1 when any endpoint is at or above this verdict.")
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="EKUSCAN_DB",
        metavar="PATH|URL",
        help="History database: a SQLite file (scan creates it) or a postgresql:// URL, one database "
        "for several scanners.",
        show_default=False,
    ),
]


@app.command()
def scan(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TARGET",
            help="host, host:port, "
            "[v6]:port, address, CIDR block (10.20.0.0/22) or "
            "range (10.1.1.10-10.1.1.90).",
            show_default=False,
        ),
    ] = None,
    input_csv: Annotated[
        Path | None,
        typer.Option(
            "-i",
            "--input",
            metavar="FILE.csv",
            help="Targets from a CSV with the header target,ports,role,sni,label.",
            show_default=False,
        ),
    ] = None,
    ports: Annotated[
        str | None,
        typer.Option(
            "-p",
            "--ports",
            metavar="PORTS",
            help="Ports for targets without one, e.g. 5061,7001 or 7001-7003 [default: 5061,7001,8443,443].",
            show_default=False,
        ),
    ] = None,
    role: RoleOption = None,
    sni: Annotated[
        str | None,
        typer.Option(
            "--sni",
            metavar="NAME",
            help="SNI name to send to every target without one (never sent to bare addresses otherwise).",
            show_default=False,
        ),
    ] = None,
    public_roots: RootsOption = None,
    at: AtOption = None,
    warn_days: WarnOption = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "-c",
            "--concurrency",
            min=1,
            max=65536,
            help="Connections in flight at once, all worker processes together.",
        ),
    ] = DEFAULT_CONCURRENCY,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.05,
            max=600,
            metavar="SECONDS",
            help="Time allowed for the TLS handshake and for the SIP probe.",
        ),
    ] = 5.0,
    connect_timeout: Annotated[
        float | None,
        typer.Option(
            "--connect-timeout",
            min=0.05,
            max=600,
            metavar="SECONDS",
            help="Time allowed for the TCP connect [default: --timeout].",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    fail_on: FailOnOption = FailOn.BREAKS,
    policy_file: PolicyOption = None,
    show_all: Annotated[
        bool,
        typer.Option(
            "--show-all",
            help="Also list closed and silent endpoints of ranges (they are always counted in the summary).",
        ),
    ] = False,
    # --- history store and cron options (issue 5) ---
    db: DbOption = None,
    only_changes: Annotated[
        bool,
        typer.Option(
            "--only-changes",
            help="Print only what changed since this scanner's previous complete run in --db (nothing "
            "when nothing did): text, or JSON with -f json. The inventory still goes to -o FILE if given.",
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="When another run holds the --db lock, wait for it to end (at most 6 hours) "
            "instead of exiting 3.",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "-q", "--quiet", help="No progress line and no informational lines on stderr; errors still print."
        ),
    ] = False,
    scanner_name: Annotated[
        str | None,
        typer.Option(
            "--scanner-name",
            envvar="EKUSCAN_SCANNER",
            metavar="NAME",
            help="Name of this scanner in --db (several jump hosts can share one database) "
            "[default: this machine's host name].",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=MAX_WORKERS,
            metavar="N",
            help="Processes that probe and analyse, each a share of the hosts "
            "[default: one per CPU for sweeps of 2048 probes or more, else 1].",
            show_default=False,
        ),
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            min=0.1,
            metavar="N",
            help="At most N new connections per second, all workers together [default: no cap].",
            show_default=False,
        ),
    ] = None,
    max_per_host: Annotated[
        int | None,
        typer.Option(
            "--max-per-host",
            min=1,
            metavar="N",
            help="At most N connections to one address at once [default: no cap].",
            show_default=False,
        ),
    ] = None,
    retries: Annotated[
        int,
        typer.Option(
            "--retries", min=0, max=10, metavar="N", help="Retry a timed-out probe N times, with backoff."
        ),
    ] = 0,
    first_address_only: Annotated[
        bool,
        typer.Option(
            "--first-address-only",
            help="For a name with several addresses, scan only the first (default: every address).",
        ),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Scan only part K of N of the targets (whole hosts), so N jump hosts can share one list.",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Confirm a sweep of more than 2^20 addresses."),
    ] = False,
) -> int:
    """Scan hosts and ranges over TLS and write the inventory of which links break.

    Examples:

      ekuscan scan expe.example.com

      ekuscan scan 10.20.0.0/24 -p 5061,7001

      ekuscan scan -i targets.csv -f json -o inventory.json
    """
    if not targets and input_csv is None:
        raise UsageFailure("nothing to scan: give TARGET arguments or -i FILE.csv")
    if only_changes and not db:
        raise UsageFailure(
            "--only-changes needs --db (or EKUSCAN_DB): changes are since the run recorded there"
        )
    if only_changes and fmt not in (None, OutputFormat.TABLE, OutputFormat.JSON) and output is None:
        raise UsageFailure(f"--only-changes prints text or json; -f {fmt} needs -o FILE for the inventory")
    scanner = _scanner_name(scanner_name)
    started = datetime.now(UTC)
    try:
        default_ports = parse_ports(ports) if ports else DEFAULT_PORTS
        specs = _specs(targets or [], input_csv, default_ports, role, sni)
        check_sweep_size(specs, yes)
        chosen_shard = parse_shard(shard) if shard is not None else None
    except TargetError as exc:
        raise UsageFailure(str(exc)) from None
    policy = load_policy(policy_file)
    roots_source, roots_pem = read_roots(public_roots)
    ctx = _analysis_context(public_roots, at, warn_days, policy, started, (roots_source, roots_pem))
    probes = _probe_estimate(specs, chosen_shard)
    processes = workers if workers is not None else default_workers(probes)
    usable = ensure_fd_limit(concurrency)
    if usable < concurrency:
        print(
            f"ekuscan: warning: the open-file limit allows only {usable} connections at once "
            f"(asked for {concurrency}); raise it with 'ulimit -n'",
            file=sys.stderr,
        )
    processes = min(processes, usable)
    config = PoolConfig(
        concurrency=usable,
        probe=ProbeConfig(connect_timeout=connect_timeout or timeout, timeout=timeout),
        rate=rate,
        max_per_host=max_per_host,
        retries=retries,
        first_address_only=first_address_only,
    )
    stopped: ExitCode | None = None
    log = runlog.Log(quiet=quiet)
    with history_run(db, scanner, wait, started, ctx.now, log) as session:
        with reporting(
            ctx,
            fmt,
            output,
            started,
            show_all=show_all,
            session=session,
            discard=only_changes and output is None,
        ) as run:
            if not quiet and sys.stderr.isatty():
                run.progress = Progress(sys.stderr, probes, approximate=chosen_shard is not None)
            try:
                inputs = AnalysisInputs(roots_pem, ctx.now, ctx.warn, policy.document)

                async def body() -> None:
                    async with trio.open_nursery() as nursery:
                        if run.progress is not None:
                            nursery.start_soon(keep_drawing, run.progress)
                        if session is not None:
                            nursery.start_soon(keep_recording, session.recorder)
                        if processes == 1:
                            await consume_scan(sweep(specs, chosen_shard), config, run.consume)
                        else:
                            await merge_workers(
                                specs, chosen_shard, config, inputs, processes, run.record, ctx
                            )
                        nursery.cancel_scope.cancel()  # done: stop the progress line

                run_stoppable(body, _PASSTHROUGH)
            except KeyboardInterrupt:
                stopped = ExitCode.INTERRUPTED  # fall through: what was found is written, and is valid
            except ScanTerminated:
                stopped = ExitCode.TERMINATED
            except WorkerFailed as exc:
                raise ScanFailed(str(exc)) from None
            finally:
                if run.progress is not None:
                    run.progress.close()
        if session is not None:
            _finish_history(session, stopped, run.inventory, log, only_changes, fmt)
    if stopped is not None:
        if not quiet:
            print("ekuscan: stopped; the output holds what was found so far", file=sys.stderr)
        return stopped
    return exit_code_for(run.inventory.worst_verdict(), fail_on)


# Failures with their own exit path in main(), which must not arrive wrapped in exception groups:
# a worker that died (exit 3), a reader that went away (head, less: exit 0).
_PASSTHROUGH: tuple[type[Exception], ...] = (WorkerFailed, BrokenPipeError)


def _probe_estimate(specs: list[TargetSpec], shard: Shard | None) -> int:
    """Probes in the sweep (before duplicates are dropped and names resolved; a shard's share)."""
    total = sum(spec.probe_count for spec in specs)
    return total if shard is None else -(-total // shard.count)


def _specs(
    targets: list[str], input_csv: Path | None, ports: tuple[int, ...], role: Role | None, sni: str | None
) -> list[TargetSpec]:
    specs = [parse_target(t, ports, role, sni) for t in targets]
    if input_csv is not None:
        try:
            with input_csv.open(encoding="utf-8-sig") as handle:
                specs += parse_csv(handle, str(input_csv), ports, role)
        except OSError as exc:
            raise TargetError(f"{input_csv}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise TargetError(f"{input_csv}: not a UTF-8 text file") from None
    return specs


def load_policy(path: Path | None) -> Policy:
    """The packaged policy, or a user's file: every problem in it is reported, one per line."""
    if path is None:
        return load_packaged_policy()
    try:
        return load_policy_file(path)
    except OSError as exc:
        raise UsageFailure(f"--policy: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageFailure(f"--policy: {path} is not a UTF-8 text file") from None
    except PolicyError as exc:
        count = len(exc.problems)
        raise UsageFailure(
            f"--policy: {path} is not a valid policy ({count} problem{'s' if count != 1 else ''}):",
            tuple(f"{path}: {problem}" for problem in exc.problems),
        ) from None


def _analysis_context(
    public_roots: Path | None,
    at: str | None,
    warn_days: int | None,
    policy: Policy,
    now: datetime,
    roots_read: tuple[Path, bytes] | None = None,
) -> AnalysisContext:
    return AnalysisContext(
        now=parse_at(at, now),
        warn=timedelta(days=policy.warn_days if warn_days is None else warn_days),
        roots=load_roots(public_roots) if roots_read is None else _roots_from(*roots_read),
        policy=policy,
    )


# --- history store: recording a scan (issue 5) ----------------------------------------------

WAIT_LIMIT_S = 6 * 3600  # --wait: the longest we wait for another run's lock


def _scanner_name(given: str | None) -> str:
    name = (given if given is not None else socket.gethostname()).strip()
    if not name or len(name) > 200 or any(not c.isprintable() for c in name):
        raise UsageFailure(f"--scanner-name: {name!r} is not a usable name (1-200 printable characters)")
    return name


def _open_store(db: str, *, must_exist: bool = False) -> SqlStore:
    from scanner.store import StoreError, is_postgres, open_store

    if must_exist and not is_postgres(db) and not Path(db.removeprefix("sqlite:")).is_file():
        raise UsageFailure(f"--db: no history database at {db}")
    try:
        return open_store(db)
    except StoreError as exc:
        raise ScanFailed(str(exc)) from None


def _command_line() -> str:
    """argv as recorded with a run, passwords of database URLs masked."""
    from scanner.store import redact

    return " ".join(redact(arg) if "://" in arg else arg for arg in sys.argv[1:])


async def keep_recording(recorder: Recorder) -> None:
    """Commit a batch that waits for more reports every few seconds, until cancelled: in a long
    tail of timeouts no report comes to trigger it, and a run killed then would lose it."""
    while True:
        await trio.sleep(recorder.interval_s)
        recorder.flush_if_due()


@contextmanager
def history_run(
    db: str | None, scanner: str, wait: bool, started: datetime, evaluated: datetime, log: runlog.Log
) -> Iterator[RunSession | None]:
    """A recorded run (or None without --db): locked, opened, and closed however the block ends."""
    if not db:
        yield None
        return
    from scanner.store import RunStatus, StoreError, StoreLocked
    from scanner.store.session import start_run

    store = _open_store(db)
    try:
        try:
            try:
                store.lock(scanner)
            except StoreLocked as exc:
                if not wait:
                    raise ScanFailed(str(exc)) from None
                log.info("waiting-for-lock", scanner=scanner, db=store.description)
                store.lock(scanner, WAIT_LIMIT_S)
            session = start_run(store, scanner, started, evaluated, __version__, _command_line())
        except StoreError as exc:
            raise ScanFailed(str(exc)) from None
        log.info("run-started", run=session.run_id, scanner=scanner, db=store.description)
        for old in session.abandoned:
            log.warning(
                "run-abandoned", run=old, scanner=scanner, reason="its process ended before it finished"
            )
        try:
            yield session
        except BaseException as exc:
            if session.status is None:  # record the end, keep the error
                status = RunStatus.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
                try:
                    session.finish(status, datetime.now(UTC))
                except StoreError:
                    pass  # the first error is the one to report
            raise
    finally:
        store.close()


def _finish_history(
    session: RunSession,
    stopped: ExitCode | None,
    inventory: Inventory,
    log: runlog.Log,
    only_changes: bool,
    fmt: OutputFormat | None,
) -> None:
    from scanner.core.changes import changes_document
    from scanner.core.changes import render_text as render_changes
    from scanner.store import RunStatus, StoreError

    status = {
        None: RunStatus.COMPLETE,
        ExitCode.INTERRUPTED: RunStatus.INTERRUPTED,
        ExitCode.TERMINATED: RunStatus.TERMINATED,
    }.get(stopped, RunStatus.FAILED)
    try:
        final = session.finish(status, datetime.now(UTC))
    except StoreError as exc:
        raise ScanFailed(str(exc)) from None
    hosts = inventory.summary().hosts_by_verdict
    log.info(
        "run-recorded",
        run=session.run_id,
        scanner=session.scanner,
        status=final.value,
        endpoints=session.recorder.recorded,
        hosts=sum(hosts.values()),
        breaks=hosts["breaks"],
        at_risk=hosts["at-risk"],
    )
    if session.recorder.error is not None:
        raise ScanFailed(f"{session.recorder.error}; run {session.run_id} is recorded as failed")
    if not only_changes:
        return
    if final is not RunStatus.COMPLETE:
        log.info("changes-skipped", run=session.run_id, reason="the run did not complete")
        return
    try:
        changes = session.changes()
    except StoreError as exc:
        raise ScanFailed(str(exc)) from None
    _log_changes(log, changes)
    if fmt is OutputFormat.JSON:
        print(json.dumps(changes_document([changes]), ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(render_changes(changes))
    sys.stdout.flush()


def _log_changes(log: runlog.Log, changes: Changes) -> None:
    log.info(
        "changes",
        run=changes.after.id,
        since=changes.before.id if changes.before else "none",
        new_breakages=len(changes.new_breakages),
        resolved_breakages=len(changes.resolved_breakages),
        certificates_changed=len(changes.certificate_changes),
        appeared=len(changes.appeared),
        vanished=len(changes.vanished),
        verdicts_changed=len(changes.verdict_changes),
        software_changed=len(changes.software_changes),
    )


# --- inspect ------------------------------------------------------------------------------


@app.command()
def inspect(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE...",
            help="PEM or DER files: one certificate or a chain, leaf first; several files are read in order.",
            show_default=False,
        ),
    ],
    role: RoleOption = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", metavar="DNS-NAME", help="Check that the leaf covers this name.", show_default=False
        ),
    ] = None,
    public_roots: RootsOption = None,
    at: AtOption = None,
    warn_days: WarnOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    fail_on: FailOnOption = FailOn.BREAKS,
    policy_file: PolicyOption = None,
    release: Annotated[
        str | None,
        typer.Option(
            "--release",
            metavar="XVERSION",
            help="Judge as if the certificate were installed on this Expressway release, e.g. X15.4 "
            "(links and release findings follow it).",
            show_default=False,
        ),
    ] = None,
) -> int:
    """Judge certificate files offline, with the same rules as a live scan.

    Example: ekuscan inspect new-cert.pem chain.pem --role expressway-c
    """
    started = datetime.now(UTC)
    chain: list[bytes] = []
    for path in files:
        try:
            chain += split_certificates(path.read_bytes())
        except OSError as exc:
            raise UsageFailure(f"{path}: {exc.strerror or exc}") from None
        except NoCertificateError:
            raise UsageFailure(f"{path}: no certificate found (expected PEM or DER)") from None
    ctx = _analysis_context(public_roots, at, warn_days, load_policy(policy_file), started)
    if release is not None:
        ctx = dataclasses.replace(ctx, assumed_software=_release_fingerprint(release))
    endpoint = Endpoint(
        target=" ".join(str(f) for f in files), host=str(files[0]), ip=None, port=0, role=role, sni=name
    )
    observation = Observation(endpoint, Status.OK, chain_der=tuple(chain))
    with reporting(ctx, fmt, output, started) as run:
        run.consume(observation)
    return exit_code_for(run.inventory.worst_verdict(), fail_on)


def _release_fingerprint(text: str) -> Fingerprint:
    try:
        version = Version.parse(text if text[:1] in "xX" else f"X{text}")
    except ValueError:
        raise UsageFailure(f"--release: {text!r} is not an Expressway release (e.g. X15.4)") from None
    return Fingerprint(Product.EXPRESSWAY, Version(version.parts, "X"), f"--release {text}")


# --- rules --------------------------------------------------------------------------------


@app.command()
def rules(
    code: Annotated[str | None, typer.Argument(help="Show one rule in full.", show_default=False)] = None,
) -> int:
    """List every finding code with its severity and what it means, or explain one with its fix."""
    if code is None:
        for r in EVERY_RULE:
            print(f"{r.code}  ({r.severity.label}): {r.summary}")
            for paragraph in _paragraphs(r.doc):
                print(textwrap.indent(textwrap.fill(paragraph, 100), "    "))
            print()
        print("'ekuscan rules CODE' shows one rule in full, with its fix.")
        return ExitCode.OK
    found = RULES_BY_CODE.get(code.upper())
    if found is None:
        raise UsageFailure(f"unknown finding code {code!r}; 'ekuscan rules' lists them")
    print(f"{found.code} ({found.severity.label}): {found.summary}\n")
    print(found.doc)
    if found.fix:
        print(f"\nFix: {found.fix}")
    return ExitCode.OK


def _paragraphs(doc: str) -> list[str]:
    return [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]


# --- policy -------------------------------------------------------------------------------

policy_app = typer.Typer(
    help="The policy data in force: links per role, releases, dates, CA cut-offs.",
    invoke_without_command=True,
    rich_markup_mode=None,
)
app.add_typer(policy_app, name="policy")


@policy_app.callback()
def _policy_root(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit(ExitCode.USAGE)


@policy_app.command("show")
def policy_show(policy_file: PolicyOption = None) -> int:
    """Print the policy in force (the packaged one, or --policy FILE after validation) as JSON.

    Save it, edit it, and pass it back with --policy FILE.
    """
    if policy_file is None:
        print(packaged_policy_text(), end="")
        return ExitCode.OK
    policy = load_policy(policy_file)
    print(json.dumps(policy.document, indent=1, ensure_ascii=False))
    return ExitCode.OK


# --- diff and history (issue 5) ------------------------------------------------------------


class ReportFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


ReportFormatOption = Annotated[
    ReportFormat, typer.Option("-f", "--format", help="table (text for people) or json (for machines).")
]


def _history_db(db: str | None) -> SqlStore:
    if not db:
        raise UsageFailure("--db (or EKUSCAN_DB) is required: which history database?")
    return _open_store(db, must_exist=True)


@app.command()
def diff(
    runs: Annotated[
        list[int] | None,
        typer.Argument(
            metavar="RUN_A RUN_B",
            help="Two run ids to compare [default: each scanner's last two complete runs].",
            show_default=False,
        ),
    ] = None,
    db: DbOption = None,
    scanner: Annotated[
        str | None,
        typer.Option("--scanner", metavar="NAME", help="Only this scanner's runs.", show_default=False),
    ] = None,
    fmt: ReportFormatOption = ReportFormat.TABLE,
) -> int:
    """What changed between two recorded runs: new and resolved breakages, certificates, endpoints, verdicts.

    Exit 0 when nothing changed, 1 when something did (like diff(1)).

    Example: ekuscan diff --db history.sqlite
    """
    if runs and len(runs) != 2:
        raise UsageFailure("give two run ids (RUN_A RUN_B), or none for the last two complete runs")
    from scanner.core.changes import changes_document
    from scanner.core.changes import render_text as render_changes
    from scanner.store import StoreError
    from scanner.store.session import compare_runs, default_pairs

    with _history_db(db) as store:
        try:
            if runs:
                found = []
                for n in runs:
                    run = store.run(n)
                    if run is None:
                        raise UsageFailure(f"no run {n} in {store.description}")
                    found.append(run)
                pairs = [(found[0], found[1])]
            else:
                pairs = default_pairs(store, scanner)
                if not pairs:
                    whose = f" of scanner {scanner!r}" if scanner else ""
                    raise UsageFailure(
                        f"nothing to compare: {store.description} holds fewer than two complete runs{whose}"
                    )
            comparisons = [compare_runs(store, a, b) for a, b in pairs]
        except StoreError as exc:
            raise ScanFailed(str(exc)) from None
    if fmt is ReportFormat.JSON:
        print(json.dumps(changes_document(comparisons), ensure_ascii=False, indent=2))
    else:
        for changes in comparisons:
            text = render_changes(changes)
            if not text:
                assert changes.before is not None
                text = f"no changes from run {changes.before.id} to run {changes.after.id}\n"
            sys.stdout.write(text)
    return ExitCode.FINDINGS if any(not c.empty for c in comparisons) else ExitCode.OK


def _host_port(text: str) -> tuple[str, int | None]:
    """HOST, HOST:PORT, [V6]:PORT or a bare V6 address."""
    raw = text.strip()
    host, port_text = raw, ""
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    if not host:
        raise UsageFailure(f"bad endpoint {text!r}: expected HOST or HOST:PORT")
    try:
        host = str(ipaddress.ip_address(host))  # the form the store holds: 2001:db8::1, not 2001:0db8:0:0::1
    except ValueError:
        host = host.lower().rstrip(".")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageFailure(f"bad port in {text!r}")
    return host, int(port_text)


@app.command()
def history(
    endpoint: Annotated[
        str,
        typer.Argument(
            metavar="HOST[:PORT]",
            help="A name or address, with a port or for all its ports.",
            show_default=False,
        ),
    ],
    db: DbOption = None,
    fmt: ReportFormatOption = ReportFormat.TABLE,
) -> int:
    """One endpoint's certificates over time, from every scanner's recorded runs.

    Exit 0 when something was found, 1 when the database holds no observation of it.

    Example: ekuscan history expe.example.com:7001 --db history.sqlite
    """
    from scanner.core.changes import certificate_periods, periods_document, render_periods
    from scanner.store import StoreError
    from scanner.store.session import label

    host, port = _host_port(endpoint)
    with _history_db(db) as store:
        try:
            sightings = store.history(host, port)
            runs = {r.id: r for r in store.runs()}
        except StoreError as exc:
            raise ScanFailed(str(exc)) from None
    periods = certificate_periods((label(runs[run_id]), doc) for run_id, doc in sightings)
    if fmt is ReportFormat.JSON:
        print(json.dumps(periods_document(periods), ensure_ascii=False, indent=2))
    elif periods:
        sys.stdout.write(render_periods(periods))
    if not periods:
        print(f"ekuscan: no observation of {endpoint} in {db}", file=sys.stderr)
        return ExitCode.FINDINGS
    return ExitCode.OK


# --- lab ----------------------------------------------------------------------------------


@app.command()
def lab(
    base: Annotated[
        str, typer.Option("--base", metavar="ADDRESS", help="Hosts get base+1, base+2, ... (loopback only).")
    ] = "127.0.2.0",
    write_targets: Annotated[
        Path | None,
        typer.Option(
            "--write-targets",
            metavar="FILE",
            help="Write the lab's endpoints as a target CSV once they listen.",
            show_default=False,
        ),
    ] = None,
    public_root_out: Annotated[
        Path | None,
        typer.Option(
            "--public-root-out",
            metavar="FILE",
            help="Write the lab's public root here (default: beside --write-targets).",
            show_default=False,
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            min=1,
            metavar="SECONDS",
            help="Stop after this long (default: until Ctrl-C).",
            show_default=False,
        ),
    ] = None,
) -> int:
    """Serve the built-in lab: a simulated Expressway estate in trouble, on loopback."""
    try:
        base_ip = ipaddress.ip_address(base)
    except ValueError:
        raise UsageFailure(f"--base: {base!r} is not an address") from None
    if not base_ip.is_loopback:
        raise UsageFailure(f"--base: {base} is not a loopback address; the lab serves loopback only")
    pki = labmod.LabPKI.generate(datetime.now(UTC))
    lab_plan = labmod.make_plan(pki, base)
    if public_root_out is None and write_targets is not None:
        public_root_out = write_targets.with_name(write_targets.stem + "-public-root.pem")

    async def main() -> None:
        with trio.move_on_after(duration if duration is not None else float("inf")):
            async with trio.open_nursery() as nursery:
                services = await nursery.start(labmod.serve_lab, lab_plan)
                _announce(lab_plan, services, write_targets, public_root_out)

    try:
        run_trio(main)
    except KeyboardInterrupt:
        print("ekuscan lab: stopped", file=sys.stderr)
    except OSError as exc:
        raise ScanFailed(f"the lab cannot listen: {exc.strerror or exc}") from None
    return ExitCode.OK


def _announce(
    lab_plan: labmod.LabPlan,
    services: list[labmod.BoundService],
    write_targets: Path | None,
    public_root_out: Path | None,
) -> None:
    if public_root_out is not None:
        with open_output(public_root_out) as out:
            out.write(lab_plan.pki.public_root.pem.decode())
    if write_targets is not None:
        with open_output(write_targets) as out:
            out.write(labmod.targets_csv(services))
    print("ekuscan lab: serving (Ctrl-C stops it)")
    for note in lab_plan.notes:
        print(f"  note: {note}")
    described: set[str] = set()
    for s in services:
        about = "" if s.host.name in described else s.host.about
        described.add(s.host.name)
        kind = s.service.behaviour.value
        print(f"  {s.target:<20} {s.host.role.value:<13} {s.host.name:<13} {kind:<10} {about}")
    if write_targets is not None:
        roots = f" --public-roots {public_root_out}" if public_root_out else ""
        print(f"scan it with: ekuscan scan -i {write_targets}{roots}")
    sys.stdout.flush()


# --- entry point --------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; every way out goes through one exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="ekuscan", standalone_mode=False)
    except UsageFailure as exc:
        print(f"ekuscan: error: {_one_line(str(exc))}", file=sys.stderr)
        for problem in exc.problems:
            print(f"ekuscan: error: {_one_line(problem)}", file=sys.stderr)
        sys.exit(ExitCode.USAGE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # typer's own usage errors: bad option, missing argument
        print(f"ekuscan: error: {_one_line(exc.format_message())}", file=sys.stderr)
        sys.exit(ExitCode.USAGE if getattr(exc, "exit_code", 2) == 2 else ExitCode.FAILED)
    except ScanFailed as exc:
        print(f"ekuscan: error: {_one_line(str(exc))}", file=sys.stderr)
        sys.exit(ExitCode.FAILED)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader (head, less) went away: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(ExitCode.OK)
    sys.exit(int(result) if isinstance(result, int) else ExitCode.OK)


__all__ = ["ExitCode", "app", "main"]
