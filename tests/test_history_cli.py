"""Scheduled scans as cron runs them: real processes, the test lab on loopback, real SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.lab import ESTATE, BackgroundLab
from scanner.store import RunStatus, open_store
from scanner.store.filelock import FileLock
from scanner.store.schema import Dialect
from tests import test_cli
from tests.addresses import CLOSED_HOST, HISTORY_LAB_BASE
from tests.storeutil import host_documents, integrity_problems
from tests.test_cli import ekuscan, lab_target, one_line_error
from tests.watch import StreamWatcher

LOG_LINE = re.compile(r"^ekuscan: (info|warning): [a-z-]+( [a-z_]+=\S+)*$")

lab_files = test_cli.lab_files  # the lab's targets CSV and public root (a fixture)


def scan_db(db, *targets, extra=(), timeout=60):
    return ekuscan(
        "scan", *targets, "--db", db, "--scanner-name", "jump1", "--timeout", "1.5", *extra, timeout=timeout
    )


def runs_of(db):
    with open_store(db) as store:
        return store.runs()


def test_scan_records_runs_diff_and_history(lab, lab_files, db_target):
    targets, root = lab_files
    roots = ("--public-roots", str(root), "--intermediates", str(test_cli.intermediates_for(targets)))
    first = scan_db(db_target, "-i", str(targets), extra=(*roots, "-f", "json"))
    assert first.returncode == 1, first.stderr
    lines = first.stderr.strip().splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines), first.stderr
    endpoints = sum(len(h.services) for h in ESTATE)
    assert f"run-recorded run=1 scanner=jump1 status=complete endpoints={endpoints} " in first.stderr
    # the second run with one endpoint fewer, judged two years on
    fewer = [s.target for s in lab.services if s.host.name != "plaintext"]
    second = scan_db(db_target, *fewer, extra=(*roots, "--at", "2028-12-01", "-q", "-f", "json"))
    assert second.stderr == ""  # --quiet
    assert [r.status for r in runs_of(db_target)] == [RunStatus.COMPLETE, RunStatus.COMPLETE]

    result = ekuscan("diff", "--db", db_target, "-f", "json")
    assert result.returncode == 1, result.stderr
    (changes,) = json.loads(result.stdout)["comparisons"]
    assert (changes["from"]["id"], changes["to"]["id"]) == (1, 2)
    assert [v["host"] for v in changes["vanished"]] == [lab.find("plaintext", 5061).address]
    assert not changes["appeared"] and not changes["certificate_changes"]
    newly_broken = {b["host"] for b in changes["new_breakages"]}
    assert lab.find("expc-public", 5061).address in newly_broken  # its public certificate has expired by then
    assert any(
        v["before"]["verdict"] == "at-risk" and v["verdict"] == "breaks" for v in changes["verdict_changes"]
    )

    text = ekuscan("diff", "1", "2", "--db", db_target)
    assert (
        text.returncode == 1 and "endpoints vanished (1):" in text.stdout and "new breakages" in text.stdout
    )
    same = ekuscan("diff", "1", "1", "--db", db_target)
    assert same.returncode == 0 and same.stdout == "no changes from run 1 to run 1\n"

    service = lab.find("expe-public", 7001)
    history = ekuscan("history", service.target, "--db", db_target, "-f", "json")
    assert history.returncode == 0, history.stderr
    (period,) = json.loads(history.stdout)["periods"]
    assert (period["first"]["id"], period["last"]["id"], period["runs"]) == (1, 2, 2)
    assert period["leaf"]["eku"] == ["serverAuth"] and period["verdict"] == "breaks"
    assert ekuscan("history", "192.0.2.99", "--db", db_target).returncode == 1


def test_a_changed_certificate_shows_in_diff_and_only_changes(tmp_path):
    """Two labs on the same addresses, one after the other: every certificate is new."""
    db = str(tmp_path / "h.sqlite")
    base = HISTORY_LAB_BASE
    outputs = []
    for _ in range(2):
        with BackgroundLab(base) as running:
            target = running.find("expc-private", 5061).target
            outputs.append(scan_db(db, target, extra=("--only-changes", "--fail-on", "never")))
    first, second = outputs
    assert (
        first.returncode == 0
        and "nothing (first run)" in first.stdout
        and "endpoints appeared (1)" in first.stdout
    )
    assert second.returncode == 0, second.stderr
    assert "certificates changed (1):" in second.stdout
    assert re.search(r"old: CN=expc-private\.lab\.ekuscan\.test.*\n\s+new: CN=expc-private", second.stdout)
    history = ekuscan("history", target, "--db", db)
    assert history.stdout.count("CN=expc-private") == 2  # two periods, one certificate each


def test_only_changes_is_silent_when_nothing_changed(lab, lab_files, tmp_path):
    _, root = lab_files
    db = str(tmp_path / "h.sqlite")
    target = lab_target(lab, "expe-public", 5061)
    scan_db(db, target, extra=("--public-roots", str(root)))
    again = scan_db(db, target, extra=("--public-roots", str(root), "--only-changes", "-q"))
    assert again.returncode == 1  # it still breaks: --fail-on decides the exit code
    assert again.stdout == "" and again.stderr == ""
    as_json = scan_db(db, target, extra=("--public-roots", str(root), "--only-changes", "-q", "-f", "json"))
    comparison = json.loads(as_json.stdout)["comparisons"][0]
    assert comparison["from"]["id"] == 2 and comparison["to"]["id"] == 3 and not comparison["new_breakages"]


def test_only_changes_writes_the_inventory_to_the_output_file(lab, lab_files, tmp_path):
    _, root = lab_files
    db, out = str(tmp_path / "h.sqlite"), tmp_path / "ekuscan.prom"
    target = lab_target(lab, "expc-private", 5061)
    result = scan_db(db, target, extra=("--public-roots", str(root), "--only-changes", "-o", str(out)))
    assert result.returncode == 0 and "endpoints appeared (1)" in result.stdout
    assert "ekuscan_endpoint_verdict{" in out.read_text()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["scan", "127.0.0.1", "--only-changes"], "--only-changes needs --db"),
        (["scan", "127.0.0.1", "--db", "{tmp}/h.sqlite", "--only-changes", "-f", "csv"], "-o FILE"),
        (["diff"], "--db"),
        (["diff", "--db", "{tmp}/none.sqlite"], "no history database"),
        (["diff", "1", "--db", "{tmp}/h.sqlite"], "two run ids"),
        (["diff", "--db", "{tmp}/h.sqlite"], "fewer than two complete runs"),
        (["diff", "7", "8", "--db", "{tmp}/h.sqlite"], "no run 7"),
        (["history", "[]:5061", "--db", "{tmp}/h.sqlite"], "bad endpoint"),
        (["history", "host:99999", "--db", "{tmp}/h.sqlite"], "bad port"),
        (["scan", "127.0.0.1", "--db", "{tmp}/h.sqlite", "--scanner-name", " "], "--scanner-name"),
    ],
    ids=lambda v: "-".join(v)[:40] if isinstance(v, list) else None,
)
def test_usage_errors_are_one_line(tmp_path, args, needle):
    open_store(str(tmp_path / "h.sqlite")).close()
    assert needle in one_line_error(ekuscan(*[a.format(tmp=tmp_path) for a in args]))


def test_a_database_that_cannot_be_opened_exits_3(tmp_path):
    result = ekuscan("scan", "127.0.0.1", "--db", str(tmp_path / "missing" / "h.sqlite"))
    assert result.returncode == 3 and "no directory" in result.stderr and "Traceback" not in result.stderr


def test_the_db_comes_from_the_environment(lab, lab_files, tmp_path):
    _, root = lab_files
    db = tmp_path / "env.sqlite"
    result = ekuscan(
        "scan", lab_target(lab, "expc-private", 443), "--public-roots", str(root), env={"EKUSCAN_DB": str(db)}
    )
    assert result.returncode == 0 and db.exists()
    assert (
        ekuscan("history", lab_target(lab, "expc-private", 443), env={"EKUSCAN_DB": str(db)}).returncode == 0
    )


# --- the lock ----------------------------------------------------------------------------------


def test_a_second_run_on_a_locked_database_exits_3_or_waits(lab, lab_files, tmp_path):
    _, root = lab_files
    db = tmp_path / "h.sqlite"
    open_store(str(db)).close()
    lock = FileLock(db.with_name("h.sqlite.lock"))
    lock.acquire()
    try:
        target = lab_target(lab, "expc-private", 5061)
        refused = scan_db(str(db), target, extra=("--public-roots", str(root)))
        assert refused.returncode == 3
        assert re.fullmatch(
            r"ekuscan: error: another ekuscan run \(pid \d+\) is using the history database .*; "
            r"use --wait to wait for it\n",
            refused.stderr,
        )
        assert runs_of(str(db)) == []  # it did not start a run
        waiting = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scanner",
                "scan",
                target,
                "--public-roots",
                str(root),
                "--db",
                str(db),
                "--wait",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        said = StreamWatcher.of_pipe(waiting.stderr)
        assert said.wait_for("waiting-for-lock", 60), said.text(0)
        assert waiting.poll() is None  # still waiting
    finally:
        lock.release()
    waiting.wait(timeout=60)
    stderr = said.text()
    waiting.stderr.close()
    assert waiting.returncode == 0, stderr
    assert [r.status for r in runs_of(str(db))] == [RunStatus.COMPLETE]


# --- interrupted and killed runs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "code", "status"),
    [(signal.SIGINT, 130, RunStatus.INTERRUPTED), (signal.SIGTERM, 143, RunStatus.TERMINATED)],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_stopped_run_is_recorded_as_incomplete_with_what_it_had(lab, db_target, sig, code, status):
    targets = [lab_target(lab, "expc-private", 5061), lab_target(lab, "silent", 7001)]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scanner",
            "scan",
            *targets,
            "--timeout",
            "30",
            "--db",
            db_target,
            "-f",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_the_run_to_start(db_target, deadline=time.monotonic() + 30)
    time.sleep(1.5)  # the healthy endpoint is done; the silent one holds the scan for 30 s
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    (run,) = runs_of(db_target)
    assert run.status is status and run.endpoints == 1 and run.finished_at is not None
    with open_store(db_target) as store:
        assert [d["verdict"] for d in store.endpoint_documents(run.id)] == ["ok"]
        assert len(host_documents(store, run.id)) == 1
    # an incomplete run is never the "previous run" of --only-changes
    again = ekuscan("scan", targets[0], "--db", db_target, "--only-changes", "--timeout", "2")
    assert "nothing (first run)" in again.stdout


def wait_for_the_run_to_start(db, deadline):
    """Until the run's row exists: the process is up and scanning (polled, bounded)."""
    while time.monotonic() < deadline:
        if Path(db).exists() or "://" in db:
            with open_store(db) as watcher:
                if watcher.runs():
                    return
        time.sleep(0.05)
    raise AssertionError("the scan did not start within 30 s")


