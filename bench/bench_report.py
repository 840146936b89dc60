"""Benchmark of ``ekuscan report``: the whole estate judged again from the store, in SQLite and PostgreSQL.

What is measured, for ``--n`` endpoints (default 100,000) seen by ``--scanners`` jump hosts
(default 3), each scanner with ``--runs`` recorded runs of its share (default 2: the report
must pick each endpoint's latest observation from the history, not just read one run):

* **fill**: writing the store directly (runs, certificates with DER, observation rows with
  facts and JSON documents, as the recorder writes them), not timed against the report;
* **report**: ``python -m scanner report --db ... -f json -o FILE`` as cron runs it, start-up
  included: wall time, endpoints per second, and the process's peak RSS (``VmHWM``, read by
  the process itself at exit: ``ru_maxrss`` of a child starts from its parent's RSS). With the
  default ``--workers`` the report judges in one process per CPU (its parent's RSS is printed;
  each worker holds its own analysis context and parse cache);
* the same report at ``--n / 10`` endpoints, so that "RSS flat" is a measured pair of figures.

How: the certificates are real, from the lab PKI: ``--leaves`` distinct leaves (default 2,000)
of three kinds (public serverAuth-only, public expiring, private), sharing the lab's
intermediates, spread over the hosts (four ports per host, one leaf per host). Each endpoint's
JSON document is the one the analysis makes for its leaf, with its own host and port. The report
judges every endpoint again from the DER and facts; each distinct DER is parsed once. No
network is used. SQLite is a temporary file; PostgreSQL a throwaway cluster of Debian's server
binaries on 127.0.0.1 (``tests/pgserver.py``); without them its rows say why they were skipped.

Run: ``.venv/bin/python bench/bench_report.py [--n 100000] [--scanners 3] [--runs 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.core.analysis import AnalysisContext, analyze
from scanner.core.trust import RootStore
from scanner.edge.files import load_packaged_policy
from scanner.lab import LabPKI, LeafKind
from scanner.model import Endpoint, Observation, Role, Status
from scanner.report.document import iso
from scanner.report.evidence import observation_facts
from scanner.store import SqlStore, open_store
from scanner.store.records import RunStatus, dumps, endpoint_record

REPO = Path(__file__).resolve().parent.parent
PORTS = (5061, 7001, 8443, 443)
KINDS = (LeafKind.PUBLIC_SERVER_ONLY, LeafKind.PUBLIC_BOTH_EXPIRING, LeafKind.PRIVATE_BOTH)
ROWS_PER_COMMIT = 5000
# Runs the CLI and prints its own peak RSS at exit, however main() exits (it calls sys.exit).
PEAK_RSS_WRAPPER = (
    "import atexit, sys\n"
    "def peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('peak-rss-kib ' + line.split()[1] + '\\n')\n"
    "atexit.register(peak)\n"
    "from scanner.cli.main import main\n"
    "main(sys.argv[1:])\n"
)


class Templates:
    """Per distinct leaf: its chain's DER, its observation facts and its endpoint document."""

    def __init__(self, leaves: int, now: datetime) -> None:
        pki = LabPKI.generate(now)
        self.root_pem = pki.public_root.pem
        roots = RootStore.from_ders([pki.public_root.cert.public_bytes(Encoding.DER)])
        policy = load_packaged_policy()
        analysis = AnalysisContext(now=now, warn=timedelta(days=policy.warn_days), roots=roots, policy=policy)
        self.items = []
        for n in range(leaves):
            leaf, chain = pki.leaf(f"leaf{n}", KINDS[n % len(KINDS)])
            ders = (leaf.cert.public_bytes(Encoding.DER), *(c.cert.public_bytes(Encoding.DER) for c in chain))
            endpoint = Endpoint(
                target="10.0.0.1", host="10.0.0.1", ip="10.0.0.1", port=5061, role=Role.EXPRESSWAY
            )
            obs = Observation(endpoint, Status.OK, connected=True, chain_der=ders, tls_version="TLSv1.3")
            record = endpoint_record(analyze(obs, analysis))
            self.items.append((record, json.loads(record.document), observation_facts(obs)))


