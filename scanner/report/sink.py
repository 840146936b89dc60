"""What every writer shares: the run's facts and the Writer interface (reports in, then the inventory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from scanner.model import EndpointReport
from scanner.report.inventory import Inventory
from scanner.report.spooling import MemorySpool, SpoolFactory


@dataclass(frozen=True, slots=True)
class ScannerFreshness:
    """One scanner of a report from the history store: how fresh what it contributes is."""

    scanner: str
    last_run_at: datetime  # its latest run's start, whatever became of it
    last_status: str  # complete, interrupted, running, failed, ...
    last_endpoints: int  # the endpoints that run recorded
    complete_at: datetime | None  # its latest complete run's start; None: none yet


@dataclass(frozen=True, slots=True)
class RunInfo:
    tool_version: str
    started_at: datetime
    evaluated_at: datetime
    # A report from the history store (``ekuscan report``): its scanners; empty for a scan.
    scanners: tuple[ScannerFreshness, ...] = ()


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
