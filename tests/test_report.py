"""``ekuscan report``: the estate from the store, as cron runs it after the jump hosts' scans.

Real processes, the session lab on loopback, real SQLite files and a real PostgreSQL server.
Two scanners record different halves of the lab into one database; the report must equal one
scan of the whole lab, and must judge the stored evidence by the rules and policy of today.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from scanner.lab import ESTATE
from scanner.store import open_store
from scanner.store.schema import LATEST
from tests import test_cli
from tests.test_cli import ekuscan

lab_files = test_cli.lab_files  # the lab's targets CSV and public root (a fixture)
SCANNERS = ("dmz-1", "inside-1")


def halves(targets: Path, directory: Path) -> tuple[Path, Path]:
    """The lab's targets CSV cut in two by host: odd addresses for one scanner, even for the other,
    so that each C/E pair (pair-public, pair-private) is seen half by each jump host."""
    lines = targets.read_text().splitlines()
    header = [line for line in lines if line.startswith("target,")]
    rows = list(csv.reader(io.StringIO("\n".join(line for line in lines if line[:1].isdigit()))))
    files = []
    for parity in (1, 0):
        path = directory / f"half-{parity}.csv"
        chosen = [r for r in rows if int(r[0].rsplit(".", 1)[1]) % 2 == parity]
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(chosen)
        path.write_text("\n".join(header) + "\n" + out.getvalue())
        files.append(path)
    return files[0], files[1]


def judging(targets: Path, root: Path) -> list[str]:
    return ["--public-roots", str(root), "--intermediates", str(test_cli.intermediates_for(targets))]


def record(
    db: str, scanner: str, targets: Path, root: Path, *extra: str, lab_targets: Path | None = None
) -> None:
    """One jump host's cron run: ``targets`` (a part of the lab), recorded in ``db`` as ``scanner``."""
    result = ekuscan(
        "scan", "-i", str(targets), *judging(lab_targets or targets, root),
        "--db", db, "--scanner-name", scanner, "--timeout", "1.5", "-q", "-f", "json", *extra,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr


def report(db: str, targets: Path, root: Path, *extra: str) -> dict:
    result = ekuscan("report", "--db", db, *judging(targets, root), "-f", "json", *extra)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def by_endpoint(document: dict) -> dict[tuple[str, int], dict]:
    return {(e["host"], e["port"]): e for e in document["endpoints"]}


def judgement(endpoint: dict, evaluated_at: str) -> tuple:
    """What an endpoint was judged to be, apart from where and when it was seen (what is broken
    already breaks "now": at the moment each run was judged)."""

    def day(value: str | None) -> str | None:
        return "now" if value == evaluated_at else value

    return (
        endpoint["verdict"],
        day(endpoint["breaks_on"]),
        endpoint["role"],
        endpoint["trust"],
        sorted((f["code"], f["message"]) for f in endpoint["findings"]),
        [(link["name"], link["uses"], link["verdict"], day(link["breaks_on"])) for link in endpoint["links"]],
    )


@pytest.fixture
def two_scanners(lab_files, db_target, tmp_path) -> str:
    targets, root = lab_files
    first, second = halves(targets, tmp_path)
    record(db_target, SCANNERS[0], first, root, lab_targets=targets)
    record(db_target, SCANNERS[1], second, root, lab_targets=targets)
    return db_target


def test_report_of_two_scanners_equals_one_scan_of_the_whole_lab(lab, lab_files, two_scanners):
    targets, root = lab_files
    whole = ekuscan("scan", "-i", str(targets), *judging(targets, root), "--timeout", "1.5", "-f", "json")
    assert whole.returncode == 1, whole.stderr
    scanned = json.loads(whole.stdout)
    reported = report(two_scanners, targets, root)

    assert reported["schema"] == scanned["schema"] == "ekuscan/inventory/1"
    scan_endpoints, report_endpoints = by_endpoint(scanned), by_endpoint(reported)
    assert set(report_endpoints) == set(scan_endpoints)
    for key, endpoint in report_endpoints.items():
        assert judgement(endpoint, reported["evaluated_at"]) == judgement(
            scan_endpoints[key], scanned["evaluated_at"]
        ), key
        parity = int(endpoint["host"].rsplit(".", 1)[1]) % 2
        assert endpoint["scanner"] == SCANNERS[0 if parity else 1]
        assert test_cli.ISO.match(endpoint["seen_at"])
        assert endpoint["rejudged"] is True and endpoint["stale"] is False and endpoint["vanished"] is False
        assert "seen_at" not in scan_endpoints[key]  # a scan's document is unchanged
    hosts = {h["host"]: (h["verdict"], h["role"], h["ports"]) for h in reported["hosts"]}
    assert hosts == {h["host"]: (h["verdict"], h["role"], h["ports"]) for h in scanned["hosts"]}
    # Estate rules see the whole estate: the C of one pair beside the E the other scanner saw.
    estate = sorted((f["code"], f["message"]) for f in reported["summary"]["findings"])
    assert estate == sorted((f["code"], f["message"]) for f in scanned["summary"]["findings"])
    assert reported["summary"]["hosts_by_verdict"] == scanned["summary"]["hosts_by_verdict"]


def test_report_at_a_later_date_breaks_what_expires_by_then(lab, lab_files, two_scanners):
    targets, root = lab_files
    expc = lab.find("expc-public", 5061).address
    now = by_endpoint(report(two_scanners, targets, root))[(expc, 5061)]
    later = by_endpoint(report(two_scanners, targets, root, "--at", "2028-12-01"))[(expc, 5061)]
    assert now["verdict"] == "at-risk"
    assert later["verdict"] == "breaks" and "EXPIRED" in {f["code"] for f in later["findings"]}
    # judged later, seen when it was: the sighting does not move with --at
    assert later["seen_at"] == now["seen_at"] and later["stale"] is False


def test_a_changed_policy_changes_what_the_stored_observations_are_judged_to_be(
    lab, lab_files, two_scanners, tmp_path
):
    targets, root = lab_files
    policy = json.loads(ekuscan("policy", "show").stdout)
    policy["defaults"]["warn_days"] = 3650  # every certificate now "expires soon"
    changed = tmp_path / "policy.json"
    changed.write_text(json.dumps(policy))
    expc = lab.find("expc-private", 5061).address
    before = by_endpoint(report(two_scanners, targets, root))[(expc, 5061)]
    after = by_endpoint(report(two_scanners, targets, root, "--policy", str(changed)))[(expc, 5061)]
    assert before["verdict"] == "ok"
    assert after["verdict"] == "at-risk" and "EXPIRES_SOON" in {f["code"] for f in after["findings"]}


def test_stale_and_vanished_endpoints_are_flagged_not_dropped(lab, lab_files, tmp_path):
    targets, root = lab_files
    db = str(tmp_path / "history.sqlite")
    record(db, "dmz-1", targets, root)
    fewer = tmp_path / "fewer.csv"
    plaintext = lab.find("plaintext", 5061).address
    fewer.write_text(
        "".join(line + "\n" for line in targets.read_text().splitlines() if plaintext not in line)
    )
    record(db, "dmz-1", fewer, root, lab_targets=targets)
    record(db, "inside-1", fewer, root, lab_targets=targets)
    with open_store(db) as store:  # inside-1's run was ten days ago
        store.execute(
            "UPDATE runs SET started_at = ? WHERE scanner = ?", ("2020-01-01T00:00:00Z", "inside-1")
        )
    document = report(db, targets, root, "--max-age", "30")
    endpoints = by_endpoint(document)
    gone = endpoints[(plaintext, 5061)]
    assert gone["vanished"] is True and gone["scanner"] == "dmz-1"
    assert "ENDPOINT_VANISHED" in {f["code"] for f in gone["findings"]}
    assert all(not e["vanished"] for key, e in endpoints.items() if key != (plaintext, 5061))
    # dmz-1's runs are the newest for every endpoint: nothing is stale
    assert not any(e["stale"] for e in document["endpoints"])
    only_inside = by_endpoint(report(db, targets, root, "--scanner", "inside-1", "--max-age", "30"))
    assert only_inside and all(e["stale"] and e["scanner"] == "inside-1" for e in only_inside.values())
    stale = next(iter(only_inside.values()))
    assert stale["age_days"] > 2000
    finding = next(f for f in stale["findings"] if f["code"] == "STALE_OBSERVATION")
    assert "last seen" in finding["message"] and finding["details"]["scanner"] == "inside-1"
    # the table says so in each row's note and in one line at the end
    table = ekuscan("report", "--db", db, "--scanner", "inside-1", *judging(targets, root), "-f", "table")
    assert "stale " in table.stdout and "from the history store:" in table.stdout


def test_report_needs_a_database_and_known_scanners(tmp_path, lab_files):
    targets, root = lab_files
    missing = ekuscan("report", "--db", str(tmp_path / "none.sqlite"))
    assert test_cli.one_line_error(missing).endswith(f"no history database at {tmp_path / 'none.sqlite'}")
    db = str(tmp_path / "history.sqlite")
    record(db, "dmz-1", targets, root, "--role", "server")
    unknown = ekuscan("report", "--db", db, "--scanner", "nobody")
    assert "--scanner: no runs of nobody" in test_cli.one_line_error(unknown)
    assert "known: dmz-1" in unknown.stderr
    assert ekuscan("report", "--db", db, "--max-age", "0").returncode == 2


def test_report_writes_a_prometheus_textfile_and_html_with_each_scanners_freshness(
    lab, lab_files, two_scanners, tmp_path
):
    targets, root = lab_files
    prom = tmp_path / "ekuscan.prom"
    result = ekuscan(
        "report", "--db", two_scanners, *judging(targets, root), "-f", "prometheus", "-o", str(prom)
    )
    assert result.returncode == 1, result.stderr  # the lab has links that break: --fail-on breaks
    metrics = prom.read_text()
    assert 'ekuscan_scanner_last_run_timestamp_seconds{scanner="dmz-1",status="complete"}' in metrics
    assert 'ekuscan_scanner_last_complete_run_timestamp_seconds{scanner="inside-1"}' in metrics
    assert metrics.count("ekuscan_endpoint_seen_timestamp_seconds{") == sum(len(h.services) for h in ESTATE)
    never = ekuscan(
        "report", "--db", two_scanners, *judging(targets, root), "--fail-on", "never", "-f", "csv"
    )
    assert never.returncode == 0 and never.stdout.startswith("host,ip,port,")
    rows = list(csv.DictReader(io.StringIO(never.stdout)))
    assert rows and {row["scanner"] for row in rows} == set(SCANNERS)
    assert all(row["seen_at"].endswith("Z") and row["rejudged"] == "yes" for row in rows)
    assert all(row["stale"] == "no" and row["vanished"] == "no" for row in rows)
    html = tmp_path / "estate.html"
    assert ekuscan("report", "--db", two_scanners, *judging(targets, root), "-o", str(html)).returncode == 1
    page = html.read_text()
    assert '<section id="scanners">' in page and "reported from the history store" in page
    for name in SCANNERS:
        assert f'data-scanner="{name}" data-status="complete"' in page


# --- a database of an older ekuscan --------------------------------------------------------

# What the version-2 recorder wrote (scanner/store/_sql.py before schema version 3): the
# endpoint's JSON document and its certificates' JSON forms, no DER and no observation facts.
V2_CERTIFICATE = (
    "INSERT INTO certificates (sha256, subject, issuer, not_before, not_after, document)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING"
)
V2_OBSERVATION = (
    "INSERT INTO observations (run_id, seq, host, ip, port, role, status, verdict, breaks_on,"
    " leaf_sha256, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def version_2_store(db: str):
    from scanner.store import is_postgres
    from scanner.store.schema import MIGRATIONS

    if is_postgres(db):
        from scanner.store.postgres import PostgresStore

        store = PostgresStore(db)
    else:
        from scanner.store.sqlite import SqliteStore

        store = SqliteStore(Path(db))
    assert store.migrate(MIGRATIONS[:2]) == [1, 2]
    return store


def record_as_version_2(db: str, endpoints: list[dict], scanner: str, started_at: str) -> None:
    """A complete run written as the version-2 code path wrote it, from a scan's endpoint documents."""
    from scanner.store.records import endpoint_record_from_dict

    with version_2_store(db) as store:
        [(run_id,)] = store.execute(
            "INSERT INTO runs (scanner, started_at, evaluated_at, status, tool_version, pid, command)"
            " VALUES (?, ?, ?, 'running', '0.9', 1, 'scan -i targets.csv') RETURNING id",
            (scanner, started_at, started_at),
        )
        records = [endpoint_record_from_dict(doc) for doc in endpoints]
        with store.transaction():
            store.executemany(
                V2_CERTIFICATE,
                [
                    (c.sha256, c.subject, c.issuer, c.not_before, c.not_after, c.document)
                    for r in records
                    for c in r.certificates
                ],
            )
            store.executemany(
                V2_OBSERVATION,
                [
                    (
                        run_id,
                        n,
                        r.host,
                        r.ip,
                        r.port,
                        r.role,
                        r.status,
                        r.verdict,
                        r.breaks_on,
                        r.leaf_sha256,
                        r.document,
                    )
                    for n, r in enumerate(records)
                ],
            )
            store.execute("UPDATE runs SET endpoints = ?, status = 'complete', finished_at = ? WHERE id = ?",
                          (len(records), started_at, run_id))  # fmt: skip
        assert store.schema_version() == 2


def test_an_older_database_is_migrated_and_reported_honestly(lab, lab_files, db_target):
    targets, root = lab_files
    scan = ekuscan("scan", "-i", str(targets), *judging(targets, root), "--timeout", "1.5", "-f", "json")
    scanned = json.loads(scan.stdout)
    record_as_version_2(db_target, scanned["endpoints"], "dmz-1", scanned["started_at"])

    reported = report(db_target, targets, root)
    with open_store(db_target) as store:
        assert store.schema_version() == LATEST  # migrated forward on opening
    endpoints, before = by_endpoint(reported), by_endpoint(scanned)
    assert set(endpoints) == set(before)
    for key, endpoint in endpoints.items():
        assert endpoint["rejudged"] is False and endpoint["scanner"] == "dmz-1"
        assert "NOT_REJUDGED" in {f["code"] for f in endpoint["findings"]}
        # shown with what was recorded: the verdict, the links, the chain's facts
        assert (endpoint["verdict"], endpoint["links"]) == (before[key]["verdict"], before[key]["links"]), key
        assert [c["sha256"] for c in endpoint["chain"]] == [c["sha256"] for c in before[key]["chain"]]
    # with judging processes, the rows without evidence are put together in the writing one, in order
    in_workers = report(db_target, targets, root, "--workers", "2")
    assert [(e["host"], e["port"], e["verdict"], e["findings"]) for e in in_workers["endpoints"]] == [
        (e["host"], e["port"], e["verdict"], e["findings"]) for e in reported["endpoints"]
    ]
    # --at cannot move a verdict that is not judged again: the report does not pretend it does
    later = by_endpoint(report(db_target, targets, root, "--at", "2030-01-01"))
    assert {k: e["verdict"] for k, e in later.items()} == {k: e["verdict"] for k, e in endpoints.items()}
    table = ekuscan("report", "--db", db_target, *judging(targets, root), "-f", "table")
    assert "as recorded" in table.stdout and f"{len(endpoints)} not re-judged" in table.stdout

    # The next scan keeps the evidence (and the DER of certificates stored without it): judged again.
    record(db_target, "dmz-1", targets, root)
    again = by_endpoint(report(db_target, targets, root, "--at", "2030-01-01"))
    assert all(
        e["rejudged"] and "NOT_REJUDGED" not in {f["code"] for f in e["findings"]} for e in again.values()
    )
    assert {k for k, e in again.items() if e["verdict"] != endpoints[k]["verdict"]}  # 2030 breaks more
    with open_store(db_target) as store:
        assert store.execute("SELECT COUNT(*) FROM certificates WHERE der IS NULL")[0][0] == 0


def test_report_in_worker_processes_equals_the_report_in_one(lab, lab_files, tmp_path):
    targets, root = lab_files
    db = str(tmp_path / "history.sqlite")
    first, second = halves(targets, tmp_path)
    record(db, SCANNERS[0], first, root, lab_targets=targets)
    record(db, SCANNERS[1], second, root, lab_targets=targets)
    one = report(db, targets, root, "--workers", "1")
    several = report(db, targets, root, "--workers", "2")

    def judged(document: dict) -> list[tuple]:
        return [
            (e["host"], e["port"], e["scanner"], e["seen_at"], judgement(e, document["evaluated_at"]))
            for e in document["endpoints"]
        ]

    assert judged(one) == judged(several) and len(judged(one)) == len(by_endpoint(one))
    assert [h["host"] for h in one["hosts"]] == [h["host"] for h in several["hosts"]]
    assert one["summary"]["findings"] == several["summary"]["findings"]


def test_the_parse_cache_parses_each_distinct_der_once_and_stays_bounded(realcerts):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from scanner.app.parse_cache import ParseCache

    ders = [
        x509.load_pem_x509_certificate(p.read_bytes()).public_bytes(Encoding.DER)
        for p in sorted(realcerts.glob("*.pem"))[:3]
    ]
    cache = ParseCache(size=2)
    first = [cache(der) for der in ders[:2] for _ in range(5)]
    assert cache.parses == 2 and first[0] is first[4]  # the same parsed value, not parsed again
    cache(ders[2])  # a third evicts the least recently used
    assert cache.parses == 3 and len(cache._parsed) == 2
    cache(ders[1])
    assert cache.parses == 3
    cache(ders[0])
    assert cache.parses == 4