def wait_for_a_committed_batch(db, after_run, deadline):
    """Until a run newer than ``after_run``, still running, has endpoints committed (polled, bounded)."""
    with open_store(db) as watcher:
        while time.monotonic() < deadline:
            newest = watcher.runs()[-1]
            if newest.id > after_run and newest.status is RunStatus.RUNNING and newest.endpoints > 0:
                return
            time.sleep(0.05)
    raise AssertionError("the scan committed nothing within 30 s")


def test_sigkill_mid_run_leaves_the_database_consistent(lab, lab_files, tmp_path, db_target):
    """kill -9 a real scan that is busy recording: earlier runs intact, the killed one never complete."""
    _, root = lab_files
    db = db_target
    healthy = lab_target(lab, "expc-private", 5061)
    assert scan_db(db, healthy, extra=("--public-roots", str(root))).returncode == 0
    closed_ports = ("-p", "1-20000")  # named target: every refused port is listed, and recorded
    silent = lab_target(lab, "silent", 7001)  # holds the scan open for --timeout whatever else happens
    for extra_delay in (0.0, 0.25):  # bounded: two kills, at different moments of the writing
        last_run = runs_of(db)[-1].id
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scanner",
                "scan",
                CLOSED_HOST,
                *closed_ports,
                healthy,
                silent,
                "--db",
                db,
                "--scanner-name",
                "jump1",
                "-f",
                "jsonl",
                "-o",
                str(tmp_path / "out.jsonl"),
                "--timeout",
                "5",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_a_committed_batch(db, last_run, deadline=time.monotonic() + 30)
            time.sleep(extra_delay)  # the scan goes on writing: 20,000 refused ports and a silent one
            assert proc.poll() is None, "the scan ended before it was killed: the test proved nothing"
        finally:
            proc.kill()
            proc.communicate(timeout=20)
    with open_store(db) as store:
        if store.dialect is Dialect.SQLITE:
            assert store.integrity_check() == "ok"  # PRAGMA integrity_check
        assert integrity_problems(store) == []
        runs = store.runs()
        assert runs[0].status is RunStatus.COMPLETE and runs[0].endpoints == 1
        assert len(store.endpoint_documents(runs[0].id)) == 1
        # the first killed run was found "running" by the second and marked abandoned
        assert [r.status for r in runs[1:]] == [RunStatus.ABANDONED, RunStatus.RUNNING]
        assert all(r.endpoints > 0 for r in runs[1:])  # each was killed after a commit...
        for r in runs[1:]:
            assert len(store.endpoint_documents(r.id)) == r.endpoints
    nothing = ekuscan("diff", "--db", db)
    assert nothing.returncode == 2 and "fewer than two complete runs" in nothing.stderr
    after = scan_db(db, healthy, extra=("--public-roots", str(root), "--only-changes"))
    assert "run-abandoned run=3" in after.stderr and after.stdout == ""  # compared with run 1