def fill(store: SqlStore, templates: Templates, n: int, scanners: int, runs: int, now: datetime) -> None:
    """``n`` endpoints, each scanner a share of the hosts, each share recorded ``runs`` times."""
    hosts = -(-n // len(PORTS))
    certificates = {c.sha256: c for record, _, _ in templates.items for c in record.certificates}
    with store.transaction():
        store.executemany(
            "INSERT INTO certificates (sha256, subject, issuer, not_before, not_after, document, der)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
            [
                (c.sha256, c.subject, c.issuer, c.not_before, c.not_after, c.document, c.der)
                for c in certificates.values()
            ],
        )
    for run in range(runs):
        for scanner in range(scanners):
            started = iso(now - timedelta(hours=runs - run, minutes=scanner))
            run_id = store.begin_run(f"jump-{scanner + 1}", str(started), str(started), "bench", 1, "bench")
            rows, seq = [], 0
            for h in range(scanner, hosts, scanners):
                record, document, facts = templates.items[h % len(templates.items)]
                address = f"10.{h // 65536 % 256}.{h // 256 % 256}.{h % 256}"  # never contacted
                for port in PORTS[: min(len(PORTS), n - h * len(PORTS))]:
                    endpoint = {
                        **facts["endpoint"],
                        "target": address,
                        "host": address,
                        "ip": address,
                        "port": port,
                    }
                    doc = {**document, "target": address, "host": address, "ip": address, "port": port}
                    stored_facts = dumps({**facts, "endpoint": endpoint})
                    rows.append(
                        (run_id, seq, address, address, port, record.role, record.status, record.verdict,
                         record.breaks_on, record.leaf_sha256, dumps(doc), stored_facts)
                    )  # fmt: skip
                    seq += 1
                    if len(rows) >= ROWS_PER_COMMIT:
                        _insert(store, rows)
            _insert(store, rows)
            store.execute(
                "UPDATE runs SET status = ?, finished_at = ?, endpoints = ? WHERE id = ?",
                (RunStatus.COMPLETE.value, started, seq, run_id),
            )


def _insert(store: SqlStore, rows: list[tuple[object, ...]]) -> None:
    with store.transaction():
        store.executemany(
            "INSERT INTO observations (run_id, seq, host, ip, port, role, status, verdict, breaks_on,"
            " leaf_sha256, document, facts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    rows.clear()


def report(db: str, root: Path, out: Path, workers: list[str]) -> tuple[float, int, int]:
    """(seconds, peak RSS in KiB, endpoints in the output) of one ``ekuscan report``."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_WRAPPER, "report", "--db", db, "--public-roots", str(root),
         "--fail-on", "never", "-f", "json", "-o", str(out), *workers],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"report failed ({result.returncode}): {result.stderr.strip()}")
    peak = next(
        int(line.split()[1]) for line in result.stderr.splitlines() if line.startswith("peak-rss-kib")
    )
    with out.open() as document:
        endpoints = len(json.load(document)["endpoints"])
    return seconds, peak, endpoints


def bench_backend(name: str, make_db, templates: Templates, args, root: Path, directory: Path) -> list[str]:
    lines = []
    for n in (args.n // 10, args.n):
        db = make_db(n)
        now = datetime.now(UTC)
        started = time.perf_counter()
        with open_store(db) as store:
            fill(store, templates, n, args.scanners, args.runs, now)
        filled = time.perf_counter() - started
        workers = ["--workers", str(args.workers)] if args.workers else []
        seconds, peak, endpoints = report(db, root, directory / f"{name}-{n}.json", workers)
        assert endpoints == n, (endpoints, n)
        lines.append(
            f"{name:<9} n={n:>7}: fill {filled:6.1f} s ({args.scanners} scanners x {args.runs} runs); "
            f"report {seconds:6.1f} s = {n / seconds:7.0f} endpoints/s, peak RSS {peak / 1024:6.1f} MiB"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="endpoints in the estate [100000]")
    parser.add_argument("--scanners", type=int, default=3, help="jump hosts sharing the estate [3]")
    parser.add_argument("--runs", type=int, default=2, help="recorded runs per scanner [2]")
    parser.add_argument("--leaves", type=int, default=2000, help="distinct leaf certificates [2000]")
    parser.add_argument("--workers", type=int, default=None, help="report --workers [ekuscan's default]")
    args = parser.parse_args()
    print(f"bench_report: n={args.n} (and n/10), scanners={args.scanners}, runs={args.runs}, "
          f"leaves={args.leaves}, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    started = time.perf_counter()
    templates = Templates(args.leaves, datetime.now(UTC))
    print(
        f"made {args.leaves} leaves and their documents in {time.perf_counter() - started:.1f} s (not timed)"
    )
    with tempfile.TemporaryDirectory(prefix="ekuscan-bench-") as name:
        directory = Path(name)
        root = directory / "root.pem"
        root.write_bytes(templates.root_pem)
        for line in bench_backend(
            "sqlite", lambda n: str(directory / f"history-{n}.sqlite"), templates, args, root, directory
        ):
            print(line)
        try:
            from tests.pgserver import PgServer

            with PgServer() as pg:
                for line in bench_backend(
                    "postgres", lambda n: pg.create_database(f"bench_{n}"), templates, args, root, directory
                ):
                    print(line)
        except RuntimeError as exc:
            print(f"postgres  skipped: {exc}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
