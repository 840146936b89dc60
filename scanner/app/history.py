"""``ekuscan diff`` and ``ekuscan history``: recorded runs read back and compared, for people or machines."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import TYPE_CHECKING

from scanner.app.errors import ScanFailed, UsageFailure
from scanner.core.changes import Changes, RunLabel, certificate_periods, compare
from scanner.report.change_documents import changes_document, periods_document, render_periods
from scanner.report.change_documents import render_text as render_changes
from scanner.report.safety import json_text, visible

if TYPE_CHECKING:
    from scanner.store import RunRecord, SqlStore
    from scanner.store.session import RunSession


def label(run: RunRecord) -> RunLabel:
    return RunLabel(run.id, run.scanner, run.started_at)


def compare_runs(store: SqlStore, before: RunRecord, after: RunRecord) -> Changes:
    return compare(
        store.endpoint_documents(before.id), store.endpoint_documents(after.id), label(before), label(after)
    )


def changes_since_previous(session: RunSession) -> Changes:
    """What changed since the session's scanner's previous complete run (all new on a first run)."""
    after = session.store.run(session.run_id)
    assert after is not None
    previous = session.previous
    before_docs = session.store.endpoint_documents(previous.id) if previous else []
    return compare(
        before_docs,
        session.store.endpoint_documents(session.run_id),
        label(previous) if previous else None,
        label(after),
    )


def open_store(db: str, *, must_exist: bool = False) -> SqlStore:
    from scanner.store import StoreError, is_postgres
    from scanner.store import open_store as open_sql_store

    if must_exist and not is_postgres(db) and not Path(db.removeprefix("sqlite:")).is_file():
        raise UsageFailure(f"--db: no history database at {db}")
    try:
        return open_sql_store(db)
    except StoreError as exc:
        raise ScanFailed(str(exc)) from None


def history_db(db: str | None) -> SqlStore:
    if not db:
        raise UsageFailure("--db (or EKUSCAN_DB) is required: which history database?")
    return open_store(db, must_exist=True)


def diff_runs(db: str | None, runs: list[int] | None, scanner: str | None) -> list[Changes]:
    """The two runs named, or each scanner's (or ``scanner``'s) last two complete runs, compared."""
    if runs and len(runs) != 2:
        raise UsageFailure("give two run ids (RUN_A RUN_B), or none for the last two complete runs")
    from scanner.store import StoreError
    from scanner.store.session import default_pairs

    with history_db(db) as store:
        try:
            if runs:
                found = []
                for n in runs:
                    run = store.run(n)
                    if run is None:
                        raise UsageFailure(f"no run {n} in {store.description}")
                    found.append(run)
                pairs = [(found[0], found[1])]
            else:
                pairs = default_pairs(store, scanner)
                if not pairs:
                    whose = f" of scanner {scanner!r}" if scanner else ""
                    raise UsageFailure(
                        f"nothing to compare: {store.description} holds fewer than two complete runs{whose}"
                    )
            return [compare_runs(store, a, b) for a, b in pairs]
        except StoreError as exc:
            raise ScanFailed(str(exc)) from None


def diff_text(comparisons: list[Changes], as_json: bool) -> str:
    if as_json:
        return json_text(json.dumps(changes_document(comparisons), ensure_ascii=False, indent=2)) + "\n"
    parts = []
    for changes in comparisons:
        text = render_changes(changes)
        if not text:
            assert changes.before is not None
            text = f"no changes from run {changes.before.id} to run {changes.after.id}\n"
        parts.append(text)
    return "".join(parts)


def parse_endpoint(text: str) -> tuple[str, int | None]:
    """HOST, HOST:PORT, [V6]:PORT or a bare V6 address, in the form the store holds."""
    raw = text.strip()
    host, port_text = raw, ""
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    if not host:
        raise UsageFailure(f"bad endpoint {text!r}: expected HOST or HOST:PORT")
    try:
        host = str(ipaddress.ip_address(host))  # the form the store holds: 2001:db8::1, not 2001:0db8:0:0::1
    except ValueError:
        host = host.lower().rstrip(".")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageFailure(f"bad port in {text!r}")
    return host, int(port_text)


def endpoint_history(db: str | None, endpoint: str, as_json: bool) -> tuple[str, bool]:
    """One endpoint's certificate periods as text or JSON, and whether the store ever saw it."""
    from scanner.store import StoreError

    host, port = parse_endpoint(endpoint)
    with history_db(db) as store:
        try:
            sightings = store.history(host, port)
            runs = {r.id: r for r in store.runs()}
        except StoreError as exc:
            raise ScanFailed(str(exc)) from None
    periods = certificate_periods((label(runs[run_id]), doc) for run_id, doc in sightings)
    if as_json:
        document = json.dumps(periods_document(periods), ensure_ascii=False, indent=2)
        return json_text(document) + "\n", bool(periods)
    return render_periods(periods), bool(periods)


def no_observation_line(endpoint: str, db: str) -> str:
    """What ``history`` says on stderr when the database never saw the endpoint (no password shown)."""
    from scanner.store import redact

    return f"ekuscan: no observation of {visible(endpoint)} in {visible(redact(db))}"
