"""The history store against real SQLite files and a real PostgreSQL server (tests/pgserver.py).

Every test that takes ``db_target`` runs once per backend, with the same expectations.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scanner.app.history import compare_runs
from scanner.core.analysis import analyze
from scanner.model import Endpoint, Observation, Role, Status
from scanner.report.document import endpoint_dict
from scanner.report.inventory import Inventory
from scanner.store import RunStatus, StoreError, StoreLocked, open_store, redact
from scanner.store.postgres import scanner_lock_key
from scanner.store.recorder import Recorder
from scanner.store.records import endpoint_record, endpoint_record_from_dict
from scanner.store.schema import LATEST, MIGRATIONS, Dialect, Migration, SchemaTooNew, pending
from scanner.store.session import default_pairs, start_run
from tests.conftest import REPO, context
from tests.factories import NOW, make_chain, observation
from tests.storeutil import host_documents, integrity_problems

T0 = "2026-11-27T02:00:00Z"


@pytest.fixture(scope="module")
def chains():
    """Two leaves under one chain: the intermediate and root are shared."""
    root, inter, leaf = make_chain("serverAuth", "none", leaf_cn="expe.example.test")
    _, _, other = make_chain("both", "none", leaf_cn="expc.example.test")
    return root, inter, leaf, other


def reports(chains, hosts, *, leaf_index=2):
    root, inter, *leaves = chains
    leaf = leaves[leaf_index - 2]
    ctx = context()
    out = []
    for n, host in enumerate(hosts):
        obs = observation(leaf, inter, root, host=host, port=5061 + n % 2, role=Role.EXPRESSWAY_E)
        out.append(analyze(obs, ctx))
    return out


def record_run(store, scanner, items, status=RunStatus.COMPLETE, *, batch=500):
    session = start_run(store, scanner, NOW, NOW, "test", "scan")
    session.recorder = Recorder(store, session.run_id, batch=batch)
    inventory = Inventory()
    for r in items:
        inventory.add(r)
        session.recorder.add(r)
    session.recorder.inventory = inventory
    session.finish(status, NOW)
    return session.run_id


def test_round_trip_keeps_every_field_and_stores_each_certificate_once(db_target, chains):
    items = reports(chains, [f"192.0.2.{n}" for n in range(1, 8)])
    with open_store(db_target) as store:
        run_id = record_run(store, "jump1", items, batch=3)  # several batches
        docs = store.endpoint_documents(run_id)
        assert docs == [json.loads(json.dumps(endpoint_dict(r))) for r in items]
        assert store.execute("SELECT COUNT(*) FROM certificates")[0][0] == 3  # leaf, intermediate, root
        run = store.run(run_id)
        assert run is not None and run.status is RunStatus.COMPLETE and run.endpoints == 7
        assert run.summary is not None and run.summary["endpoints"] == 7
        assert [h["host"] for h in host_documents(store, run_id)] == sorted(
            f"192.0.2.{n}" for n in range(1, 8)
        )
        codes = {r[0] for r in store.execute("SELECT code FROM findings WHERE run_id = ?", (run_id,))}
        assert "EKU_NO_CLIENTAUTH" in codes
        assert integrity_problems(store) == []
        # a second run adds observations, not certificates
        record_run(store, "jump1", items)
        assert store.execute("SELECT COUNT(*) FROM certificates")[0][0] == 3
        assert store.execute("SELECT COUNT(*) FROM observations")[0][0] == 14


def test_new_json_fields_flow_through_without_a_schema_change(db_target, chains):
    doc = endpoint_dict(reports(chains, ["192.0.2.1"])[0])
    doc["product"] = "Cisco Expressway-E"  # a field a later version adds
    doc["chain"][0]["future_field"] = [1, 2]
    record = endpoint_record_from_dict(doc)
    with open_store(db_target) as store:
        run_id = store.begin_run("s", T0, T0, "test", 1, "")
        store.write_endpoints(run_id, 0, [record])
        (back,) = store.endpoint_documents(run_id)
    assert back["product"] == "Cisco Expressway-E" and back["chain"][0]["future_field"] == [1, 2]


def test_history_finds_a_host_by_name_or_address(db_target, chains):
    root, inter, leaf, _ = chains
    ep = Endpoint(target="expe.example.test", host="expe.example.test", ip="192.0.2.9", port=7001)
    report = analyze(
        Observation(ep, Status.OK, connected=True, chain_der=(leaf.der, inter.der, root.der)), context()
    )
    with open_store(db_target) as store:
        for _ in range(2):
            record_run(store, "jump1", [report])
        by_name = store.history("expe.example.test", 7001)
        by_address = store.history("192.0.2.9", None)
        assert [run for run, _ in by_name] == [1, 2] == [run for run, _ in by_address]
        assert store.history("expe.example.test", 5061) == []
        assert by_name[0][1]["chain"][0]["subject"].startswith("CN=expe.example.test")


def test_interrupted_and_failed_runs_are_never_taken_for_complete(db_target, chains):
    items = reports(chains, ["192.0.2.1", "192.0.2.2"])
    with open_store(db_target) as store:
        first = record_run(store, "jump1", items)
        record_run(store, "jump1", items[:1], RunStatus.INTERRUPTED)
        record_run(store, "jump1", items[:1], RunStatus.TERMINATED)
        last = record_run(store, "jump1", items)
        assert [(a.id, b.id) for a, b in default_pairs(store)] == [(first, last)]
        assert compare_runs(store, *default_pairs(store)[0]).empty


def test_a_run_left_running_is_marked_abandoned_by_the_next(db_target, chains):
    with open_store(db_target) as store:
        dead = store.begin_run("jump1", T0, T0, "test", 99999, "")  # its process died
        other = store.begin_run("jump2", T0, T0, "test", 99998, "")  # another scanner's
        session = start_run(store, "jump1", NOW, NOW, "test", "")
        statuses = {r.id: r.status for r in store.runs()}
        assert statuses[dead] is RunStatus.ABANDONED and statuses[session.run_id] is RunStatus.RUNNING
        if store.dialect is Dialect.SQLITE:  # one lock for the file: no other run can be alive
            assert session.abandoned == [dead, other] and statuses[other] is RunStatus.ABANDONED
        else:  # a lock per scanner: jump2 may be scanning right now on another jump host
            assert session.abandoned == [dead] and statuses[other] is RunStatus.RUNNING


def test_default_pairs_are_per_scanner(db_target, chains):
    a = reports(chains, ["192.0.2.1"])
    b = reports(chains, ["198.51.100.1"])
    with open_store(db_target) as store:
        ids = [record_run(store, name, items) for name, items in [("j1", a), ("j2", b), ("j1", a), ("j2", b)]]
        assert [(x.id, y.id, y.scanner) for x, y in default_pairs(store)] == [
            (ids[0], ids[2], "j1"),
            (ids[1], ids[3], "j2"),
        ]
        assert [y.scanner for _, y in default_pairs(store, "j2")] == ["j2"]
        assert all(compare_runs(store, x, y).empty for x, y in default_pairs(store))


def test_a_failed_write_rolls_back_the_whole_batch(db_target, chains):
    items = reports(chains, ["192.0.2.1", "192.0.2.2"])
    records = [endpoint_record(r) for r in items]
    with open_store(db_target) as store:
        run_id = store.begin_run("s", T0, T0, "test", 1, "")
        store.write_endpoints(run_id, 0, records[:1])
        with pytest.raises(StoreError):
            store.write_endpoints(run_id, 0, records)  # seq 0 again: the primary key refuses
        assert store.execute("SELECT COUNT(*) FROM observations")[0][0] == 1
        assert store.execute("SELECT endpoints FROM runs WHERE id = ?", (run_id,))[0][0] == 1
        assert integrity_problems(store) == []


def test_recorder_keeps_scanning_when_the_store_fails(db_target, chains):
    items = reports(chains, ["192.0.2.1", "192.0.2.2", "192.0.2.3"])
    with open_store(db_target) as store:
        run_id = store.begin_run("s", T0, T0, "test", 1, "")
        recorder = Recorder(store, run_id, batch=1)
        recorder.add(items[0])
        store.execute("DROP TABLE findings")  # the store breaks under the run
        recorder.add(items[1])  # no exception: the scan goes on
        recorder.add(items[2])
        assert recorder.error is not None and "findings" in recorder.error
        assert recorder.recorded == 1


def test_recorder_commits_a_waiting_batch_when_it_is_due(db_target, chains):
    items = reports(chains, ["192.0.2.1", "192.0.2.2"])
    now = [0.0]
    with open_store(db_target) as store:
        run_id = store.begin_run("s", T0, T0, "test", 1, "")
        recorder = Recorder(store, run_id, batch=500, interval_s=2.0, clock=lambda: now[0])
        recorder.flush_if_due()  # nothing waits: nothing to do
        now[0] = 1.0
        recorder.add(items[0])
        recorder.flush_if_due()
        assert recorder.recorded == 0  # 1 s since the last commit: it waits for more
        now[0] = 2.5
        recorder.flush_if_due()
        assert recorder.recorded == 1 and store.run(run_id).endpoints == 1
        recorder.add(items[1])  # 0 s since that commit
        recorder.flush_if_due()
        assert recorder.recorded == 1


# --- schema and migrations ------------------------------------------------------------------------


def test_pending_migrations_are_forward_only():
    steps = (Migration(1, "a", ("x",)), Migration(2, "b", ("y",)))
    assert [m.version for m in pending(0, steps)] == [1, 2]
    assert [m.version for m in pending(1, steps)] == [2]
    assert pending(2, steps) == ()
    with pytest.raises(SchemaTooNew, match="newer"):
        pending(3, steps)


def test_migrations_apply_in_order_once(db_target):
    extra = (*MIGRATIONS, Migration(LATEST + 1, "test", ("CREATE TABLE later_table (x INTEGER)",)))
    with open_store(db_target) as store:
        assert store.schema_version() == LATEST
        assert store.migrate(extra) == [LATEST + 1]
        assert store.migrate(extra) == []
        assert store.schema_version() == LATEST + 1
        store.execute("INSERT INTO later_table (x) VALUES (1)")


def test_a_database_from_a_newer_ekuscan_is_refused(db_target):
    with open_store(db_target) as store:
        store.migrate((*MIGRATIONS, Migration(LATEST + 5, "future", ())))
    with pytest.raises(StoreError, match="newer than this ekuscan knows"):
        open_store(db_target)


def test_sqlite_is_in_wal_mode_with_the_version_in_user_version(tmp_path):
    path = tmp_path / "h.sqlite"
    open_store(str(path)).close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST


@pytest.mark.parametrize(
    ("target", "needle"), [("{tmp}", "is a directory"), ("{tmp}/missing/h.sqlite", "no directory")]
)
def test_bad_sqlite_paths_are_one_line_errors(tmp_path, target, needle):
    with pytest.raises(StoreError, match=needle):
        open_store(target.format(tmp=tmp_path))


def test_postgres_connection_errors_are_one_line_and_hide_the_password(pg_server):
    url = f"postgresql://postgres:s3cret@127.0.0.1:{pg_server.port}/no_such_database"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "s3cret" not in message and "no_such_database" in message and "\n" not in message


def test_redact_and_lock_keys():
    assert redact("postgresql://u:pw@db.example:5432/x") == "postgresql://u:***@db.example:5432/x"
    assert redact("postgresql://u@db.example/x") == "postgresql://u@db.example/x"
    assert redact("postgresql://u@db.example/x?sslmode=require&password=pw") == (
        "postgresql://u@db.example/x?sslmode=require&password=***"
    )
    assert redact("/var/lib/ekuscan/history.sqlite") == "/var/lib/ekuscan/history.sqlite"
    assert scanner_lock_key("jump1") == scanner_lock_key("jump1") != scanner_lock_key("jump2")
    assert -(2**31) <= scanner_lock_key("x" * 100) < 2**31


# --- locks --------------------------------------------------------------------------------------


def test_the_run_lock_keeps_a_second_run_out(db_target):
    with open_store(db_target) as first:
        first.lock("jump1")
        with open_store(db_target) as second:
            started = time.monotonic()
            with pytest.raises(StoreLocked, match="--wait"):
                second.lock("jump1", wait_s=0.5)
            assert time.monotonic() - started >= 0.4
    with open_store(db_target) as third:  # the first one closed: free again
        third.lock("jump1")


def test_postgres_scanners_opening_a_new_database_at_once_migrate_it_once(pg_url):
    from concurrent.futures import ThreadPoolExecutor

    def open_and_close(_):
        with open_store(pg_url) as store:
            return store.schema_version()

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(open_and_close, range(6))) == [LATEST] * 6
    with open_store(pg_url) as store:
        assert store.execute("SELECT COUNT(*) FROM schema_version")[0][0] == 1


def test_postgres_scanners_lock_separately(pg_url):
    with open_store(pg_url) as a, open_store(pg_url) as b:
        a.lock("jump1")
        b.lock("jump2")  # another jump host writes at the same time
        with pytest.raises(StoreLocked, match="jump1"):
            b.lock("jump1")


# --- a process killed in the middle of a write ------------------------------------------------------

KILLED_WRITER = """
import sys, time
from scanner.store import open_store
from scanner.store.records import endpoint_record_from_dict
import json
store = open_store(sys.argv[1])
doc = json.loads(sys.argv[2])
run_id = store.begin_run("killed", "2026-11-27T02:00:00Z", "2026-11-27T02:00:00Z", "test", 0, "")
records = [endpoint_record_from_dict({**doc, "port": 1 + n % 65000, "host": f"10.0.{n // 250}.{n % 250}"})
           for n in range(20000)]
