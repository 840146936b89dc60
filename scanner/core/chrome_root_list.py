"""Reading the policy's ``chrome_root_store`` section: the Chrome Root Store's roots, by SHA-256.

Chrome's Root Program policy (its clientAuth phase-out among it) binds the hierarchies under
these roots; the list is chromium's ``net/data/ssl/chrome_root_store/root_store.md``, copied
into the policy file with its version and commit.
"""

from __future__ import annotations

import re
from typing import Any

from scanner.core.certs import name_attributes
from scanner.core.policy import ChromeRootStore, ListedRoot
from scanner.core.policy_checker import Checker

_SHA256_HEX = re.compile(r"[0-9A-Fa-f]{64}")


def chrome_root_store(check: Checker, raw: Any) -> ChromeRootStore | None:
    where = "policy.chrome_root_store"
    section = check.obj(raw, where)
    if section is None:
        return None
    check.unknown_keys(
        section,
        {
            "name",
            "version",
            "source",
            "repository",
            "path",
            "commit",
            "note",
            "trusted_roots",
            "constrained_roots",
        },
        where,
    )
    for key in ("name", "repository", "path", "commit", "note"):
        check.text(section.get(key), f"{where}.{key}", required=False)
    version = section.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version <= 0:
        check.fail(f"{where}.version", f"must be the list's version number, like 21, got {version!r}")
        version = 0
    source = check.text(section.get("source"), f"{where}.source")
    roots: list[ListedRoot] = []
    for key, constrained in (("trusted_roots", False), ("constrained_roots", True)):
        for path, item in check.items(section.get(key, []), f"{where}.{key}"):
            entry = check.obj(item, path)
            if entry is None:
                continue
            check.unknown_keys(entry, {"sha256", "subject"}, path)
            digest = entry.get("sha256")
            if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
                check.fail(f"{path}.sha256", f"must be 64 hexadecimal digits, got {digest!r}")
                continue
            roots.append(
                ListedRoot(digest.upper(), check.text(entry.get("subject"), f"{path}.subject"), constrained)
            )
    seen: set[str] = set()
    for root in roots:
        if root.sha256 in seen:
            check.fail(where, f"root {root.sha256.lower()} is listed twice")
        seen.add(root.sha256)
    names = set()
    for root in roots:
        attributes = name_attributes(root.subject)
        names.add((attributes.get("CN", "").casefold(), attributes.get("O", "").casefold()))
    return ChromeRootStore(version, source, tuple(roots), frozenset(seen), frozenset(names))
