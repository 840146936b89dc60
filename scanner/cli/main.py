"""The entry point: every command registered, and the one translator from what went wrong to an exit code."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer

from scanner.app.errors import ScanFailed, UsageFailure, error_line
from scanner.app.startup import resume_collections
from scanner.cli import commands, plain_values
from scanner.cli.listen_command import listen
from scanner.cli.report_command import report
from scanner.cli.root import ExitCode, app
from scanner.cli.scan_command import scan

# Every command, in the order the help lists them.
app.command()(scan)
app.command()(listen)
app.command()(commands.inspect)
app.command()(commands.rules)
app.add_typer(commands.policy_app, name="policy")
app.command()(commands.diff)
app.command()(commands.history)
app.command()(report)
app.command()(commands.lab)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI; every way out goes through one exit code."""
    try:
        _run(argv)
    finally:
        resume_collections()  # scan and report pause the collector; one that ends early is mended here


def _run(argv: list[str] | None) -> NoReturn:
    plain_values.install()  # well-formed values converted without pydantic: ~0.1 s of CPU per run
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="ekuscan", standalone_mode=False)
    except UsageFailure as exc:
        print(error_line(str(exc)), file=sys.stderr)
        for problem in exc.problems:
            print(error_line(problem), file=sys.stderr)
        sys.exit(ExitCode.USAGE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(ExitCode.INTERRUPTED)
    except typer.TyperException as exc:  # typer's own usage errors: bad option, missing argument
        print(error_line(exc.format_message()), file=sys.stderr)
        sys.exit(ExitCode.USAGE if getattr(exc, "exit_code", 2) == 2 else ExitCode.FAILED)
    except ScanFailed as exc:
        print(error_line(str(exc)), file=sys.stderr)
        sys.exit(ExitCode.FAILED)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader (head, less) went away: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(ExitCode.OK)
    sys.exit(int(result) if isinstance(result, int) else ExitCode.OK)


__all__ = ["ExitCode", "app", "main"]
