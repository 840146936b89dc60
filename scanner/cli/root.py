"""The ``ekuscan`` command itself: its typer app, the table of exit codes, and ``--fail-on``."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from scanner import __version__
from scanner.model import Verdict


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
    context: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """ekuscan: an inventory of which mutual-TLS links break, when, and why."""
    if context.invoked_subcommand is None:
        print(context.get_help())
        raise typer.Exit(ExitCode.USAGE)
