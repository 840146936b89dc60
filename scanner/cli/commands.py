"""The commands besides ``scan`` (inspect, rules, policy, diff, history, lab): thin calls into the app.

Each command imports its application module when it runs: typer reads every command's options at
start-up, and ``--version`` or ``rules`` need not load trio, OpenSSL or the analysis.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.options import (
    AtOption,
    DbOption,
    FailOnOption,
    FetchIssuersOption,
    FormatOption,
    IntermediatesOption,
    OutputOption,
    PolicyOption,
    ReportFormat,
    ReportFormatOption,
    RoleOption,
    RootsOption,
    WarnOption,
)
from scanner.cli.root import ExitCode, FailOn, exit_code_for
from scanner.model import Use


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
    intermediates: IntermediatesOption = None,
    fetch_issuers: FetchIssuersOption = False,
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
    judged_as: Annotated[
        Use | None,
        typer.Option(
            "--as",
            help="Judge the certificate on one side only: client (the role's client links, as "
            "'ekuscan listen' judges what a peer presents) or server [default: both].",
            show_default=False,
        ),
    ] = None,
) -> int:
    """Judge certificate files offline, with the same rules as a live scan.

    Example: ekuscan inspect new-cert.pem chain.pem --role expressway-c
    """
    from scanner.app.inspect import InspectRequest, run_inspect  # loaded when run, not for --help

    request = InspectRequest(
        tuple(files),
        role,
        name,
        public_roots,
        at,
        warn_days,
        fmt,
        output,
        policy_file,
        release,
        intermediates=intermediates,
        fetch_issuers=fetch_issuers,
        judged_as=judged_as,
    )
    return exit_code_for(run_inspect(request, datetime.now(UTC)), fail_on)


def rules(
    code: Annotated[str | None, typer.Argument(help="Show one rule in full.", show_default=False)] = None,
) -> int:
    """List every finding code with its severity and what it means, or explain one with its fix."""
    from scanner.app.catalogue import rules_text

    sys.stdout.write(rules_text(code))
    return ExitCode.OK


policy_app = typer.Typer(
    help="The policy data in force: links per role, releases, dates, CA cut-offs.",
    invoke_without_command=True,
    rich_markup_mode=None,
)


@policy_app.callback()
def _policy_root(context: typer.Context) -> None:
    if context.invoked_subcommand is None:
        print(context.get_help())
        raise typer.Exit(ExitCode.USAGE)


@policy_app.command("show")
def policy_show(policy_file: PolicyOption = None) -> int:
    """Print the policy in force (the packaged one, or --policy FILE after validation) as JSON.

    Save it, edit it, and pass it back with --policy FILE.
    """
    from scanner.app.catalogue import policy_text

    sys.stdout.write(policy_text(policy_file))
    return ExitCode.OK


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
    from scanner.app.history import diff_runs, diff_text  # the store loads only when used

    comparisons = diff_runs(db, runs, scanner)
    sys.stdout.write(diff_text(comparisons, fmt is ReportFormat.JSON))
    return ExitCode.FINDINGS if any(not c.empty for c in comparisons) else ExitCode.OK


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
    from scanner.app.history import endpoint_history, no_observation_line

    text, found = endpoint_history(db, endpoint, fmt is ReportFormat.JSON)
    sys.stdout.write(text)
    if not found:
        assert db is not None  # endpoint_history refuses a missing --db
        print(no_observation_line(endpoint, db), file=sys.stderr)
        return ExitCode.FINDINGS
    return ExitCode.OK


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
    intermediates_out: Annotated[
        Path | None,
        typer.Option(
            "--intermediates-out",
            metavar="FILE",
            help="Write the lab's public intermediates here, for --intermediates "
            "(default: beside --write-targets).",
            show_default=False,
        ),
    ] = None,
) -> int:
    """Serve the built-in lab: a simulated Expressway estate in trouble, on loopback."""
    from scanner.app.lab_service import LabRequest, run_lab

    run_lab(LabRequest(base, write_targets, public_root_out, duration, intermediates_out), datetime.now(UTC))
    return ExitCode.OK
