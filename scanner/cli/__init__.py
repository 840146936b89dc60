"""The command line: typer options in, one application call, an exit code out.

The only place that reads the clock for "now", prints usage errors and picks exit codes.
"""

from scanner.cli.main import app, main

__all__ = ["app", "main"]
