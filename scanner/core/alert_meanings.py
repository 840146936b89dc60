"""Reading the policy's ``client_cert_alerts``: what each TLS alert says about a rejected client certificate.

The table is data with its source (how a verifying OpenSSL server maps its verify error to an
alert), so that a meaning is corrected in the policy file, not in code.
"""

from __future__ import annotations

import re
from typing import Any

from scanner.core.policy import AlertMeanings
from scanner.core.policy_checker import Checker

_ALERT_NAME = re.compile(r"[a-z][a-z0-9_]*")


def alert_meanings(check: Checker, raw: Any) -> AlertMeanings | None:
    where = "policy.client_cert_alerts"
    section = check.obj(raw, where)
    if section is None:
        return None
    check.unknown_keys(section, {"source", "note", "alerts"}, where)
    source = check.text(section.get("source"), f"{where}.source")
    check.text(section.get("note"), f"{where}.note", required=False)
    alerts = check.obj(section.get("alerts"), f"{where}.alerts")
    meanings: dict[str, str] = {}
    for name, meaning in (alerts or {}).items():
        path = f"{where}.alerts.{name}"
        if not _ALERT_NAME.fullmatch(name):
            check.fail(path, "must be a TLS alert name as RFC 8446 writes it, like unknown_ca")
            continue
        meanings[name] = check.text(meaning, path)
    return AlertMeanings(source, meanings)
