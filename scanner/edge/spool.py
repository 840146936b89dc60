"""Records on disk, their sort keys in memory: a sweep's results come back in order without being held.

A sorted output (the JSON endpoints, the table's hosts) needs every result before the first
line can be written. Holding the results would make memory grow with the sweep; a spool keeps
only each record's key (the inventory's keys are short bytes: ``report.ordering``) and 16
bytes of position and length, and the records go, pickled, to an anonymous temporary file,
which the page cache serves back. It implements ``scanner.report.sink.Spool``; the
application injects it into the writers and the inventory.

The first ``HELD_RECORDS`` records are held as they are, and pickled to the file only when
one more comes: most spools of a run are small (a thousand endpoints are some 250 hosts),
and pickling each host's report to read it back twice cost about 2% of such a scan. Records
are rendered bytes and frozen reports, which nothing changes once added.
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


HELD_RECORDS = 256  # records a spool holds in memory before it writes them all to its file ...
HELD_BYTES = 256 * 1024  # ... or bytes of rendered records (pickling bytes costs little)


class DiskSpool(Generic[Key, Item]):
    """Append ``(key, item)`` records; read them back ordered by key, ties in arrival order."""

    def __init__(self, held_records: int = HELD_RECORDS, held_bytes: int = HELD_BYTES) -> None:
        self._held_records, self._held_bytes_limit = held_records, held_bytes
        self._file: Any = None  # opened when the records outgrow ``_held``
        self._held: list[Item] | None = []  # None: the records are in the file
        self._held_bytes = 0
        self._keys: list[Key] = []
        # Where each record is in the file, in arrival order: 16 bytes a record, no objects.
        self._offsets = array("q")
        self._lengths = array("q")
        self._end = 0

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: Key, item: Item) -> None:
        held = self._held
        if held is not None:
            if isinstance(item, bytes):
                self._held_bytes += len(item)
            if len(held) < self._held_records and self._held_bytes <= self._held_bytes_limit:
                held.append(item)
                self._keys.append(key)
                return
            self._held = None
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close() or when collected
            # An inventory's spool lives as long as its run; whoever drops it need not close it.
            weakref.finalize(self, self._file.close)
            for earlier in held:
                self._write(earlier)
        self._keys.append(key)
        self._write(item)

    def _write(self, item: Item) -> None:
        record = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
        self._file.write(record)  # no seek: reading uses pread, so the position stays at the end
        self._offsets.append(self._end)
        self._lengths.append(len(record))
        self._end += len(record)

    def ordered(self) -> Iterator[tuple[Key, Item]]:
        """Every record so far, by key (a stable sort); records added meanwhile are not included."""
        keys = self._keys
        order = sorted(range(len(keys)), key=keys.__getitem__)
        held = self._held
        if held is not None:
            for i in order:
                yield keys[i], held[i]
            return
        self._file.flush()
        descriptor = self._file.fileno()
        for i in order:
            # pread: no seek, so reading does not drop the buffer of records still being appended
            yield keys[i], pickle.loads(os.pread(descriptor, self._lengths[i], self._offsets[i]))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._held = []
        self._held_bytes = 0
        self._keys = []
        self._offsets = array("q")
        self._lengths = array("q")
        self._end = 0
