"""The history store: every run, endpoint, certificate, finding and verdict, in SQLite or PostgreSQL.

``open_store(target)`` takes what ``--db`` (or ``EKUSCAN_DB``) says: a ``postgresql://`` URL
for a database shared by several scanners, anything else is the path of a SQLite file. The
schema is brought up to date on opening (forward only, see ``schema``).
"""

from __future__ import annotations

from pathlib import Path

from scanner.store._sql import SqlStore, StoreError, StoreLocked, redact
from scanner.store.records import EndpointRecord, HostRecord, RunKind, RunRecord, RunStatus
from scanner.store.schema import SchemaTooNew

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(target: str) -> bool:
    return target.lower().startswith(POSTGRES_SCHEMES)


def open_store(target: str) -> SqlStore:
    """Open (creating and migrating where needed) the store at a path or PostgreSQL URL."""
    store: SqlStore
    if is_postgres(target):
        from scanner.store.postgres import PostgresStore  # psycopg loads only when asked for

        store = PostgresStore(target)
    else:
        from scanner.store.sqlite import SqliteStore

        path = Path(target.removeprefix("sqlite:"))
        if path.is_dir():
            raise StoreError(f"the history database {path} is a directory; give a file path")
        if not path.parent.is_dir():
            raise StoreError(f"cannot create the history database {path}: no directory {path.parent}")
        store = SqliteStore(path)
    try:
        store.migrate()
    except SchemaTooNew as exc:
        store.close()
        raise StoreError(f"{store.description}: {exc}") from None
    except BaseException:
        store.close()
        raise
    return store


__all__ = [
    "EndpointRecord",
    "HostRecord",
    "RunKind",
    "RunRecord",
    "RunStatus",
    "SqlStore",
    "StoreError",
    "StoreLocked",
    "is_postgres",
    "open_store",
    "redact",
]
