"""Records on disk, their sort keys in memory: a sweep's results come back in order without being held.

A sorted output (the JSON endpoints, the table's hosts) needs every result before the first
line can be written. Holding the results would make memory grow with the sweep; a spool keeps
only each record's key, position and length (a few hundred bytes with the key's strings) and
the bytes go to an anonymous temporary file, which the page cache serves back.
"""

from __future__ import annotations

import tempfile
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

Key = TypeVar("Key", bound="SupportsRichComparison")


class SortedSpool(Generic[Key]):
    """Append ``(key, bytes)`` records; read them back ordered by key, ties in arrival order."""

    def __init__(self) -> None:
        self._file: Any = None  # opened at the first record: most spools of a small scan stay tiny
        self._index: list[tuple[Key, int, int]] = []
        self._end = 0

    def __len__(self) -> int:
        return len(self._index)

    def add(self, key: Key, record: bytes) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close() or when collected
            # An inventory's spool lives as long as its run; whoever drops it need not close it.
            weakref.finalize(self, self._file.close)
        self._file.seek(self._end)
        self._file.write(record)
        self._index.append((key, self._end, len(record)))
        self._end += len(record)

    def ordered(self) -> Iterator[tuple[Key, bytes]]:
        """Every record so far, by key (a stable sort); records added meanwhile are not included."""
        self._index.sort(key=lambda entry: entry[0])
        for key, offset, length in list(self._index):
            self._file.seek(offset)
            yield key, self._file.read(length)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._index = []
        self._end = 0
