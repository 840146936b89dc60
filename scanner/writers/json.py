"""JSON (one document, endpoints sorted) and JSONL (one endpoint per line, streamed).

Values are kept exactly: the only change ``report.safety.json_text`` makes is to write DEL, C1
and bidi controls as JSON's own ``\\uXXXX`` escapes, so the file is the same record and, printed on
a terminal, cannot drive it.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO, TextIO, cast

from scanner.model import EndpointReport
from scanner.report.document import SCHEMA, endpoint_dict, host_dict, iso, summary_dict
from scanner.report.inventory import EndpointSortKey, Inventory, endpoint_sort_key
from scanner.report.safety import json_text
from scanner.report.sink import Renderer, RunInfo, Writer
from scanner.report.spooling import MemorySpool, Spool, SpoolFactory


def _line(value: Any) -> str:
    # One object per line, with the C encoder: json.dump(indent=...) falls back to the slow
    # pure-Python encoder, and a sweep's inventory is read by jq and scripts, not by eye.
    return json_text(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))


def json_endpoint(report: EndpointReport) -> bytes:
    """The endpoint's line of the JSON document (``JsonWriter.renderer``)."""
    return _line(endpoint_dict(report)).encode()


def jsonl_endpoint(report: EndpointReport) -> bytes:
    """The endpoint's JSONL line, its newline included (``JsonlWriter.renderer``)."""
    line = endpoint_dict(report)
    line["schema"] = SCHEMA
    return (json_text(json.dumps(line, ensure_ascii=False, separators=(",", ":"))) + "\n").encode()


def _utf8_bytes(out: TextIO) -> BinaryIO | None:
    """The byte stream under ``out`` where it writes UTF-8, flushed up to here: the spooled
    lines are UTF-8 already, and a sweep's endpoints are its largest part (decoding them to be
    encoded again cost a tenth of writing a 100,000-endpoint report). None: write text."""
    encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    buffer = getattr(out, "buffer", None)
    if encoding != "utf8" or buffer is None:
        return None
    out.flush()
    return cast(BinaryIO, buffer)


class JsonWriter(Writer):
    """The whole inventory as one JSON document (DESIGN.md section 7).

    The endpoints must come out sorted, but a sweep must not hold every report in memory:
    each endpoint is serialised as it arrives into a spool, and only its sort key and
    position are kept. ``finish`` copies them out in order, then the hosts one at a time.
    """

    def __init__(self, out: TextIO, run: RunInfo, *, spool: SpoolFactory = MemorySpool) -> None:
        super().__init__(out, run, spool=spool)
        self._spool: Spool[EndpointSortKey, bytes] = self.new_spool()

    def add(self, report: EndpointReport) -> None:
        self._spool.add(endpoint_sort_key(report), json_endpoint(report))

    def renderer(self) -> Renderer:
        return json_endpoint

    def add_rendered(self, key: EndpointSortKey, rendered: bytes) -> None:
        self._spool.add(key, rendered)

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
        n = -1
        raw = _utf8_bytes(out)
        for n, (_, line) in enumerate(self._spool.ordered()):
            if raw is not None:
                raw.write((b"\n    " if n == 0 else b",\n    ") + line)
            else:
                out.write(("\n    " if n == 0 else ",\n    ") + line.decode())
        self._spool.close()
        out.write("\n  ],\n" if n >= 0 else "],\n")
        # One host at a time: a sweep's hosts rendered into one list would be its memory peak.
        out.write('  "hosts": [')
        n = -1
        for n, host in enumerate(inventory.each_host()):
            out.write(("\n    " if n == 0 else ",\n    ") + _line(host_dict(host)))
        out.write("\n  ],\n" if n >= 0 else "],\n")
        out.write(f'  "summary": {_line(summary_dict(inventory.summary(), duration_s))}\n}}\n')


class JsonlWriter(Writer):
    """One endpoint object per line, written (and flushed) as results arrive."""

    def add(self, report: EndpointReport) -> None:
        self.add_rendered(b"", jsonl_endpoint(report))

    def renderer(self) -> Renderer:
        return jsonl_endpoint

    def add_rendered(self, key: EndpointSortKey, rendered: bytes) -> None:
        self.out.write(rendered.decode())
        self.out.flush()

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        self.out.flush()
