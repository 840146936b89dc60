"""The output formats (``-f``): a string enum that the writers, the application and the CLI share.

Here, not beside the writers, so that the CLI can declare ``-f`` without loading them: typer
reads every command's options whenever ``ekuscan`` starts, ``--version`` included.
"""

from __future__ import annotations

import enum


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"
    PROMETHEUS = "prometheus"  # node_exporter textfile format
    HTML = "html"  # one self-contained report
