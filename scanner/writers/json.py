"""JSON (one document, endpoints sorted) and JSONL (one endpoint per line, streamed)."""

from __future__ import annotations

import json
import tempfile
from typing import Any, TextIO

from scanner.inventory import Inventory, endpoint_sort_key
from scanner.models import EndpointReport
from scanner.writers._base import RunInfo, Writer
from scanner.writers._serialize import SCHEMA, endpoint_dict, host_dict, iso, summary_dict


def _line(value: Any) -> str:
    # One object per line, with the C encoder: json.dump(indent=...) falls back to the slow
    # pure-Python encoder, and a sweep's inventory is read by jq and scripts, not by eye.
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


class JsonWriter(Writer):
    """The whole inventory as one JSON document (DESIGN.md section 7).

    The endpoints must come out sorted, but a sweep must not hold every report in memory:
    each endpoint is serialised as it arrives into an anonymous spool file, and only its
    sort key and position are kept. ``finish`` copies them out in order.
    """

    def __init__(self, out: TextIO, run: RunInfo) -> None:
        super().__init__(out, run)
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 - lives until finish(), which closes it
        self._index: list[tuple[Any, int, int]] = []

    def add(self, report: EndpointReport) -> None:
        data = _line(endpoint_dict(report)).encode()
        self._index.append((endpoint_sort_key(report), self._spool.tell(), len(data)))
        self._spool.write(data)

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        out = self.out
        out.write("{\n")
        for key, value in (
            ("schema", SCHEMA),
            ("tool_version", self.run.tool_version),
            ("started_at", iso(self.run.started_at)),
            ("evaluated_at", iso(self.run.evaluated_at)),
        ):
            out.write(f'  "{key}": {json.dumps(value)},\n')
        out.write('  "endpoints": [')
        self._index.sort(key=lambda entry: entry[0])
        for n, (_, offset, length) in enumerate(self._index):
            self._spool.seek(offset)
            out.write(("\n    " if n == 0 else ",\n    ") + self._spool.read(length).decode())
        self._spool.close()
        out.write("\n  ],\n" if self._index else "],\n")
        # One host at a time: a sweep's hosts rendered into one list would be its memory peak.
        out.write('  "hosts": [')
        hosts = inventory.hosts()
        for n, host in enumerate(hosts):
            out.write(("\n    " if n == 0 else ",\n    ") + _line(host_dict(host)))
        out.write("\n  ],\n" if hosts else "],\n")
        out.write(f'  "summary": {_line(summary_dict(inventory.summary(), duration_s))}\n}}\n')


class JsonlWriter(Writer):
    """One endpoint object per line, written (and flushed) as results arrive."""

    def add(self, report: EndpointReport) -> None:
        line = endpoint_dict(report)
        line["schema"] = SCHEMA
        self.out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.out.flush()

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        self.out.flush()
