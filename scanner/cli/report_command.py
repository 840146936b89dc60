"""``ekuscan report``: its options, turned into a ``ReportRequest`` for ``app.report.run_report``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from scanner.app.defaults import DEFAULT_MAX_AGE_DAYS
from scanner.app.startup import pause_collections
from scanner.cli.options import (
    AtOption,
    DbOption,
    FailOnOption,
    FormatOption,
    IntermediatesOption,
    OutputOption,
    PolicyOption,
    RootsOption,
    WarnOption,
)
from scanner.cli.root import FailOn, exit_code_for

ScannersOption = Annotated[
    list[str] | None,
    typer.Option(
        "--scanner",
        metavar="NAME",
        help="Only what these scanners saw (repeat for several) [default: every scanner in --db].",
        show_default=False,
    ),
]
MaxAgeOption = Annotated[
    float,
    typer.Option(
        "--max-age",
        metavar="DAYS",
        help="Endpoints last seen longer ago than this are listed as stale (STALE_OBSERVATION).",
    ),
]

WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        metavar="N",
        help="Processes that judge the hosts [default: one per CPU for 2048 stored observations or "
        "more, else 1].",
        show_default=False,
    ),
]


def report(
    db: DbOption = None,
    scanners: ScannersOption = None,
    max_age: MaxAgeOption = DEFAULT_MAX_AGE_DAYS,
    at: AtOption = None,
    warn_days: WarnOption = None,
    policy_file: PolicyOption = None,
    public_roots: RootsOption = None,
    intermediates: IntermediatesOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    fail_on: FailOnOption = FailOn.BREAKS,
    workers: WorkersOption = None,
) -> int:
    """The whole estate from the history store: every endpoint's latest observation, from any
    scanner, judged now (or --at) by today's rules and policy, without scanning again.

    Same output, exit codes and --fail-on as scan.

    Examples:

      ekuscan report --db postgresql://ekuscan@db/ekuscan -f prometheus -o /var/lib/node_exporter/ekuscan.prom

      ekuscan report --db history.sqlite --at 2027-03-15 --policy my-policy.json
    """
    pause_collections()  # until the start-up heap is frozen (scanner.app.startup)
    from scanner.app.report import ReportRequest, run_report  # loaded when run, not for --help

    request = ReportRequest(
        db=db,
        scanners=tuple(scanners or ()),
        max_age_days=max_age,
        at=at,
        warn_days=warn_days,
        policy_file=policy_file,
        public_roots=public_roots,
        intermediates=intermediates,
        fmt=fmt,
        output=output,
        workers=workers,
    )
    return exit_code_for(run_report(request, datetime.now(UTC)).worst, fail_on)
