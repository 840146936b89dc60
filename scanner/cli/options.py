"""Options that several commands share, declared once so that their flags and help texts cannot drift."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.root import FailOn
from scanner.model import OutputFormat, Role

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
        help="Bundle of roots that define 'public' (default: Mozilla's, from certifi). A chain sent "
        "incomplete is completed first (packaged intermediates, --intermediates, --fetch-issuers).",
        show_default=False,
    ),
]
IntermediatesOption = Annotated[
    Path | None,
    typer.Option(
        "--intermediates",
        metavar="PEM",
        help="Intermediate CA certificates that complete chains a server sends incomplete, besides the "
        "packaged public ones (Mozilla's list, 2025-06-24): a fresher export, or a private CA's.",
        show_default=False,
    ),
]
FetchIssuersOption = Annotated[
    bool,
    typer.Option(
        "--fetch-issuers",
        help="Fetch the issuer a chain misses from the http:// AIA caIssuers URL its certificate names "
        "(each URL once per run; kept in --db for later runs). Off by default: no traffic but the probes.",
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


class ReportFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"


ReportFormatOption = Annotated[
    ReportFormat, typer.Option("-f", "--format", help="table (text for people) or json (for machines).")
]
