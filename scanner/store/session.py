"""A recorded run from start to end, and the queries that pick runs to compare.

No printing and no clock here: the CLI passes the times in and words the results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime

from scanner.report.document import iso
from scanner.store._sql import SqlStore
from scanner.store.recorder import Recorder
from scanner.store.records import RunKind, RunRecord, RunStatus
from scanner.store.schema import Dialect


@dataclass
class RunSession:
    store: SqlStore
    scanner: str
    run_id: int
    previous: RunRecord | None  # this scanner's last complete run before this one
    abandoned: list[int]  # runs found "running" with no process left
    recorder: Recorder
    status: RunStatus | None = field(default=None)

    def finish(self, status: RunStatus, finished_at: datetime) -> RunStatus:
        """Record the end of the run; returns the status stored (failed if recording failed)."""
        self.recorder.finish(status, _text(finished_at))
        self.status = RunStatus.FAILED if self.recorder.error is not None else status
        return self.status


def start_run(
    store: SqlStore,
    scanner: str,
    started_at: datetime,
    evaluated_at: datetime,
    tool_version: str,
    command: str,
    kind: RunKind = RunKind.SCAN,
) -> RunSession:
    """Open a new run in the store; the caller holds the run lock (``store.lock``).

    ``previous`` (what ``--only-changes`` compares with) is the last complete run of the same kind.
    """
    complete = store.runs(scanner=scanner, status=RunStatus.COMPLETE, kind=kind)
    run_id = store.begin_run(
        scanner, _text(started_at), _text(evaluated_at), tool_version, os.getpid(), command, kind
    )
    # SQLite's lock covers the whole file: any run still "running" there is dead, whoever ran it.
    # PostgreSQL's covers one scanner: other scanners' runs may be alive.
    abandoned = store.abandon_stale(None if store.dialect is Dialect.SQLITE else scanner, run_id)
    return RunSession(
        store, scanner, run_id, complete[-1] if complete else None, abandoned, Recorder(store, run_id)
    )


def _text(moment: datetime) -> str:
    text = iso(moment)
    assert text is not None
    return text


def default_pairs(store: SqlStore, scanner: str | None = None) -> list[tuple[RunRecord, RunRecord]]:
    """For each scanner (or the one named), its last two complete scans: (older, newer).

    Several jump hosts share one database, each scanning its own part of the estate; comparing
    one scanner's run with another's would list everything as appeared and vanished. Listen
    sessions see whoever happened to connect: they are not compared with scans.
    """
    names = [scanner] if scanner is not None else store.scanners()
    pairs = []
    for name in names:
        complete = store.runs(scanner=name, status=RunStatus.COMPLETE, kind=RunKind.SCAN)
        if len(complete) >= 2:
            pairs.append((complete[-2], complete[-1]))
    return pairs


__all__ = ["RunSession", "default_pairs", "start_run"]
