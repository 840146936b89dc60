"""Recording a run while it goes: endpoints in batches, the hosts and summary at the end.

Each batch is one transaction, committed at 500 endpoints or every 2 s, whichever comes first
(a timer in the scan commits a batch that waits when no report comes). A run that is stopped
(Ctrl-C, SIGTERM) still writes what it had and is marked accordingly; a run whose process is
killed keeps every batch committed before the kill, so it loses at most the last 2 s, and stays
``running`` until the next run of its scanner marks it abandoned. Neither is ever taken for a
complete run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from scanner.model import EndpointReport
from scanner.report.document import summary_dict
from scanner.report.inventory import Inventory
from scanner.report.sink import Writer
from scanner.store._sql import SqlStore, StoreError
from scanner.store.records import EndpointRecord, RunStatus, endpoint_record, host_record

BATCH = 500  # endpoints per transaction
INTERVAL_S = 2.0  # ... or this long since the last one, whichever comes first


class Recorder:
    def __init__(
        self,
        store: SqlStore,
        run_id: int,
        *,
        batch: int = BATCH,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.run_id = store, run_id
        self.batch, self.interval_s, self.clock = batch, interval_s, clock
        self.recorded = 0
        self._pending: list[EndpointRecord] = []
        self._last_flush = clock()
        self.inventory: Inventory | None = None
        self.duration_s = 0.0
        self.error: str | None = None  # the store failed: the scan goes on, the CLI says so at the end

    def add(self, report: EndpointReport) -> None:
        if self.error is not None:
            return
        self._pending.append(endpoint_record(report))
        if len(self._pending) >= self.batch or self.clock() - self._last_flush >= self.interval_s:
            self.flush()

    def flush_if_due(self) -> None:
        """Commit what waits for its batch once ``interval_s`` has passed since the last commit.

        ``add`` checks the interval only when a report comes. In a long tail of timeouts none
        comes, and a run killed then would lose what waits; the scan calls this on a timer.
        """
        if self._pending and self.clock() - self._last_flush >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        """Commit what is pending; a failure of the store is kept in ``error``, not raised."""
        pending, self._pending = self._pending, []
        if self.error is not None:
            return
        try:
            self.store.write_endpoints(self.run_id, self.recorded, pending)
        except StoreError as exc:
            self.error = str(exc)
            return
        self.recorded += len(pending)
        self._last_flush = self.clock()

    def finish(self, status: RunStatus, finished_at: str) -> None:
        """Write what is pending, the hosts and the summary; mark the run with ``status``.

        A run whose recording failed is marked failed: its rows are not all there.
        """
        self.flush()
        if self.error is not None:
            status = RunStatus.FAILED
        inventory = self.inventory
        hosts = (host_record(h) for h in inventory.each_host()) if inventory is not None else iter(())
        summary: dict[str, Any] | None = (
            summary_dict(inventory.summary(), self.duration_s) if inventory is not None else None
        )
        self.store.finish_run(self.run_id, status, finished_at, hosts, summary)


class RecordingWriter(Writer):
    """Hands each listed report to the recorder as well as to the output writer."""

    def __init__(self, inner: Writer, recorder: Recorder) -> None:
        super().__init__(inner.out, inner.run, spool=inner.new_spool)
        self.inner, self.recorder = inner, recorder

    def add(self, report: EndpointReport) -> None:
        self.recorder.add(report)
        self.inner.add(report)

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        self.recorder.inventory, self.recorder.duration_s = inventory, duration_s
        self.inner.finish(inventory, duration_s)
