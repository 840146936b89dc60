"""Informational lines on stderr, one event per line in a format that stays put for cron and journald.

    ekuscan: info: run-recorded run=12 scanner=jump1 status=complete endpoints=14 hosts=8 breaks=3

The prefix, level and event name come first; then ``key=value`` pairs, values quoted as JSON
strings when they hold spaces, quotes, ``=`` or anything unprintable (JSON's ASCII escapes, so
a value is always one line and never drives the terminal; the whole line then passes
``report.safety.visible`` like every line for people). Error lines keep the CLI's own one-line
form (``ekuscan: error: ...``). ``--quiet`` silences info lines, never warnings or errors.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TextIO

from scanner.report.safety import visible

_BARE = re.compile(r"[^\s\"'=]+")


def format_value(value: object) -> str:
    """The value bare when it is one printable word, else a JSON string (ASCII: one line, always)."""
    text = str(value)
    return text if _BARE.fullmatch(text) and text.isprintable() else json.dumps(text)


def line(level: str, event: str, fields: dict[str, object]) -> str:
    pairs = "".join(f" {key}={format_value(value)}" for key, value in fields.items() if value is not None)
    return visible(f"ekuscan: {level}: {event}{pairs}")


class Log:
    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream

    def _emit(self, text: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(text + "\n")
        stream.flush()

    def info(self, event: str, **fields: object) -> None:
        if not self.quiet:
            self._emit(line("info", event, fields))

    def warning(self, event: str, **fields: object) -> None:
        self._emit(line("warning", event, fields))
