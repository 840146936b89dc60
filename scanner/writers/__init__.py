"""Writers: render endpoint reports as they arrive, and the inventory at the end."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from scanner.model import OutputFormat
from scanner.report.sink import RunInfo, Writer
from scanner.report.spooling import MemorySpool, SpoolFactory
from scanner.writers.csv import CsvWriter
from scanner.writers.json import JsonlWriter, JsonWriter

# -o FILE extensions that pick a format when -f is not given
SUFFIXES = {"json": OutputFormat.JSON, "jsonl": OutputFormat.JSONL, "csv": OutputFormat.CSV}
SUFFIXES |= {"prom": OutputFormat.PROMETHEUS, "html": OutputFormat.HTML, "htm": OutputFormat.HTML}


def make_writer(
    fmt: OutputFormat,
    out: TextIO,
    run: RunInfo,
    *,
    color: bool = False,
    path: Path | None = None,
    spool: SpoolFactory = MemorySpool,
) -> Writer:
    """``path``: where a format that writes its own file (prometheus) puts it; else ``out`` is used.

    ``spool``: where sorted formats keep their records until the end (a scan injects the disk spool).
    """
    if fmt is OutputFormat.JSON:
        return JsonWriter(out, run, spool=spool)
    if fmt is OutputFormat.JSONL:
        return JsonlWriter(out, run, spool=spool)
    # Imported when chosen: prometheus_client alone costs every scan ~9 ms and ~2 MiB to load,
    # tabulate (which reads its own package metadata) ~10 ms of CPU.
    if fmt is OutputFormat.TABLE:
        from scanner.writers.table import TableWriter

        return TableWriter(out, run, color=color, spool=spool)
    if fmt is OutputFormat.PROMETHEUS:
        from scanner.writers.prometheus import PrometheusWriter

        return PrometheusWriter(out, run, path=path, spool=spool)
    if fmt is OutputFormat.HTML:
        from scanner.writers.html import HtmlWriter

        return HtmlWriter(out, run, spool=spool)
    return CsvWriter(out, run, spool=spool)


__all__ = ["SUFFIXES", "OutputFormat", "RunInfo", "Writer", "make_writer"]