with store.transaction():
    store.executemany(
        "INSERT INTO observations (run_id, seq, host, ip, port, role, status, verdict, breaks_on,"
        " leaf_sha256, document) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(run_id, n, r.host, r.ip, r.port, r.role, r.status, r.verdict, r.breaks_on, None, r.document)
         for n, r in enumerate(records)],
    )
    print("in-transaction", flush=True)
    time.sleep(60)
"""


def test_sigkill_in_the_middle_of_a_write_leaves_the_database_consistent(db_target, chains):
    items = reports(chains, ["192.0.2.1", "192.0.2.2"])
    with open_store(db_target) as store:
        complete = record_run(store, "jump1", items)
    doc = json.dumps(endpoint_dict(items[0]))
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), db_target, doc],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == "in-transaction", proc.stderr.read()
    finally:
        proc.kill()
        proc.communicate(timeout=20)  # reaps it and closes the pipes
    with open_store(db_target) as store:
        if hasattr(store, "integrity_check"):
            assert store.integrity_check() == "ok"
        assert integrity_problems(store) == []
        runs = {r.id: r for r in store.runs()}
        assert runs[complete].status is RunStatus.COMPLETE and runs[complete].endpoints == 2
        killed = [r for r in runs.values() if r.scanner == "killed"]
        assert [r.status for r in killed] == [RunStatus.RUNNING]
        assert store.endpoint_documents(killed[0].id) == []  # the torn transaction is gone
        assert len(store.endpoint_documents(complete)) == 2
        assert [(a.id, b.id) for a, b in default_pairs(store)] == []  # one complete run: nothing to compare


def test_sqlite_file_is_usable_while_locked_by_a_reader(tmp_path, chains):
    """diff/history read while a scan writes (WAL): the reader does not block the writer."""
    path = tmp_path / "h.sqlite"
    items = reports(chains, ["192.0.2.1"])
    with open_store(str(path)) as writer:
        record_run(writer, "j", items)
        reader = sqlite3.connect(path)
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM observations").fetchone()[0] == 1
        record_run(writer, "j", items)  # writes while the reader holds its snapshot
        assert reader.execute("SELECT COUNT(*) FROM observations").fetchone()[0] == 1
        reader.rollback()
        assert reader.execute("SELECT COUNT(*) FROM observations").fetchone()[0] == 2
        reader.close()


def test_open_store_does_not_create_files_elsewhere(tmp_path):
    path = tmp_path / "h.sqlite"
    open_store(str(path)).close()
    assert sorted(p.name for p in tmp_path.iterdir()) <= sorted(["h.sqlite", "h.sqlite-wal", "h.sqlite-shm"])
    assert Path(str(path)).exists()


# --- whatever a server sends comes back as it was --------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(banner=st.text(), subject=st.text(), host=st.text(min_size=1, max_size=60))
@example(banner="\x00", subject="CN=a\x00b", host="h\x00st")  # PostgreSQL's TEXT refuses NUL
def test_any_text_from_the_network_round_trips(db_target, chains, banner, subject, host):
    doc = endpoint_dict(reports(chains, ["192.0.2.1"])[0])
    doc.update(sip_server=banner, host=host)
    doc["chain"][0] = {**doc["chain"][0], "subject": subject, "sha256": f"{abs(hash(subject)):064X}"[:64]}
    with open_store(db_target) as store:
        run_id = store.begin_run("s", T0, T0, "test", 1, "")
        store.write_endpoints(run_id, 0, [endpoint_record_from_dict(doc)])
        (back,) = store.endpoint_documents(run_id)
    assert back == json.loads(json.dumps(doc))


def test_postgres_statements_cannot_hold_a_scan_for_ever(pg_url):
    with open_store(pg_url) as store:
        assert store.execute("SHOW statement_timeout") == [("2min",)]
        assert store.execute("SELECT current_setting('application_name')") == [("ekuscan",)]
