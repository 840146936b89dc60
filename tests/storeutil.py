"""Reading a history store the way the tests check it: rows the product never reads back."""

from __future__ import annotations

import json
from typing import Any

from scanner.store import SqlStore


def host_documents(store: SqlStore, run_id: int) -> list[dict[str, Any]]:
    """Every host of a run as its recorded JSON document, by host."""
    rows = store.execute("SELECT document FROM hosts WHERE run_id = ? ORDER BY host", (run_id,))
    return [json.loads(r[0]) for r in rows]


def integrity_problems(store: SqlStore) -> list[str]:
    """Rows that point at nothing: what a torn write would leave (empty when consistent)."""
    checks = {
        "observation without its run": "SELECT COUNT(*) FROM observations o"
        " WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = o.run_id)",
        "observation without its leaf certificate": "SELECT COUNT(*) FROM observations o"
        " WHERE o.leaf_sha256 IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.sha256 = o.leaf_sha256)",
        "finding without its observation": "SELECT COUNT(*) FROM findings f WHERE NOT EXISTS"
        " (SELECT 1 FROM observations o WHERE o.run_id = f.run_id AND o.seq = f.seq)",
        "run whose endpoint count disagrees with its rows": "SELECT COUNT(*) FROM runs r"
        " WHERE r.endpoints <> (SELECT COUNT(*) FROM observations o WHERE o.run_id = r.id)",
    }
    problems = []
    for what, sql in checks.items():
        count = int(store.execute(sql)[0][0])
        if count:
            problems.append(f"{count} {what}")
    return problems
