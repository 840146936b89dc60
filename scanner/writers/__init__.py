"""Writers: render endpoint reports as they arrive, and the inventory at the end."""

from __future__ import annotations

import enum
from typing import TextIO

from scanner.writers._base import RunInfo, Writer
from scanner.writers.csv import CsvWriter
from scanner.writers.json import JsonlWriter, JsonWriter
from scanner.writers.table import TableWriter


class OutputFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"


def make_writer(fmt: OutputFormat, out: TextIO, run: RunInfo, *, color: bool = False) -> Writer:
    if fmt is OutputFormat.TABLE:
        return TableWriter(out, run, color=color)
    if fmt is OutputFormat.JSON:
        return JsonWriter(out, run)
    if fmt is OutputFormat.JSONL:
        return JsonlWriter(out, run)
    return CsvWriter(out, run)


__all__ = ["OutputFormat", "RunInfo", "Writer", "make_writer"]
