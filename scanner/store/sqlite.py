"""The embedded default: one SQLite file in WAL mode.

WAL keeps readers (``ekuscan diff`` while a scan runs) off the writer's back, and every batch
of endpoints is one transaction, so a process killed at any instant leaves the file as it was
after the last commit: SQLite rolls a torn transaction back the next time the file is opened.
``synchronous=NORMAL`` is durable against a crash of the process; only a power cut can lose
the last commits of a run, never the file's consistency.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from scanner.store._sql import Row, SqlStore, StoreError, StoreLocked
from scanner.store.filelock import FileLock, Locked
from scanner.store.schema import Dialect

PAGE_SIZE = 16384
BUSY_TIMEOUT_MS = 30_000  # a reader's checkpoint can hold the file for a moment


class SqliteStore(SqlStore):
    dialect = Dialect.SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = str(path)
        self._lock: FileLock | None = None
        try:
            # autocommit mode (isolation_level=None): transactions are ours, explicit, and short
            self._db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
            # An endpoint's row is 2-3 KB of JSON: on the default 4 KiB pages one row fits per page
            # and half of the file is slack. Only takes effect on a new, empty file.
            self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the history database {path}: {exc}") from None
        if mode is None or str(mode[0]).lower() != "wal":
            raise StoreError(f"cannot put the history database {path} in WAL mode (got {mode})")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self._db.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"history database {self.path}: {exc}") from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StoreError(f"history database {self.path}: {exc}") from None

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 1000) -> Iterator[list[Row]]:
        # An iterating cursor of its own: SQLite steps through the result as it is fetched.
        try:
            cursor = self._db.execute(sql, tuple(params))
            while rows := cursor.fetchmany(size):
                yield rows
        except sqlite3.Error as exc:
            raise StoreError(f"history database {self.path}: {exc}") from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # IMMEDIATE: take the write lock up front, so a second writer waits instead of failing late
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.rollback()
            raise
        self.execute("COMMIT")

    def schema_version(self) -> int:
        return int(self.execute("PRAGMA user_version")[0][0])

    def _set_schema_version(self, version: int) -> None:
        self.execute(f"PRAGMA user_version = {int(version)}")

    def lock(self, scanner: str, wait_s: float = 0.0) -> None:
        # One file, one run at a time, whatever the scanner name: the writer lock is per file anyway.
        lock = FileLock(self.path.with_name(self.path.name + ".lock"))
        try:
            lock.acquire(wait_s)
        except Locked as exc:
            raise StoreLocked(
                f"another ekuscan run ({exc}) is using the history database {self.path}; "
                "use --wait to wait for it"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot lock the history database {self.path}: {exc.strerror or exc}") from None
        self._lock = lock

    def integrity_check(self) -> str:
        return str(self.execute("PRAGMA integrity_check")[0][0])

    def close(self) -> None:
        try:
            self._db.close()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None
