"""What both backends share: every query, written once with ``?`` placeholders.

The SQL text holds no literal ``?`` or ``%`` (PostgreSQL's driver gets ``?`` turned into ``%s``):
values always go in as parameters. A backend supplies the connection primitives (execute,
executemany, a transaction, the schema version, the run lock); the queries and the mapping to
records live here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scanner.store.records import (
    EndpointRecord,
    HostRecord,
    RunKind,
    RunRecord,
    RunStatus,
    dumps,
    inflate,
)
from scanner.store.schema import MIGRATIONS, Dialect, Migration, pending

Row = tuple[Any, ...]
_RUN_COLUMNS = (
    "id, scanner, started_at, evaluated_at, finished_at, status, tool_version, endpoints, summary, kind"
)
_IN_CHUNK = 500  # bound the number of parameters of one IN (...) list


def redact(url: str) -> str:
    """The URL without its password (``user:PASSWORD@`` or ``?password=``), for messages and logs."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    if "password=" in parts.query.lower():
        query = "&".join(
            f"{key}=***" if key.lower() == "password" else f"{key}={value}" if sep else key
            for key, sep, value in (item.partition("=") for item in parts.query.split("&"))
        )
        parts = parts._replace(query=query)
    return urlunsplit(parts)


class StoreError(Exception):
    """The history database cannot be opened or written; the message is one line."""


class StoreLocked(StoreError):
    """Another run holds the lock on this database (and scanner)."""


