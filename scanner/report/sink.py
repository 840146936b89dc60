"""What every writer shares: the run's facts and the Writer interface (reports in, then the inventory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from scanner.model import EndpointReport
from scanner.report.inventory import Inventory
from scanner.report.spooling import MemorySpool, SpoolFactory


@dataclass(frozen=True, slots=True)
class RunInfo:
    tool_version: str
    started_at: datetime
    evaluated_at: datetime


class Writer:
    """Receives each listed endpoint report once, then ``finish`` with the inventory."""

    def __init__(self, out: TextIO, run: RunInfo, *, spool: SpoolFactory = MemorySpool) -> None:
        self.out = out
        self.run = run
        self.new_spool = spool

    def add(self, report: EndpointReport) -> None:
        raise NotImplementedError

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        raise NotImplementedError
