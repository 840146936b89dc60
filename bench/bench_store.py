"""Benchmark of the history store: what recording a sweep costs, per endpoint, in SQLite and PostgreSQL.

What is measured, for ``--n`` endpoints (default 10,000), ``--repeat`` times, per backend:

* **record**: ``Recorder.add`` for every endpoint report plus ``finish`` (hosts and summary), as
  ``ekuscan scan --db`` does it: JSON document, certificate rows (stored once), findings and
  links, committed in batches of 500 endpoints. This is the time ``--db`` adds to a scan;
* **serialise only**: turning the reports into records without a database, to split the cost
  between Python and the database;
* **read back**: every endpoint document of one run (``endpoint_documents``);
* **diff**: ``compare_runs`` of two recorded runs of N endpoints each;
* the SQLite file size after all runs.

How: the endpoint reports are made once, before any timing, by the real analysis over real
certificates from the lab PKI (one leaf per simulated host, four ports per host, the
intermediate shared, as in an estate); no network is used. SQLite is a file in a temporary
directory (WAL, synchronous=NORMAL, as ekuscan opens it). PostgreSQL is a throwaway cluster of
Debian's server binaries on 127.0.0.1 with fsync on (``tests/pgserver.py``); without them the
PostgreSQL rows are skipped with the reason.

Run: ``.venv/bin/python bench/bench_store.py [--n 10000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.app.history import compare_runs
from scanner.core.analysis import AnalysisContext, analyze
from scanner.core.trust import RootStore
from scanner.edge.files import load_packaged_policy
from scanner.edge.spool import DiskSpool
from scanner.lab import LabPKI, LeafKind
from scanner.model import Endpoint, EndpointReport, Observation, Role, Status
from scanner.report.inventory import Inventory
from scanner.store import SqlStore, open_store
from scanner.store.records import RunStatus, endpoint_record
from scanner.store.session import start_run

PORTS = (5061, 7001, 8443, 443)
KINDS = (LeafKind.PUBLIC_SERVER_ONLY, LeafKind.PUBLIC_BOTH_EXPIRING, LeafKind.PRIVATE_BOTH)


def make_reports(n: int) -> list[EndpointReport]:
    now = datetime.now(UTC)
    pki = LabPKI.generate(now)
    roots = RootStore.from_ders([pki.public_root.cert.public_bytes(Encoding.DER)])
    policy = load_packaged_policy()
    ctx = AnalysisContext(now=now, warn=timedelta(days=policy.warn_days), roots=roots, policy=policy)
    reports = []
    hosts = -(-n // len(PORTS))
    for h in range(hosts):
        leaf, chain = pki.leaf(f"host{h}", KINDS[h % len(KINDS)])
        ders = (leaf.cert.public_bytes(Encoding.DER), *(c.cert.public_bytes(Encoding.DER) for c in chain))
        address = f"10.{h // 65536 % 256}.{h // 256 % 256}.{h % 256}"  # never contacted: no network here
        for port in PORTS:
            if len(reports) == n:
                break
            endpoint = Endpoint(target=address, host=address, ip=address, port=port, role=Role.EXPRESSWAY)
            obs = Observation(endpoint, Status.OK, connected=True, chain_der=ders, tls_version="TLSv1.3")
            reports.append(analyze(obs, ctx))
    return reports


def record(store: SqlStore, reports: list[EndpointReport], scanner: str) -> tuple[float, int]:
    now = datetime.now(UTC)
    started = time.perf_counter()
    session = start_run(store, scanner, now, now, "bench", "bench")
    inventory = Inventory(spool=DiskSpool)
    for report in reports:
        inventory.add(report)  # the scan does this anyway: not part of what --db adds, but cheap
        session.recorder.add(report)
    session.recorder.inventory = inventory
    session.finish(RunStatus.COMPLETE, now)
    return time.perf_counter() - started, session.run_id


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_range(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} ({min(values):.1f}-{max(values):.1f})"


def bench_backend(name: str, target: str, reports: list[EndpointReport], repeat: int) -> list[str]:
    n = len(reports)
    record_us, read_s, diff_s = [], [], []
    with open_store(target) as store:
        store.lock("bench")
        run_ids = []
        for _ in range(repeat + 1):  # the first run warms caches and is not reported
            seconds, run_id = record(store, reports, "bench")
            run_ids.append(run_id)
            record_us.append(seconds / n * 1e6)
        record_us = record_us[1:]
        runs = {r.id: r for r in store.runs()}
        for _ in range(repeat):
            read_s.append(timed(lambda: store.endpoint_documents(run_ids[-1])) * 1000)
            diff_s.append(timed(lambda: compare_runs(store, runs[run_ids[-2]], runs[run_ids[-1]])) * 1000)
        certificates = store.execute("SELECT COUNT(*) FROM certificates")[0][0]
        observations = store.execute("SELECT COUNT(*) FROM observations")[0][0]
        if target.startswith("postgresql://"):
            size = int(store.execute("SELECT pg_database_size(current_database())")[0][0])
            where = "database"
        else:
            store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = Path(target).stat().st_size
            where = "file"
        document = store.execute("SELECT AVG(LENGTH(document)) FROM observations")[0][0]
    lines = [
        f"{name:<10} record   µs/endpoint {median_range(record_us)}   "
        f"= {statistics.median(record_us) * n / 1e6:.2f} s per {n} endpoints",
        f"{name:<10} read back ms/run      {median_range(read_s)}",
        f"{name:<10} diff      ms/2 runs   {median_range(diff_s)}",
        f"{name:<10} rows: {observations} observations, {certificates} certificates (stored once)",
    ]
    lines.append(
        f"{name:<10} {where} size {size / 1024 / 1024:.1f} MiB for {repeat + 1} runs "
        f"({size / observations:.0f} bytes per endpoint observation; its JSON document {float(document):.0f})"
    )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="endpoints per run [10000]")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per backend [3]")
    args = parser.parse_args()
    print(f"bench_store: n={args.n}, repeat={args.repeat}, load average {os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    reports = make_reports(args.n)
    print(f"made {len(reports)} endpoint reports in {time.perf_counter() - started:.1f} s (not timed below)")
    serialise = [timed(lambda: [endpoint_record(r) for r in reports]) / len(reports) * 1e6 for _ in range(3)]
    print(f"{'(none)':<10} serialise µs/endpoint {median_range(serialise)}")
    with tempfile.TemporaryDirectory(prefix="ekuscan-bench-") as directory:
        for line in bench_backend("sqlite", str(Path(directory) / "history.sqlite"), reports, args.repeat):
            print(line)
    try:
        from tests.pgserver import PgServer

        with PgServer(durable=True) as pg:
            for line in bench_backend("postgres", pg.create_database("bench"), reports, args.repeat):
                print(line)
    except RuntimeError as exc:
        print(f"postgres   skipped: {exc}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
