"""Records on disk, their sort keys in memory: a sweep's results come back in order without being held.

A sorted output (the JSON endpoints, the table's hosts) needs every result before the first
line can be written. Holding the results would make memory grow with the sweep; a spool keeps
only each record's key, position and length (a few hundred bytes with the key's strings) and
the records go, pickled, to an anonymous temporary file, which the page cache serves back. It
implements ``scanner.report.sink.Spool``; the application injects it into the writers and the
inventory.
"""

from __future__ import annotations

import pickle
import tempfile
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

Key = TypeVar("Key", bound="SupportsRichComparison")
Item = TypeVar("Item")


class DiskSpool(Generic[Key, Item]):
    """Append ``(key, item)`` records; read them back ordered by key, ties in arrival order."""

    def __init__(self) -> None:
        self._file: Any = None  # opened at the first record: most spools of a small scan stay tiny
        self._index: list[tuple[Key, int, int]] = []
        self._end = 0

    def __len__(self) -> int:
        return len(self._index)

    def add(self, key: Key, item: Item) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close() or when collected
            # An inventory's spool lives as long as its run; whoever drops it need not close it.
            weakref.finalize(self, self._file.close)
        record = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
        self._file.seek(self._end)
        self._file.write(record)
        self._index.append((key, self._end, len(record)))
        self._end += len(record)

    def ordered(self) -> Iterator[tuple[Key, Item]]:
        """Every record so far, by key (a stable sort); records added meanwhile are not included."""
        self._index.sort(key=lambda entry: entry[0])
        for key, offset, length in list(self._index):
            self._file.seek(offset)
            yield key, pickle.loads(self._file.read(length))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._index = []
        self._end = 0
