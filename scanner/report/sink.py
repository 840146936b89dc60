"""What every writer shares: the run's facts and the Writer interface (reports in, then the inventory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from scanner.model import EndpointReport
from scanner.report.inventory import HostShare, Inventory
from scanner.report.ordering import EndpointSortKey
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


# What a writer keeps of one report, made by a pure module-level function: a process that
# judged the report can render it there and send the bytes instead of the report.
Renderer = Callable[[EndpointReport], bytes]


class Writer:
    """Receives each listed endpoint report once, then ``finish`` with the inventory.

    A writer that keeps only a rendering of each report (the JSON line, the metric record)
    names it with ``renderer``; it then also takes that rendering ready-made, with the
    report's sort key, through ``add_rendered``, as if ``add`` had been called with the report.
    """

    def __init__(self, out: TextIO, run: RunInfo, *, spool: SpoolFactory = MemorySpool) -> None:
        self.out = out
        self.run = run
        self.new_spool = spool

    def add(self, report: EndpointReport) -> None:
        raise NotImplementedError

    def renderer(self) -> Renderer | None:
        """The pure function whose bytes ``add_rendered`` takes; None: ``add`` needs the report."""
        return None

    def add_rendered(self, key: EndpointSortKey, rendered: bytes) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no renderer")

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class HostPackage:
    """A host's reports as a worker hands them on when the output renders each endpoint itself
    (JSON, JSONL, Prometheus): its share of the inventory and its listed endpoints rendered,
    a few bytes per endpoint instead of the report (``ReportStream.record`` takes either)."""

    share: HostShare
    rendered: tuple[tuple[EndpointSortKey, bytes], ...]
    probes: int  # for the progress line: probes done ...
    live: int  # ... and those where something listened
