"""JSON (one document, endpoints sorted) and JSONL (one endpoint per line, streamed).

Values are kept exactly: the only change ``report.safety.json_text`` makes is to write DEL, C1
and bidi controls as JSON's own ``\\uXXXX`` escapes, so the file is the same record and, printed on
a terminal, cannot drive it.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO, TextIO, cast

from scanner.model import EndpointReport
from scanner.report.document import (
    SCHEMA,
    chain_part,
    endpoint_head,
    endpoint_tail,
    host_dict,
    iso,
    judgement_part,
    summary_dict,
)
from scanner.report.inventory import EndpointSortKey, Inventory, endpoint_sort_key
from scanner.report.safety import json_text
from scanner.report.sink import Renderer, RunInfo, Writer
from scanner.report.spooling import MemorySpool, Spool, SpoolFactory


def _line(value: Any) -> str:
    # One object per line, with the C encoder: json.dump(indent=...) falls back to the slow
    # pure-Python encoder, and a sweep's inventory is read by jq and scripts, not by eye.
    return json_text(json.dumps(value, ensure_ascii=False, separators=(", ", ": ")))


REMEMBERED_PARTS = 64  # chain parts and judgement parts whose JSON text an EndpointLines keeps


class EndpointLines:
    """An endpoint's document (``endpoint_dict``) as one line of JSON text, ``json.dumps`` with
    ``separators``, joined from the texts of its four parts (``report.document``).

    Most of a line is its chain and its findings and links (some 6 KB for a certificate with
    twelve links), and they repeat: every port of a host shows the same chain, and the
    analysis gives what it judged alike the same objects. So those two parts are rendered once
    per object (the key is the objects' identity; an entry keeps them, so that the identity
    cannot be reused while it is remembered). JSON text of an object is its members' texts
    joined by the item separator: the line is the same, byte for byte, as the whole document
    rendered at once (``tests/test_json_lines.py``).

    Each ``json.dumps`` call costs some microseconds before it encodes anything, so the parts
    stay few and whole: rendering each link apart made a line slower, not faster.
    """

    def __init__(self, separators: tuple[str, str], tail: dict[str, Any] | None = None) -> None:
        self._separators = separators
        self._tail = tail or {}  # members after the document's own (JSONL: the schema)
        self._chains: dict[tuple[int, int], tuple[object, object, str]] = {}
        self._judgements: dict[tuple[int, int], tuple[object, object, object, object, str]] = {}

    def __call__(self, report: EndpointReport) -> str:
        chain_key = (id(report.chain), id(report.trust))
        chain = self._chains.get(chain_key)
        if chain is None or chain[0] is not report.chain or chain[1] is not report.trust:
            chain = (report.chain, report.trust, self._members(chain_part(report)))
            _remember(self._chains, chain_key, chain)
        judgement_key = (id(report.findings), id(report.links))
        judged = self._judgements.get(judgement_key)
        if (
            judged is None
            or judged[0] is not report.findings
            or judged[1] is not report.links
            or judged[2] != report.verdict
            or judged[3] != report.breaks_on
        ):
            text = self._members(judgement_part(report))
            judged = (report.findings, report.links, report.verdict, report.breaks_on, text)
            _remember(self._judgements, judgement_key, judged)
        tail = endpoint_tail(report)
        tail.update(self._tail)
        parts = (self._members(endpoint_head(report)), chain[2], judged[4], self._members(tail))
        return "{" + self._separators[0].join(parts) + "}"

    def _members(self, part: dict[str, Any]) -> str:
        """``"key": value`` of each member, joined (the object's text without its braces)."""
        return json_text(json.dumps(part, ensure_ascii=False, separators=self._separators))[1:-1]


def _remember(memo: dict[tuple[int, int], Any], key: tuple[int, int], entry: object) -> None:
    if len(memo) >= REMEMBERED_PARTS:
        del memo[next(iter(memo))]  # the oldest: hosts come one after another
    memo[key] = entry


_JSON_LINES = EndpointLines((", ", ": "))
_JSONL_LINES = EndpointLines((",", ":"), {"schema": SCHEMA})


def json_endpoint(report: EndpointReport) -> bytes:
    """The endpoint's line of the JSON document (``JsonWriter.renderer``)."""
    return _JSON_LINES(report).encode()


def jsonl_endpoint(report: EndpointReport) -> bytes:
    """The endpoint's JSONL line, its newline included (``JsonlWriter.renderer``)."""
    return (_JSONL_LINES(report) + "\n").encode()


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
