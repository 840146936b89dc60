"""JSON (one document, endpoints sorted) and JSONL (one endpoint per line, streamed)."""

from __future__ import annotations

import json
from typing import TextIO

from scanner.inventory import Inventory, endpoint_sort_key
from scanner.models import EndpointReport
from scanner.writers._base import RunInfo, Writer
from scanner.writers._serialize import SCHEMA, endpoint_dict, host_dict, iso, summary_dict


class JsonWriter(Writer):
    """The whole inventory as one JSON document (DESIGN.md section 7)."""

    def __init__(self, out: TextIO, run: RunInfo) -> None:
        super().__init__(out, run)
        self._reports: list[EndpointReport] = []

    def add(self, report: EndpointReport) -> None:
        self._reports.append(report)

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        document = {
            "schema": SCHEMA,
            "tool_version": self.run.tool_version,
            "started_at": iso(self.run.started_at),
            "evaluated_at": iso(self.run.evaluated_at),
            "endpoints": [endpoint_dict(r) for r in sorted(self._reports, key=endpoint_sort_key)],
            "hosts": [host_dict(h) for h in inventory.hosts()],
            "summary": summary_dict(inventory.summary(), duration_s),
        }
        json.dump(document, self.out, indent=2, ensure_ascii=False)
        self.out.write("\n")


class JsonlWriter(Writer):
    """One endpoint object per line, written (and flushed) as results arrive."""

    def add(self, report: EndpointReport) -> None:
        line = endpoint_dict(report)
        line["schema"] = SCHEMA
        self.out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.out.flush()

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        self.out.flush()