class SqlStore:
    dialect: Dialect
    description: str  # where the store is, for messages (never with a password)

    # --- what a backend provides --------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def stream(self, sql: str, params: Sequence[Any] = (), size: int = 1000) -> Iterator[list[Row]]:
        """The rows of one query in batches of ``size``, read as they are consumed (a long report):
        the other methods may be called between batches."""
        raise NotImplementedError

    def schema_version(self) -> int:
        raise NotImplementedError

    def _set_schema_version(self, version: int) -> None:
        """Within the migration's transaction."""
        raise NotImplementedError

    @contextmanager
    def migration_guard(self) -> Iterator[None]:
        """Around the migration's transaction: keep concurrent openers out until it has committed."""
        yield

    def lock(self, scanner: str, wait_s: float = 0.0) -> None:
        """Hold the run lock until ``close``; raises StoreLocked."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schema -------------------------------------------------------------------------

    def migrate(self, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
        """Bring the schema up to date; returns the versions applied."""
        if not pending(self.schema_version(), migrations):
            return []
        applied: list[int] = []
        with self.migration_guard(), self.transaction():
            for migration in pending(self.schema_version(), migrations):  # again, under the guard
                for statement in migration.for_dialect(self.dialect):
                    self.execute(statement)
                self._set_schema_version(migration.version)
                applied.append(migration.version)
        return applied

    # --- writing a run ------------------------------------------------------------------

    def begin_run(
        self,
        scanner: str,
        started_at: str,
        evaluated_at: str,
        tool_version: str,
        pid: int,
        command: str,
        kind: RunKind = RunKind.SCAN,
    ) -> int:
        with self.transaction():
            rows = self.execute(
                "INSERT INTO runs (scanner, started_at, evaluated_at, status, tool_version, pid, command,"
                " kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    scanner,
                    started_at,
                    evaluated_at,
                    RunStatus.RUNNING.value,
                    tool_version,
                    pid,
                    command,
                    kind.value,
                ),
            )
        return int(rows[0][0])

    def abandon_stale(self, scanner: str | None, before_run: int) -> list[int]:
        """Mark abandoned the runs (of one scanner, or all) still marked running under our lock."""
        sql = "UPDATE runs SET status = ? WHERE status = ? AND id < ?"
        params: list[Any] = [RunStatus.ABANDONED.value, RunStatus.RUNNING.value, before_run]
        if scanner is not None:
            sql += " AND scanner = ?"
            params.append(scanner)
        with self.transaction():
            rows = self.execute(sql + " RETURNING id", params)
        return sorted(int(r[0]) for r in rows)

    def write_endpoints(self, run_id: int, first_seq: int, records: Sequence[EndpointRecord]) -> None:
        """One transaction: every row of these endpoints, or none of them."""
        if not records:
            return
        certs = {c.sha256: c for r in records for c in r.certificates}
        with self.transaction():
            self.executemany(
                # A certificate stored before version 3 gets its DER the next time it is seen.
                "INSERT INTO certificates (sha256, subject, issuer, not_before, not_after, document, der)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET der = excluded.der"
                " WHERE certificates.der IS NULL AND excluded.der IS NOT NULL",
                [
                    (c.sha256, c.subject, c.issuer, c.not_before, c.not_after, c.document, c.der)
                    for c in certs.values()
                ],
            )
            self.executemany(
                "INSERT INTO observations (run_id, seq, host, ip, port, role, status, verdict, breaks_on,"
                " leaf_sha256, document, facts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run_id,
                        first_seq + n,
                        r.host,
                        r.ip,
                        r.port,
                        r.role,
                        r.status,
                        r.verdict,
                        r.breaks_on,
                        r.leaf_sha256,
                        r.document,
                        r.facts,
                    )
                    for n, r in enumerate(records)
                ],
            )
            findings = [(run_id, first_seq + n, *f) for n, r in enumerate(records) for f in r.findings]
            if findings:
                self.executemany(
                    "INSERT INTO findings (run_id, seq, code, severity, cert_sha256) VALUES (?, ?, ?, ?, ?)",
                    findings,
                )
            self.execute("UPDATE runs SET endpoints = endpoints + ? WHERE id = ?", (len(records), run_id))

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        finished_at: str,
        hosts: Iterable[HostRecord],
        summary: dict[str, Any] | None,
    ) -> None:
        with self.transaction():
            self.executemany(
                "INSERT INTO hosts (run_id, host, role, verdict, breaks_on, document)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                ((run_id, h.host, h.role, h.verdict, h.breaks_on, h.document) for h in hosts),
            )
            self.execute(
                "UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
                (status.value, finished_at, dumps(summary) if summary is not None else None, run_id),
            )

    # --- issuers fetched by --fetch-issuers ----------------------------------------------

    def record_fetched_issuers(self, fetched_at: str, issuers: Iterable[tuple[str, Sequence[bytes]]]) -> None:
        """Keep what each URL answered (replacing an older answer), for the next runs."""
        rows = [
            (url, fetched_at, " ".join(base64.b64encode(d).decode("ascii") for d in ders))
            for url, ders in issuers
        ]
        if not rows:
            return
        with self.transaction():
            self.executemany(
                "INSERT INTO fetched_issuers (url, fetched_at, certificates) VALUES (?, ?, ?)"
                " ON CONFLICT (url) DO UPDATE SET fetched_at = excluded.fetched_at,"
                " certificates = excluded.certificates",
                rows,
            )

    def fetched_issuers(self, since: str) -> list[tuple[str, tuple[bytes, ...]]]:
        """(URL, DER certificates) of every answer fetched at or after ``since``, by URL."""
        rows = self.execute(
            "SELECT url, certificates FROM fetched_issuers WHERE fetched_at >= ? ORDER BY url", (since,)
        )
        return [(str(url), tuple(base64.b64decode(c) for c in str(certs).split())) for url, certs in rows]

    # --- reading ------------------------------------------------------------------------

    def runs(
        self, scanner: str | None = None, status: RunStatus | None = None, kind: RunKind | None = None
    ) -> list[RunRecord]:
        """Runs, oldest first, optionally of one scanner, one status and one kind."""
        where, params = [], []
        if scanner is not None:
            where.append("scanner = ?")
            params.append(scanner)
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind.value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return [_run(r) for r in self.execute(f"SELECT {_RUN_COLUMNS} FROM runs{clause} ORDER BY id", params)]

    def run(self, run_id: int) -> RunRecord | None:
        rows = self.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        return _run(rows[0]) if rows else None

    def scanners(self) -> list[str]:
        return [str(r[0]) for r in self.execute("SELECT DISTINCT scanner FROM runs ORDER BY scanner")]

    def endpoint_documents(self, run_id: int) -> list[dict[str, Any]]:
        """Every endpoint of a run as its JSON document, in the order it was recorded."""
        rows = self.execute("SELECT document FROM observations WHERE run_id = ? ORDER BY seq", (run_id,))
        return self._inflate_all(str(r[0]) for r in rows)

    def history(self, host: str, port: int | None) -> list[tuple[int, dict[str, Any]]]:
        """(run id, endpoint document) for every observation of a host (name or address), oldest first."""
        sql = "SELECT run_id, document FROM observations WHERE (host = ? OR ip = ?)"
        params: list[Any] = [host, host]
        if port is not None:
            sql += " AND port = ?"
            params.append(port)
        rows = self.execute(sql + " ORDER BY run_id, seq", params)
        documents = self._inflate_all(str(r[1]) for r in rows)
        return [(int(r[0]), doc) for r, doc in zip(rows, documents, strict=True)]

    def _inflate_all(self, documents: Iterable[str]) -> list[dict[str, Any]]:
        texts = list(documents)
        wanted = sorted({sha for text in texts for sha in json.loads(text).get("chain", ())})
        certs: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(wanted, _IN_CHUNK):
            marks = ", ".join("?" * len(chunk))
            for sha, doc in self.execute(
                f"SELECT sha256, document FROM certificates WHERE sha256 IN ({marks})", chunk
            ):
                certs[str(sha)] = json.loads(doc)
        return [inflate(text, certs) for text in texts]


def _run(row: Row) -> RunRecord:
    return RunRecord(
        id=int(row[0]),
        scanner=str(row[1]),
        started_at=str(row[2]),
        evaluated_at=str(row[3]),
        finished_at=row[4],
        status=RunStatus(row[5]),
        tool_version=str(row[6]),
        endpoints=int(row[7]),
        summary=json.loads(row[8]) if row[8] else None,
        kind=RunKind(row[9]),
    )


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
