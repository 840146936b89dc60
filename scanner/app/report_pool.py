"""Judging the stored estate in several processes: hosts go out in order, and come back in order.

The analysis is most of what ``ekuscan report`` costs per endpoint, as in a scan. With
``--workers N`` (by default one per CPU once the store holds 2,048 observations or more) the
parent reads the store and writes the output, and N processes judge the hosts, a chunk at a
time (``app.report_judging.judge_host``: the sighting, the inventory's share and the writer's
rendering are made there too, so what comes back is a few bytes per endpoint). At most a few
chunks per process are in flight, so memory does not grow with the estate, and the hosts come
back in the order they were read. A worker builds the parent's analysis context from
``AnalysisInputs`` (certificates do not pickle) and keeps its own parse cache.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace

from scanner.app.parse_cache import ParseCache
from scanner.app.report_judging import JudgedHost, Judging, StoredRow, judge_host
from scanner.core.analysis import AnalysisContext
from scanner.edge.heap import freeze_startup_heap
from scanner.edge.jobs import AnalysisInputs

CHUNK_HOSTS = 32  # hosts per task: enough to pay for the pickling round trip
IN_FLIGHT_PER_PROCESS = 3

_worker: tuple[AnalysisContext, Judging] | None = None  # the worker's, set once by _start


def _start(inputs: AnalysisInputs, judging: Judging, parse_cache: int) -> None:
    global _worker
    _worker = (replace(inputs.context(), parse=ParseCache(parse_cache)), judging)
    freeze_startup_heap()


def _judge(hosts: list[list[StoredRow]]) -> list[JudgedHost]:
    assert _worker is not None, "the worker was not started"
    analysis, judging = _worker
    return [judge_host(rows, analysis, judging) for rows in hosts]


class HostPool:
    """``processes`` workers judging the hosts whose rows all carry their evidence."""

    def __init__(self, inputs: AnalysisInputs, judging: Judging, processes: int, parse_cache: int) -> None:
        self.processes = processes
        # spawn, not fork: the parent holds a database connection a child must not share
        self._executor = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(inputs, judging, parse_cache),
        )

    def judge(
        self, hosts: Iterable[list[StoredRow]], here: Callable[[list[StoredRow]], JudgedHost]
    ) -> Iterator[JudgedHost]:
        """Every host judged, in order; ``here`` puts together, in this process, a host with a
        row that cannot be judged again (it needs the store)."""
        window: deque[Future[list[JudgedHost]] | JudgedHost] = deque()
        chunk: list[list[StoredRow]] = []
        in_flight = 0
        for rows in hosts:
            if all(row.observation is not None for row in rows):
                chunk.append(rows)
                if len(chunk) < CHUNK_HOSTS:
                    continue
                window.append(self._executor.submit(_judge, chunk))
                chunk, in_flight = [], in_flight + 1
            else:
                if chunk:  # the hosts before it go first, to keep the order
                    window.append(self._executor.submit(_judge, chunk))
                    chunk, in_flight = [], in_flight + 1
                window.append(here(rows))
            while in_flight > self.processes * IN_FLIGHT_PER_PROCESS:
                in_flight -= yield from _drain_one(window)
        if chunk:
            window.append(self._executor.submit(_judge, chunk))
        while window:
            yield from _drain_one(window)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _drain_one(window: deque[Future[list[JudgedHost]] | JudgedHost]) -> Generator[JudgedHost, None, int]:
    """The oldest entry's hosts; returns how many futures that took off the window (0 or 1)."""
    item = window.popleft()
    if isinstance(item, JudgedHost):
        yield item
        return 0
    yield from item.result()
    return 1


__all__ = ["HostPool"]
