"""A scan recorded in the history store (``--db``): the lock, the run's rows, its end, ``--only-changes``,
and the issuers ``--fetch-issuers`` fetched.

The store loads only when ``--db`` is given (start-up time and memory of a plain scan).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import trio

from scanner import __version__
from scanner.app.errors import ScanFailed
from scanner.edge import runlog
from scanner.edge.issuers import FetchResult, IssuerFetcher
from scanner.report.document import iso
from scanner.report.inventory import Inventory

if TYPE_CHECKING:
    from scanner.core.changes import Changes
    from scanner.store import RunStatus, SqlStore
    from scanner.store.recorder import Recorder
    from scanner.store.session import RunSession

WAIT_LIMIT_S = 6 * 3600  # --wait: the longest we wait for another run's lock
# A fetched issuer is used again by later runs for this long, then fetched anew: long enough
# that a nightly run fetches a URL about once a month, short enough to follow a CA that
# replaces what its URL serves.
FETCHED_ISSUER_REUSE = timedelta(days=30)

Clock = Callable[[], datetime]  # aware UTC "now", the CLI's


def command_line() -> str:
    """argv as recorded with a run, passwords of database URLs masked."""
    from scanner.store import redact

    return " ".join(redact(arg) if "://" in arg else arg for arg in sys.argv[1:])


async def keep_recording(recorder: Recorder) -> None:
    """Commit a batch that waits for more reports every few seconds, until cancelled: in a long
    tail of timeouts no report comes to trigger it, and a run killed then would lose it."""
    while True:
        await trio.sleep(recorder.interval_s)
        recorder.flush_if_due()


@contextmanager
def history_run(
    db: str | None,
    scanner: str,
    wait: bool,
    started: datetime,
    evaluated: datetime,
    clock: Clock,
    log: runlog.Log,
    kind: str = "scan",
) -> Iterator[RunSession | None]:
    """A recorded run (or None without --db): locked, opened, and closed however the block ends.

    ``kind``: the store's run kind (``scan``, ``listen``), as text: the store loads only for --db.
    """
    if not db:
        yield None
        return
    from scanner.app.history import open_store
    from scanner.store import RunStatus, StoreError

    store = open_store(db)
    try:
        session = _start(store, scanner, wait, started, evaluated, log, kind)
        try:
            yield session
        except BaseException as exc:
            if session.status is None:  # record the end, keep the error
                status = RunStatus.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
                try:
                    session.finish(status, clock())
                except StoreError:
                    pass  # the first error is the one to report
            raise
    finally:
        store.close()


def _start(
    store: SqlStore,
    scanner: str,
    wait: bool,
    started: datetime,
    evaluated: datetime,
    log: runlog.Log,
    kind: str,
) -> RunSession:
    from scanner.store import RunKind, StoreError, StoreLocked
    from scanner.store.session import start_run

    try:
        try:
            store.lock(scanner)
        except StoreLocked as exc:
            if not wait:
                raise ScanFailed(str(exc)) from None
            log.info("waiting-for-lock", scanner=scanner, db=store.description)
            store.lock(scanner, WAIT_LIMIT_S)
        session = start_run(store, scanner, started, evaluated, __version__, command_line(), RunKind(kind))
    except StoreError as exc:
        raise ScanFailed(str(exc)) from None
    log.info("run-started", run=session.run_id, scanner=scanner, db=store.description)
    for old in session.abandoned:
        log.warning("run-abandoned", run=old, scanner=scanner, reason="its process ended before it finished")
    return session


def finish_history(
    session: RunSession,
    status: RunStatus,
    inventory: Inventory,
    clock: Clock,
    log: runlog.Log,
    *,
    only_changes: bool,
    changes_as_json: bool,
) -> None:
    """Record the run's end; with ``only_changes``, print what changed since the previous run."""
    from scanner.app.history import changes_since_previous
    from scanner.report.change_documents import changes_document
    from scanner.report.change_documents import render_text as render_changes
    from scanner.report.safety import json_text
    from scanner.store import RunStatus, StoreError

    try:
        final = session.finish(status, clock())
    except StoreError as exc:
        raise ScanFailed(str(exc)) from None
    hosts = inventory.summary().hosts_by_verdict
    log.info(
        "run-recorded",
        run=session.run_id,
        scanner=session.scanner,
        status=final.value,
        endpoints=session.recorder.recorded,
        hosts=sum(hosts.values()),
        breaks=hosts["breaks"],
        at_risk=hosts["at-risk"],
    )
    if session.recorder.error is not None:
        raise ScanFailed(f"{session.recorder.error}; run {session.run_id} is recorded as failed")
    if not only_changes:
        return
    if final is not RunStatus.COMPLETE:
        log.info("changes-skipped", run=session.run_id, reason="the run did not complete")
        return
    try:
        changes = changes_since_previous(session)
    except StoreError as exc:
        raise ScanFailed(str(exc)) from None
    log_changes(log, changes)
    if changes_as_json:
        print(json_text(json.dumps(changes_document([changes]), ensure_ascii=False, indent=2)))
    else:
        sys.stdout.write(render_changes(changes))
    sys.stdout.flush()


def log_changes(log: runlog.Log, changes: Changes) -> None:
    log.info(
        "changes",
        run=changes.after.id,
        since=changes.before.id if changes.before else "none",
        new_breakages=len(changes.new_breakages),
        resolved_breakages=len(changes.resolved_breakages),
        certificates_changed=len(changes.certificate_changes),
        appeared=len(changes.appeared),
        vanished=len(changes.vanished),
        verdicts_changed=len(changes.verdict_changes),
        software_changed=len(changes.software_changes),
    )


def known_issuers(session: RunSession, now: datetime) -> tuple[tuple[str, tuple[bytes, ...]], ...]:
    """The issuers earlier runs fetched (within ``FETCHED_ISSUER_REUSE``): (URL, DER certificates)."""
    from scanner.store import StoreError

    since = iso(now - FETCHED_ISSUER_REUSE)
    assert since is not None
    try:
        return tuple(session.store.fetched_issuers(since))
    except StoreError as exc:
        raise ScanFailed(str(exc)) from None


def record_issuers(session: RunSession, issuers: IssuerFetcher, clock: Clock) -> None:
    """Keep what this run fetched, for the next runs."""
    from scanner.store import StoreError

    fetched_at = iso(clock())
    assert fetched_at is not None
    try:
        session.store.record_fetched_issuers(fetched_at, ((r.url, r.certificates) for r in issuers.fetched()))
    except StoreError as exc:
        raise ScanFailed(str(exc)) from None


def log_fetch(log: runlog.Log, result: FetchResult) -> None:
    if result.error is None:
        log.info("issuer-fetched", url=result.url, certificates=len(result.certificates))
    else:
        log.info("issuer-fetch-failed", url=result.url, reason=result.error)