def test_a_report_waiting_in_a_tail_of_timeouts_is_committed_within_seconds(lab, lab_files, tmp_path):
    """One report, then only a silent port: a timer commits the waiting batch, so a kill -9 during
    the tail keeps it. Before the timer it waited for a 500th report or the end of the scan."""
    _, root = lab_files
    db = str(tmp_path / "history.sqlite")
    healthy = lab_target(lab, "expc-private", 5061)
    silent = lab_target(lab, "silent", 7001)  # holds the scan for --timeout
    command = [sys.executable, "-m", "scanner", "scan", healthy, silent, "--db", db]
    command += [
        "--public-roots",
        str(root),
        "-f",
        "jsonl",
        "-o",
        str(tmp_path / "out.jsonl"),
        "--timeout",
        "25",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        started = time.monotonic()
        wait_for_the_run_to_start(db, deadline=started + 10)
        wait_for_a_committed_batch(db, 0, deadline=started + 12)  # the silent port answers at 25 s
        assert proc.poll() is None, "the scan ended: the test proved nothing"
    finally:
        proc.kill()
        proc.communicate(timeout=20)
    with open_store(db) as store:
        (run,) = store.runs()
        assert run.status is RunStatus.RUNNING and run.endpoints == 1
        assert len(store.endpoint_documents(run.id)) == 1


# --- several jump hosts, one PostgreSQL database --------------------------------------------------------


def test_scanners_share_one_postgres_database(lab, lab_files, pg_url):
    _, root = lab_files
    part_a = [lab_target(lab, "expe-public", 5061), lab_target(lab, "expc-private", 5061)]
    part_b = [lab_target(lab, "expc-public", 443)]

    def scan_as(name, targets, *extra):
        return ekuscan(
            "scan",
            *targets,
            "--db",
            pg_url,
            "--scanner-name",
            name,
            "--public-roots",
            str(root),
            "-q",
            *extra,
        )

    for _ in range(2):
        assert scan_as("jump-a", part_a).returncode == 1
        assert scan_as("jump-b", part_b).returncode == 0
    scan_as("jump-b", part_b, "--at", "2030-01-01")
    runs = runs_of(pg_url)
    assert [(r.scanner, r.status) for r in runs] == [
        ("jump-a", RunStatus.COMPLETE),
        ("jump-b", RunStatus.COMPLETE),
    ] * 2 + [("jump-b", RunStatus.COMPLETE)]
    result = ekuscan("diff", "--db", pg_url, "-f", "json")
    comparisons = json.loads(result.stdout)["comparisons"]
    assert [(c["from"]["id"], c["to"]["id"], c["to"]["scanner"]) for c in comparisons] == [
        (1, 3, "jump-a"),
        (4, 5, "jump-b"),
    ]
    assert comparisons[0]["vanished"] == [] and comparisons[1]["new_breakages"]
    assert result.returncode == 1
    history = ekuscan("history", part_b[0], "--db", pg_url, "-f", "json")
    (period,) = json.loads(history.stdout)["periods"]
    assert period["runs"] == 3 and period["scanners"] == ["jump-b"]
    # a password in the URL never reaches the log or the stored command line
    secret_url = pg_url.replace("postgres@", "postgres:hunter2@")
    loud = ekuscan(
        "scan", part_b[0], "--db", secret_url, "--scanner-name", "jump-c", "--public-roots", str(root)
    )
    assert loud.returncode == 0, loud.stderr
    assert "hunter2" not in loud.stderr and "postgres:***@" in loud.stderr
    with open_store(pg_url) as store:
        assert not store.execute("SELECT 1 FROM runs WHERE command LIKE ?", ("%hunter2%",))


@pytest.mark.parametrize("command", [["diff"], ["history"]], ids=lambda c: "-".join(c))
def test_help_of_the_new_commands(command):
    result = ekuscan(*command, "--help", env={"COLUMNS": "120"})
    assert result.returncode == 0 and "Usage:" in result.stdout and "--db" in result.stdout


def test_scan_help_documents_the_history_options():
    text = ekuscan("scan", "--help", env={"COLUMNS": "200"}).stdout
    for option in ("--db", "--only-changes", "--wait", "--quiet", "--scanner-name", "prometheus", "html"):
        assert option in text


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path):
    not_a_db = tmp_path / "inventory.json"
    not_a_db.write_text('{"schema": "ekuscan/inventory/1"}\n' * 300)
    before = not_a_db.read_bytes()
    result = ekuscan("scan", "127.0.0.1:1", "--db", str(not_a_db))
    assert result.returncode == 3 and "not a database" in result.stderr and "Traceback" not in result.stderr
    assert not_a_db.read_bytes() == before
    assert ekuscan("diff", "--db", str(not_a_db)).returncode == 3
