"""What every consumer of endpoint reports shares: the run's facts, the Writer interface, and spools.

A sorted output needs every result before its first line, so writers and the inventory keep
their records in a *spool*: the interface is here, the disk-backed one is the edge's
(``scanner.edge.spool.DiskSpool``) and is injected by the application; ``MemorySpool`` serves
one-endpoint runs (``inspect``) and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TextIO, TypeVar

from scanner.model import EndpointReport

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

    from scanner.report.inventory import Inventory

Key = TypeVar("Key", bound="SupportsRichComparison")
Item = TypeVar("Item")


class Spool(Protocol[Key, Item]):
    """Append ``(key, item)`` records; read them back ordered by key, ties in arrival order."""

    def __len__(self) -> int: ...

    def add(self, key: Key, item: Item) -> None: ...

    def ordered(self) -> Iterator[tuple[Key, Item]]:
        """Every record so far, by key (a stable sort); records added meanwhile are not included."""
        ...

    def close(self) -> None: ...


SpoolFactory = Callable[[], Spool[Any, Any]]


class MemorySpool(Generic[Key, Item]):
    """A spool that holds its records: for runs of a few endpoints, and for tests."""

    def __init__(self) -> None:
        self._records: list[tuple[Key, Item]] = []

    def __len__(self) -> int:
        return len(self._records)

    def add(self, key: Key, item: Item) -> None:
        self._records.append((key, item))

    def ordered(self) -> Iterator[tuple[Key, Item]]:
        self._records.sort(key=lambda record: record[0])
        yield from list(self._records)

    def close(self) -> None:
        self._records = []


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
