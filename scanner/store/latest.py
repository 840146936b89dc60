"""The estate as the store last saw it: each endpoint's latest observation, streamed host by host.

``ekuscan report`` reads every endpoint once, from whichever scanner's complete or stopped run
saw it last, and judges it again. The rows come ordered by host name, so that the endpoints of
one host arrive together (the report judges a host's endpoints together, as a scan does), and
in batches from a cursor (an iterating cursor in SQLite, a server-side one in PostgreSQL), so
memory holds a batch, not the estate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from scanner.model.pickling import fast_pickling
from scanner.store._sql import SqlStore
from scanner.store.records import RunStatus

# Runs whose rows are what the probes saw: a complete run, or one stopped by Ctrl-C or SIGTERM
# (it holds what was found until then). Not a failed run (its rows may be torn off mid-batch),
# nor one still running (or dead: abandoned).
REPORTED_STATUSES = (RunStatus.COMPLETE, RunStatus.INTERRUPTED, RunStatus.TERMINATED)
BATCH = 1000
_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredObservation:
    host: str
    ip: str | None
    port: int
    run_id: int
    seq: int
    scanner: str
    started_at: str  # the run's start, ISO 8601 UTC
    facts: str | None  # None: recorded before schema version 3 (no evidence)
    document: str | None  # the endpoint's JSON as recorded, its chain as SHA-256; read only without facts


@dataclass(frozen=True, slots=True)
class ScannerRuns:
    """A scanner's freshness: its latest run of any status, and its latest complete run."""

    scanner: str
    last_run_id: int
    last_started_at: str
    last_status: RunStatus
    last_endpoints: int
    complete_run_id: int | None
    complete_started_at: str | None


def _scanner_clause(scanners: Sequence[str]) -> tuple[str, list[Any]]:
    if not scanners:
        return "", []
    return f" AND r.scanner IN ({', '.join('?' * len(scanners))})", list(scanners)


def latest_observations(
    store: SqlStore, scanners: Sequence[str] = (), batch: int = BATCH
) -> Iterator[list[StoredObservation]]:
    """Every endpoint (host, address, port) once, its latest observation first by the start of
    the run that saw it, in host order, in batches."""
    statuses = [s.value for s in REPORTED_STATUSES]
    clause, params = _scanner_clause(scanners)
    # The window sorts keys only; the documents are read once, by primary key, for the winners.
    sql = (
        # the document is only read where there are no facts: to show what was recorded
        "SELECT o.host, o.ip, o.port, o.run_id, o.seq, r.scanner, r.started_at, o.facts,"
        " CASE WHEN o.facts IS NULL THEN o.document END"
        " FROM (SELECT o.run_id, o.seq, o.host, o.ip, o.port, ROW_NUMBER() OVER ("
        "PARTITION BY o.host, o.ip, o.port ORDER BY r.started_at DESC, o.run_id DESC, o.seq DESC) AS n"
        " FROM observations o JOIN runs r ON r.id = o.run_id"
        f" WHERE r.status IN ({', '.join('?' * len(statuses))}){clause}) latest"
        " JOIN observations o ON o.run_id = latest.run_id AND o.seq = latest.seq"
        " JOIN runs r ON r.id = o.run_id"
        " WHERE latest.n = 1 ORDER BY latest.host, latest.ip, latest.port"
    )
    for rows in store.stream(sql, [*statuses, *params], batch):
        yield [
            StoredObservation(
                str(r[0]), r[1], int(r[2]), int(r[3]), int(r[4]), str(r[5]), str(r[6]), r[7], r[8]
            )
            for r in rows
        ]


def observation_count(store: SqlStore, scanners: Sequence[str] = ()) -> int:
    """How many observations the reported runs hold: the most endpoints a report can list."""
    statuses = [s.value for s in REPORTED_STATUSES]
    clause, params = _scanner_clause(scanners)
    rows = store.execute(
        "SELECT COUNT(*) FROM observations o JOIN runs r ON r.id = o.run_id"
        f" WHERE r.status IN ({', '.join('?' * len(statuses))}){clause}",
        [*statuses, *params],
    )
    return int(rows[0][0])


def scanner_runs(store: SqlStore, scanners: Sequence[str] = ()) -> list[ScannerRuns]:
    """Each scanner's latest run and latest complete run, by scanner name."""
    clause, params = _scanner_clause(scanners)
    rows = store.execute(
        "SELECT r.scanner, r.id, r.started_at, r.status, r.endpoints FROM runs r"
        f" WHERE r.id IN (SELECT MAX(id) FROM runs GROUP BY scanner){clause} ORDER BY r.scanner",
        params,
    )
    complete = {
        str(name): (int(run_id), str(started))
        for name, run_id, started in store.execute(
            "SELECT r.scanner, r.id, r.started_at FROM runs r WHERE r.id IN"
            " (SELECT MAX(id) FROM runs WHERE status = ? GROUP BY scanner)",
            (RunStatus.COMPLETE.value,),
        )
    }
    return [
        ScannerRuns(
            scanner=str(name),
            last_run_id=int(run_id),
            last_started_at=str(started),
            last_status=RunStatus(status),
            last_endpoints=int(endpoints),
            complete_run_id=complete[str(name)][0] if str(name) in complete else None,
            complete_started_at=complete[str(name)][1] if str(name) in complete else None,
        )
        for name, run_id, started, status, endpoints in rows
    ]


def certificate_ders(store: SqlStore, hashes: Iterable[str]) -> dict[str, bytes]:
    """The DER of those certificates the store holds it for, by SHA-256."""
    wanted = sorted(set(hashes))
    found: dict[str, bytes] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        for sha, der in store.execute(
            f"SELECT sha256, der FROM certificates WHERE der IS NOT NULL AND sha256 IN ({marks})", chunk
        ):
            found[str(sha)] = bytes(der)
    return found


def observation_document(store: SqlStore, run_id: int, seq: int) -> str:
    """One observation's recorded JSON document (its chain as SHA-256)."""
    return str(
        store.execute("SELECT document FROM observations WHERE run_id = ? AND seq = ?", (run_id, seq))[0][0]
    )


def certificate_documents(store: SqlStore, hashes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored JSON form of those certificates, by SHA-256 (for reports shown as recorded)."""
    wanted = sorted(set(hashes))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        for sha, doc in store.execute(
            f"SELECT sha256, document FROM certificates WHERE sha256 IN ({marks})", chunk
        ):
            found[str(sha)] = json.loads(doc)
    return found


__all__ = [
    "REPORTED_STATUSES",
    "ScannerRuns",
    "StoredObservation",
    "certificate_ders",
    "certificate_documents",
    "latest_observations",
    "observation_count",
    "observation_document",
    "scanner_runs",
]


fast_pickling(globals())  # the state of its dataclasses as tuples: see model/pickling.py
