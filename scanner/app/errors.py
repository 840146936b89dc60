"""How an application call fails for its user: bad input (exit 2), or a run that cannot go on (exit 3).

Messages often quote what the user or a server wrote (a CSV cell, a path, a database's error);
``error_line`` is how the CLI prints them: one line, controls shown as escapes (report.safety).
"""

from __future__ import annotations

from scanner.report.safety import one_line


class ScanFailed(Exception):
    """The run cannot go on (exit 3); the message is one line."""


class UsageFailure(Exception):
    """Bad arguments or input (exit 2); the message is one line that names the culprit.

    ``problems`` (a bad policy file) are printed one per line after it.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


def error_line(message: str) -> str:
    """``ekuscan: error: MESSAGE`` on one line, every control character of the message escaped."""
    return f"ekuscan: error: {one_line(message)}"
