"""Judging the stored estate in several processes: hosts go out in order, their reports come back in order.

The analysis is most of what ``ekuscan report`` costs per endpoint, as in a scan. With
``--workers N`` (by default one per CPU once the store holds 2,048 observations or more, as for a
scan) the parent reads the store and writes the output, and N processes judge the hosts, a chunk
at a time. At most a few chunks per process are in flight, so memory does not grow with the
estate, and the reports come back in the order the hosts were read. A worker builds the parent's
analysis context from ``AnalysisInputs`` (certificates do not pickle) and keeps its own parse cache.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import replace
from typing import Generic, TypeVar

from scanner.app.parse_cache import ParseCache
from scanner.core.analysis import AnalysisContext, analyze_host
from scanner.edge.jobs import AnalysisInputs, compact_report
from scanner.model import EndpointReport, Observation

Tag = TypeVar("Tag")
CHUNK_HOSTS = 32  # hosts per task: enough to pay for the pickling round trip
IN_FLIGHT_PER_PROCESS = 3

_context: AnalysisContext | None = None  # the worker's, set once by _start


def _start(inputs: AnalysisInputs, parse_cache: int) -> None:
    global _context
    _context = replace(inputs.context(), parse=ParseCache(parse_cache))


def _judge(hosts: list[list[Observation]]) -> list[list[EndpointReport]]:
    assert _context is not None, "the worker was not started"
    # The DER stays behind: the writers and the inventory use the parsed facts.
    return [[compact_report(report) for report in analyze_host(host, _context)] for host in hosts]


class HostPool(Generic[Tag]):
    """``processes`` workers judging hosts; ``judge`` keeps each host's tag beside its reports."""

    def __init__(self, inputs: AnalysisInputs, processes: int, parse_cache: int) -> None:
        self.processes = processes
        # spawn, not fork: the parent holds a database connection a child must not share
        self._executor = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(inputs, parse_cache),
        )

    def judge(
        self, hosts: Iterable[tuple[Tag, list[Observation]]]
    ) -> Iterator[tuple[Tag, list[EndpointReport]]]:
        window: deque[tuple[list[Tag], Future[list[list[EndpointReport]]]]] = deque()
        chunk: list[tuple[Tag, list[Observation]]] = []
        for host in hosts:
            chunk.append(host)
            if len(chunk) >= CHUNK_HOSTS:
                window.append(self._submit(chunk))
                chunk = []
                while len(window) > self.processes * IN_FLIGHT_PER_PROCESS:
                    yield from _results(window.popleft())
        if chunk:
            window.append(self._submit(chunk))
        while window:
            yield from _results(window.popleft())

    def _submit(
        self, chunk: list[tuple[Tag, list[Observation]]]
    ) -> tuple[list[Tag], Future[list[list[EndpointReport]]]]:
        return [tag for tag, _ in chunk], self._executor.submit(_judge, [obs for _, obs in chunk])

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _results(
    item: tuple[list[Tag], Future[list[list[EndpointReport]]]],
) -> Iterator[tuple[Tag, list[EndpointReport]]]:
    tags, future = item
    yield from zip(tags, future.result(), strict=True)


__all__ = ["HostPool"]
