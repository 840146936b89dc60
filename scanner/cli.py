"""The command line: the only place that reads the clock, prints, and picks exit codes."""

from __future__ import annotations

import enum
import ipaddress
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, NoReturn, TextIO

import certifi
import trio
import typer

from scanner import __version__
from scanner import lab as labmod
from scanner.analysis import AnalysisContext, analyze
from scanner.certs import NoCertificateError, split_certificates
from scanner.inventory import Inventory
from scanner.models import Endpoint, EndpointReport, Observation, Role, Status, Verdict
from scanner.net import ProbeConfig
from scanner.policy import Policy, load_packaged_policy
from scanner.pool import (
    DEFAULT_CONCURRENCY,
    PoolConfig,
    ScanTerminated,
    consume_scan,
    ensure_fd_limit,
    run_stoppable,
    run_trio,
)
from scanner.progress import Progress, keep_drawing
from scanner.rules import ALL_RULES, RULES_BY_CODE
from scanner.targets import (
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
from scanner.trust import RootStore, load_pem_bundle
from scanner.workers import MAX_WORKERS, AnalysisInputs, WorkerFailed, default_workers, merge_workers, sweep
from scanner.writers import OutputFormat, RunInfo, Writer, make_writer


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
    """Bad arguments or input (exit 2); the message is one line that names the culprit."""


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
        suffix = output.suffix.lower().lstrip(".")
        return OutputFormat(suffix) if suffix in {"json", "jsonl", "csv"} else OutputFormat.TABLE
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
    """Analysis and writing of one scan or inspection, fed one Observation at a time."""

    def __init__(self, ctx: AnalysisContext, writer: Writer, inventory: Inventory) -> None:
        self.ctx, self.writer, self.inventory = ctx, writer, inventory
        self.progress: Progress | None = None

    def consume(self, observation: Observation) -> None:
        self.record(analyze(observation, self.ctx))

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
) -> Iterator[Run]:
    """A Run whose writer is finished, and whose output file is committed, when the block ends."""
    chosen = pick_format(fmt, output)
    clock = time.monotonic()
    with open_output(output) as out:
        writer = make_writer(
            chosen, out, RunInfo(__version__, started, ctx.now), color=use_color(chosen, output)
        )
        run = Run(ctx, writer, Inventory(show_all=show_all))
        yield run
        writer.finish(run.inventory, time.monotonic() - clock)


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
FailOnOption = Annotated[
    FailOn, typer.Option("--fail-on", help="Exit 1 when any endpoint is at or above this verdict.")
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
    show_all: Annotated[
        bool,
        typer.Option(
            "--show-all",
            help="Also list closed and silent endpoints of ranges (they are always counted in the summary).",
        ),
    ] = False,
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
    quiet: Annotated[
        bool,
        typer.Option("-q", "--quiet", help="No progress line and no informational messages on stderr."),
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
    started = datetime.now(UTC)
    try:
        default_ports = parse_ports(ports) if ports else DEFAULT_PORTS
        specs = _specs(targets or [], input_csv, default_ports, role, sni)
        check_sweep_size(specs, yes)
        chosen_shard = parse_shard(shard) if shard is not None else None
    except TargetError as exc:
        raise UsageFailure(str(exc)) from None
    policy = load_packaged_policy()
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
    with reporting(ctx, fmt, output, started, show_all=show_all) as run:
        if not quiet and sys.stderr.isatty():
            run.progress = Progress(sys.stderr, probes, approximate=chosen_shard is not None)
        try:
            inputs = AnalysisInputs(roots_pem, ctx.now, ctx.warn)

            async def body() -> None:
                async with trio.open_nursery() as nursery:
                    if run.progress is not None:
                        nursery.start_soon(keep_drawing, run.progress)
                    if processes == 1:
                        await consume_scan(sweep(specs, chosen_shard), config, run.consume)
                    else:
                        await merge_workers(specs, chosen_shard, config, inputs, processes, run.record, ctx)
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
    ctx = _analysis_context(public_roots, at, warn_days, load_packaged_policy(), started)
    endpoint = Endpoint(
        target=" ".join(str(f) for f in files), host=str(files[0]), ip=None, port=0, role=role, sni=name
    )
    observation = Observation(endpoint, Status.OK, chain_der=tuple(chain))
    with reporting(ctx, fmt, output, started) as run:
        run.consume(observation)
    return exit_code_for(run.inventory.worst_verdict(), fail_on)


# --- rules --------------------------------------------------------------------------------


@app.command()
def rules(
    code: Annotated[str | None, typer.Argument(help="Show one rule in full.", show_default=False)] = None,
) -> int:
    """List every finding code with its severity, or explain one."""
    if code is None:
        width = max(len(r.code) for r in ALL_RULES)
        for r in ALL_RULES:
            print(f"{r.code:<{width}}  {r.severity.label:<8}  {r.summary}")
        return ExitCode.OK
    found = RULES_BY_CODE.get(code.upper())
    if found is None:
        raise UsageFailure(f"unknown finding code {code!r}; 'ekuscan rules' lists them")
    print(f"{found.code} ({found.severity.label}): {found.summary}\n")
    print(found.doc)
    if found.fix:
        print(f"\nFix: {found.fix}")
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
