"""The spool interface (records kept until a sorted output can be written) and a spool in memory.

A sorted output needs every result before its first line, so writers and the inventory keep
their records in a spool. The disk-backed one is the edge's (``scanner.edge.spool.DiskSpool``)
and is injected by the application; ``MemorySpool`` serves one-endpoint runs and tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

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
