"""Shared fixtures: the analysis context, the built-in lab on loopback, real certificates."""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.core.analysis import AnalysisContext
from scanner.core.trust import RootStore
from scanner.edge.files import load_packaged_policy
from scanner.lab import BackgroundLab
from tests.addresses import LAB_BASE
from tests.factories import NOW

REPO = Path(__file__).resolve().parent.parent

# A suite started from a background job without job control (``( make test & )`` in a script)
# inherits SIGINT as ignored, and so would every ekuscan the tests start: exec keeps an ignored
# signal ignored, and Python then installs no Ctrl-C handler, so the tests that stop a scan with
# SIGINT would wait out their timeouts. A handler here is reset to the default in each child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# Real public certificates, copied byte for byte with their sources (see SOURCES.md there).
REALCERTS = REPO / "tests" / "data" / "realcerts"


def context(roots: RootStore | None = None, *, now=NOW, warn_days: int = 30, **kw) -> AnalysisContext:
    return AnalysisContext(
        now=now,
        warn=timedelta(days=warn_days),
        roots=roots or RootStore(),
        policy=load_packaged_policy(),
        **kw,
    )


@pytest.fixture(scope="session")
def lab() -> Iterator[BackgroundLab]:
    """The built-in lab, started once for the session on its own block (tests/addresses.py)."""
    with BackgroundLab(LAB_BASE) as running:
        yield running


@pytest.fixture(scope="session")
def lab_roots(lab: BackgroundLab) -> RootStore:
    return RootStore.from_ders([lab.pki.public_root.cert.public_bytes(Encoding.DER)])


@pytest.fixture(scope="session")
def realcerts() -> Path:
    return REALCERTS


# --- history store: a real PostgreSQL server, and both backends (issue 5) -------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """A throwaway PostgreSQL cluster on loopback for the session (see tests/pgserver.py).

    Skipped with the reason when it cannot start; under CI (which installs PostgreSQL in
    .ci/run) that is a failure instead.
    """
    from tests.pgserver import PgServer

    try:
        server = PgServer().__enter__()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is needed in CI and did not start: {exc}")
        pytest.skip(f"no PostgreSQL server for the tests: {exc} (install Debian's postgresql package)")
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


_databases = itertools.count(1)


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty PostgreSQL database."""
    return pg_server.create_database(f"ekuscan_test_{os.getpid()}_{next(_databases)}")


@pytest.fixture(params=["sqlite", "postgres"])
def db_target(request, tmp_path) -> str:
    """Where a history store lives: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    return request.getfixturevalue("pg_url")
