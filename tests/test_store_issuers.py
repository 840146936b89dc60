"""The history store keeps the issuers --fetch-issuers fetched (schema version 2), in both backends."""

from __future__ import annotations

import sqlite3

from scanner.store import open_store
from scanner.store.schema import LATEST, MIGRATIONS, Migration
from scanner.store.sqlite import SqliteStore
from tests.factories import make_cert


def test_fetched_issuers_are_kept_replaced_and_read_back_by_age(db_target):
    a, b, c = (make_cert(n, ca=True) for n in "ABC")
    with open_store(db_target) as store:
        store.record_fetched_issuers("2026-11-01T02:17:00Z", [("http://127.0.0.1/a.crt", [a.der])])
        store.record_fetched_issuers("2026-12-01T02:17:00Z", [("http://127.0.0.1/bc.p7c", [b.der, c.der])])
        store.record_fetched_issuers("2026-12-01T02:17:00Z", [])  # nothing new: nothing written
        assert store.fetched_issuers("2026-10-01T00:00:00Z") == [
            ("http://127.0.0.1/a.crt", (a.der,)),
            ("http://127.0.0.1/bc.p7c", (b.der, c.der)),
        ]
        assert store.fetched_issuers("2026-11-15T00:00:00Z") == [("http://127.0.0.1/bc.p7c", (b.der, c.der))]
        # Fetched again later: the newer answer replaces the old one, and counts as fresh.
        store.record_fetched_issuers("2026-12-02T02:17:00Z", [("http://127.0.0.1/a.crt", [c.der])])
        assert ("http://127.0.0.1/a.crt", (c.der,)) in store.fetched_issuers("2026-12-02T00:00:00Z")


def test_a_version_1_database_gains_the_table_on_opening(tmp_path):

    path = tmp_path / "old.sqlite"
    with SqliteStore(path) as store:  # make a version-1 database: the first migration only
        assert store.migrate(MIGRATIONS[:1]) == [1]
    with open_store(str(path)) as store:
        assert store.schema_version() == LATEST
        assert store.fetched_issuers("2000-01-01T00:00:00Z") == []
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert [m.version for m in MIGRATIONS][:2] == [1, 2]  # version 3 (issue 12) keeps the evidence
    assert isinstance(MIGRATIONS[1], Migration) and "fetched_issuers" in MIGRATIONS[1].statements[0]
