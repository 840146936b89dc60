"""``ekuscan scan``: its options, turned into a ``ScanRequest`` for ``app.scan.run_scan``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scanner.app.defaults import DEFAULT_CONCURRENCY, MAX_WORKERS
from scanner.app.startup import pause_collections
from scanner.cli.client_cert_options import (
    ClientCertOption,
    ClientChainOption,
    ClientKeyOption,
    ClientKeyPasswordFileOption,
    client_cert_files,
)
from scanner.cli.options import (
    AtOption,
    DbOption,
    FailOnOption,
    FetchIssuersOption,
    FormatOption,
    IntermediatesOption,
    OutputOption,
    PolicyOption,
    RoleOption,
    RootsOption,
    WarnOption,
)
from scanner.cli.root import ExitCode, FailOn, exit_code_for

if TYPE_CHECKING:
    from scanner.app.scan import ScanOutcome

TargetsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="TARGET",
        help="host, host:port, [v6]:port, address, CIDR block (10.20.0.0/22) or range (10.1.1.10-10.1.1.90).",
        show_default=False,
    ),
]

InputCsvOption = Annotated[
    Path | None,
    typer.Option(
        "-i",
        "--input",
        metavar="FILE",
        help="Targets from a file, told by its content: a CSV with the header target,ports,role,sni,label, "
        "or nmap (-oX, -oG), masscan (-oL, -oJ) or zmap (-f saddr,sport) output, whose open TCP ports "
        "are scanned (only those in -p, if given).",
        show_default=False,
    ),
]

SniFromInputOption = Annotated[
    bool,
    typer.Option(
        "--sni-from-input",
        help="With nmap output (-i): send the host name nmap gives an address as its SNI (the name "
        "nmap was given, else the reverse-DNS name).",
    ),
]

PortsOption = Annotated[
    str | None,
    typer.Option(
        "-p",
        "--ports",
        metavar="PORTS",
        help="Ports for targets without one, e.g. 5061,7001 or 7001-7003 [default: 5061,7001,8443,443]; "
        "of the open ports in nmap, masscan or zmap output, only these.",
        show_default=False,
    ),
]

SniOption = Annotated[
    str | None,
    typer.Option(
        "--sni",
        metavar="NAME",
        help="SNI name to send to every target without one (never sent to bare addresses otherwise).",
        show_default=False,
    ),
]

ConcurrencyOption = Annotated[
    int,
    typer.Option(
        "-c",
        "--concurrency",
        min=1,
        max=65536,
        help="Connections in flight at once, all worker processes together.",
    ),
]

TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.05,
        max=600,
        metavar="SECONDS",
        help="Time allowed for the TLS handshake and for the SIP probe.",
    ),
]

ConnectTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--connect-timeout",
        min=0.05,
        max=600,
        metavar="SECONDS",
        help="Time allowed for the TCP connect [default: --timeout].",
        show_default=False,
    ),
]

ShowAllOption = Annotated[
    bool,
    typer.Option(
        "--show-all",
        help="Also list closed and silent endpoints of ranges (they are always counted in the summary).",
    ),
]

OnlyChangesOption = Annotated[
    bool,
    typer.Option(
        "--only-changes",
        help="Print only what changed since this scanner's previous complete run in --db (nothing "
        "when nothing did): text, or JSON with -f json. The inventory still goes to -o FILE if given.",
    ),
]

WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="When another run holds the --db lock, wait for it to end (at most 6 hours) "
        "instead of exiting 3.",
    ),
]

QuietOption = Annotated[
    bool,
    typer.Option(
        "-q", "--quiet", help="No progress line and no informational lines on stderr; errors still print."
    ),
]

ScannerNameOption = Annotated[
    str | None,
    typer.Option(
        "--scanner-name",
        envvar="EKUSCAN_SCANNER",
        metavar="NAME",
        help="Name of this scanner in --db (several jump hosts can share one database) "
        "[default: this machine's host name].",
        show_default=False,
    ),
]

WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=MAX_WORKERS,
        metavar="N",
        help="Processes that probe and analyse, each a share of the hosts "
        "[default: one per 400 probes of the sweep, at most one per CPU core].",
        show_default=False,
    ),
]

RateOption = Annotated[
    float | None,
    typer.Option(
        "--rate",
        min=0.1,
        metavar="N",
        help="At most N new connections per second, all workers together [default: no cap].",
        show_default=False,
    ),
]

MaxPerHostOption = Annotated[
    int | None,
    typer.Option(
        "--max-per-host",
        min=1,
        metavar="N",
        help="At most N connections to one address at once [default: no cap].",
        show_default=False,
    ),
]

RetriesOption = Annotated[
    int,
    typer.Option(
        "--retries", min=0, max=10, metavar="N", help="Retry a timed-out probe N times, with backoff."
    ),
]

FirstAddressOnlyOption = Annotated[
    bool,
    typer.Option(
        "--first-address-only",
        help="For a name with several addresses, scan only the first (default: every address).",
    ),
]

ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="K/N",
        help="Scan only part K of N of the targets (whole hosts), so N jump hosts can share one list.",
        show_default=False,
    ),
]

YesOption = Annotated[
    bool,
    typer.Option("--yes", help="Confirm a sweep of more than 2^20 addresses."),
]


def _now() -> datetime:
    return datetime.now(UTC)


def scan(
    ctx: typer.Context,
    targets: TargetsArgument = None,
    input_csv: InputCsvOption = None,
    ports: PortsOption = None,
    role: RoleOption = None,
    sni: SniOption = None,
    sni_from_input: SniFromInputOption = False,
    public_roots: RootsOption = None,
    intermediates: IntermediatesOption = None,
    fetch_issuers: FetchIssuersOption = False,
    at: AtOption = None,
    warn_days: WarnOption = None,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    timeout: TimeoutOption = 5.0,
    connect_timeout: ConnectTimeoutOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    fail_on: FailOnOption = FailOn.BREAKS,
    policy_file: PolicyOption = None,
    show_all: ShowAllOption = False,
    db: DbOption = None,
    only_changes: OnlyChangesOption = False,
    wait: WaitOption = False,
    quiet: QuietOption = False,
    scanner_name: ScannerNameOption = None,
    workers: WorkersOption = None,
    rate: RateOption = None,
    max_per_host: MaxPerHostOption = None,
    retries: RetriesOption = 0,
    first_address_only: FirstAddressOnlyOption = False,
    shard: ShardOption = None,
    yes: YesOption = False,
    client_cert: ClientCertOption = None,
    client_key: ClientKeyOption = None,
    client_chain: ClientChainOption = None,
    client_key_password: ClientKeyPasswordFileOption = None,
) -> int:
    """Scan hosts and ranges over TLS and write the inventory of which links break.

    Examples:

      ekuscan scan expe.example.com

      ekuscan scan 10.20.0.0/24 -p 5061,7001

      ekuscan scan -i targets.csv -f json -o inventory.json

      ekuscan scan -i masscan.txt -p 5061,7001 -f jsonl -o sweep.jsonl

      ekuscan scan expe.example.com:7001 cucm.example.com:5061 --client-cert new.pem --client-key new.key
    """
    pause_collections()  # until the start-up heap is frozen (scanner.app.startup)
    from scanner.app.scan import ScanRequest, run_scan  # loaded when run, not for --help

    options = dict(ctx.params)  # ScanRequest's fields are named as the options are
    del options["fail_on"]
    preflight = [
        options.pop(name) for name in ("client_cert", "client_key", "client_chain", "client_key_password")
    ]
    request = ScanRequest(
        **{**options, "targets": tuple(targets or ())}, client_cert=client_cert_files(*preflight)
    )
    return _exit_code(run_scan(request, _now(), _now), fail_on)


def _exit_code(outcome: ScanOutcome, fail_on: FailOn) -> ExitCode:
    """A stopped run says how it was stopped; a finished one, whether anything reached --fail-on."""
    from scanner.app.scan import Stop

    if outcome.stopped is Stop.INTERRUPTED:
        return ExitCode.INTERRUPTED
    if outcome.stopped is Stop.TERMINATED:
        return ExitCode.TERMINATED
    return exit_code_for(outcome.worst, fail_on)
