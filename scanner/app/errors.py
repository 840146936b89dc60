"""How an application call fails for its user: bad input (exit 2), or a run that cannot go on (exit 3)."""

from __future__ import annotations


class ScanFailed(Exception):
    """The run cannot go on (exit 3); the message is one line."""


class UsageFailure(Exception):
    """Bad arguments or input (exit 2); the message is one line that names the culprit.

    ``problems`` (a bad policy file) are printed one per line after it.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems
