"""A shared PostgreSQL database for many scanners (jump hosts), through psycopg 3.

The same schema and queries as SQLite. The schema version lives in a one-row table (there is
no ``user_version``), and migrations run under an advisory lock so that
scanners starting at once do not race to create the tables. The run lock is a session-level
advisory lock per scanner name: different jump hosts write at the same time, two runs of the
same scanner do not, and the server drops the lock when the connection goes, however the
process ended.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from scanner.store._sql import Row, SqlStore, StoreError, StoreLocked, redact
from scanner.store.schema import Dialect

LOCK_SPACE = 0x454B55  # "EKU": the first key of every advisory lock we take
MIGRATION_LOCK = 0
POLL_S = 0.5
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_S = 120


def scanner_lock_key(scanner: str) -> int:
    """A stable signed 32-bit key for a scanner name (the second key of its advisory lock)."""
    value = zlib.crc32(scanner.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


class PostgresStore(SqlStore):
    dialect = Dialect.POSTGRES

    def __init__(self, url: str) -> None:
        self.description = redact(url)
        self._streams = 0  # names the server-side cursors
        try:
            self._db = psycopg.connect(
                url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="ekuscan",
                # a server that vanishes mid-run is noticed in about a minute, not never
                keepalives=1,
                keepalives_idle=30,
                keepalives_interval=10,
                keepalives_count=3,
            )
            # The scan waits for each batch: no statement may hold it for ever. SET, not an
            # `options` argument, which would replace options the URL itself may carry.
            self._db.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_S * 1000}")
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the history database {self.description}: {_one(exc)}"
            ) from None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            cursor = self._db.execute(sql.replace("?", "%s"), tuple(params))
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg.Error as exc:
            raise StoreError(f"history database {self.description}: {_one(exc)}") from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self._db.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), (tuple(r) for r in rows))
        except psycopg.Error as exc:
            raise StoreError(f"history database {self.description}: {_one(exc)}") from None

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 1000) -> Iterator[list[Row]]:
        # A server-side cursor (it lives in a transaction): the server sends a batch at a time,
        # so the client holds one batch, not the result.
        self._streams += 1
        try:
            with self._db.transaction(), self._db.cursor(name=f"ekuscan_stream_{self._streams}") as cursor:
                cursor.execute(sql.replace("?", "%s"), tuple(params))
                while rows := cursor.fetchmany(size):
                    yield rows
        except psycopg.Error as exc:
            raise StoreError(f"history database {self.description}: {_one(exc)}") from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self._db.transaction():
                yield
        except psycopg.Error as exc:
            raise StoreError(f"history database {self.description}: {_one(exc)}") from None

    def schema_version(self) -> int:
        if self.execute("SELECT to_regclass('schema_version')")[0][0] is None:
            return 0
        rows = self.execute("SELECT version FROM schema_version")
        return int(rows[0][0]) if rows else 0

    def _set_schema_version(self, version: int) -> None:
        self.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        self.execute("DELETE FROM schema_version")
        self.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    @contextmanager
    def migration_guard(self) -> Iterator[None]:
        # A session lock taken before the transaction begins, not a transaction lock inside it: a
        # transaction that began before another opener's migration committed would look the
        # tables up in a stale catalog snapshot and try to create them again.
        self.execute("SELECT pg_advisory_lock(?, ?)", (LOCK_SPACE, MIGRATION_LOCK))
        try:
            yield
        finally:
            self.execute("SELECT pg_advisory_unlock(?, ?)", (LOCK_SPACE, MIGRATION_LOCK))

    def lock(self, scanner: str, wait_s: float = 0.0) -> None:
        deadline = time.monotonic() + wait_s
        key = scanner_lock_key(scanner)
        while not self.execute("SELECT pg_try_advisory_lock(?, ?)", (LOCK_SPACE, key))[0][0]:
            if time.monotonic() >= deadline:
                raise StoreLocked(
                    f"another ekuscan run of scanner {scanner!r} is using the history database "
                    f"{self.description}; use --wait to wait for it"
                )
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        self._db.close()  # ends the session: its advisory locks go with it


def _one(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
