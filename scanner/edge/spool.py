"""Records on disk, their sort keys in memory: a sweep's results come back in order without being held.

A sorted output (the JSON endpoints, the table's hosts) needs every result before the first
line can be written. Holding the results would make memory grow with the sweep; a spool keeps
only each record's key (the inventory's keys are short bytes: ``report.ordering``) and 16
bytes of position and length, and the records go, pickled, to an anonymous temporary file,
which the page cache serves back. It implements ``scanner.report.sink.Spool``; the
application injects it into the writers and the inventory.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import weakref
from array import array
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
        self._keys: list[Key] = []
        # Where each record is in the file, in arrival order: 16 bytes a record, no objects.
        self._offsets = array("q")
        self._lengths = array("q")
        self._end = 0

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Key, item: Item) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close() or when collected
            # An inventory's spool lives as long as its run; whoever drops it need not close it.
            weakref.finalize(self, self._file.close)
        record = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
        self._file.write(record)  # no seek: reading uses pread, so the position stays at the end
        self._keys.append(key)
        self._offsets.append(self._end)
        self._lengths.append(len(record))
        self._end += len(record)

    def ordered(self) -> Iterator[tuple[Key, Item]]:
        """Every record so far, by key (a stable sort); records added meanwhile are not included."""
        if self._file is None:
            return
        keys = self._keys
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self._file.flush()
        descriptor = self._file.fileno()
        for i in order:
            # pread: no seek, so reading does not drop the buffer of records still being appended
            yield keys[i], pickle.loads(os.pread(descriptor, self._lengths[i], self._offsets[i]))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._keys = []
        self._offsets = array("q")
        self._lengths = array("q")
        self._end = 0
