"""Changes and certificate periods for people and machines: the text and the ``-f json`` documents.

The comparison itself is pure and lives in ``scanner.core.changes``; this module says it.
In the text, every value read from the stored documents (subjects, issuers, reasons, banners,
scanner names) passes ``report.safety.visible`` as it enters a line, so a hostile certificate
cannot drive the terminal or start a line of its own; the ``-f json`` documents keep the values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scanner.core.changes import Breakage, CertPeriod, CertView, Changes, EndpointKey, EndpointView, RunLabel
from scanner.report.safety import visible, visible_lines

CHANGES_SCHEMA = "ekuscan/changes/1"


# --- changes ------------------------------------------------------------------------------


def where(view: EndpointView) -> str:
    """``host [address]:port`` for people (escaped)."""
    address = f"[{view.ip}]" if ":" in view.ip else view.ip
    if not view.ip or view.ip == view.host:
        return visible(f"{address or view.host}:{view.port}")
    return visible(f"{view.host} {address}:{view.port}")


def _cert_line(cert: CertView) -> str:
    eku = visible(",".join(cert.eku)) if cert.eku is not None else "(no EKU extension)"
    return (
        f"{visible(cert.subject)} issued by {visible(cert.issuer)}; EKU {eku}; "
        f"not after {visible(cert.not_after)}"
    )


def _label(run: RunLabel | None) -> str:
    if run is None:
        return "nothing (first run)"
    return f"run {run.id} ({visible(run.scanner)}, {visible(run.started_at)})"


def render_text(changes: Changes) -> str:
    """The changes for a person (and a cron mail); empty when nothing changed."""
    if changes.empty:
        return ""
    lines = [f"changes from {_label(changes.before)} to {_label(changes.after)}:"]

    def section(title: str, items: Sequence[str]) -> None:
        if items:
            lines.append(f"{title} ({len(items)}):")
            lines.extend(f"  {item}" for item in items)

    section(
        "new breakages",
        [f"{where(b.endpoint)}  {_link(b)}: {visible(b.reason)}" for b in changes.new_breakages],
    )
    section("resolved breakages", [f"{where(b.endpoint)}  {_link(b)}" for b in changes.resolved_breakages])
    cert_items = []
    for c in changes.certificate_changes:
        assert c.before.leaf is not None and c.after.leaf is not None
        cert_items.append(
            f"{where(c.after)}\n    old: {_cert_line(c.before.leaf)}\n    new: {_cert_line(c.after.leaf)}"
        )
    section("certificates changed", cert_items)
    section(
        "endpoints appeared",
        [f"{where(v)}  {visible(v.status)}, {visible(v.verdict)}" for v in changes.appeared],
    )
    section(
        "endpoints vanished",
        [f"{where(v)}  was {visible(v.status)}, {visible(v.verdict)}" for v in changes.vanished],
    )
    section(
        "verdicts changed",
        [f"{where(v.after)}  {_state(v.before)} -> {_state(v.after)}" for v in changes.verdict_changes],
    )
    section(
        "software changed",
        [
            f"{where(v.after)}  {visible(v.before.software)} -> {visible(v.after.software)}"
            for v in changes.software_changes
        ],
    )
    return visible_lines("\n".join(lines) + "\n")  # a last check: every value is escaped already


def _link(breakage: Breakage) -> str:
    return f"{visible(breakage.link)} ({visible(breakage.uses)})"


def _state(view: EndpointView) -> str:
    when = f" on {visible(view.breaks_on)}" if view.breaks_on else ""
    return f"{visible(view.verdict)}{when} ({visible(view.status)})"


def _view_dict(view: EndpointView) -> dict[str, Any]:
    return {
        "host": view.host,
        "ip": view.ip or None,
        "port": view.port,
        "role": view.role,
        "status": view.status,
        "verdict": view.verdict,
        "breaks_on": view.breaks_on,
        "leaf": _cert_dict(view.leaf),
        "software": view.software,
    }


def _cert_dict(cert: CertView | None) -> dict[str, Any] | None:
    if cert is None:
        return None
    return {
        "sha256": cert.sha256,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "eku": list(cert.eku) if cert.eku is not None else None,
        "not_after": cert.not_after,
    }


def _run_dict(run: RunLabel | None) -> dict[str, Any] | None:
    return None if run is None else {"id": run.id, "scanner": run.scanner, "started_at": run.started_at}


def changes_dict(changes: Changes) -> dict[str, Any]:
    def breakage(b: Breakage) -> dict[str, Any]:
        return {**_view_dict(b.endpoint), "link": b.link, "uses": b.uses, "reason": b.reason}

    def pair(before: EndpointView, after: EndpointView) -> dict[str, Any]:
        return {**_view_dict(after), "before": _view_dict(before)}

    return {
        "from": _run_dict(changes.before),
        "to": _run_dict(changes.after),
        "new_breakages": [breakage(b) for b in changes.new_breakages],
        "resolved_breakages": [breakage(b) for b in changes.resolved_breakages],
        "certificate_changes": [pair(c.before, c.after) for c in changes.certificate_changes],
        "appeared": [_view_dict(v) for v in changes.appeared],
        "vanished": [_view_dict(v) for v in changes.vanished],
        "verdict_changes": [pair(v.before, v.after) for v in changes.verdict_changes],
        "software_changes": [pair(v.before, v.after) for v in changes.software_changes],
    }


def changes_document(comparisons: Sequence[Changes]) -> dict[str, Any]:
    return {"schema": CHANGES_SCHEMA, "comparisons": [changes_dict(c) for c in comparisons]}


# --- one endpoint over time ---


def render_periods(periods: Sequence[CertPeriod]) -> str:
    lines: list[str] = []
    shown: EndpointKey | None = None
    for p in periods:
        key = (p.host, p.ip, p.port)
        if key != shown:
            view = EndpointView(p.host, p.ip, p.port, "", p.status, p.verdict, p.breaks_on, p.leaf, {})
            lines.append(where(view))
            shown = key
        span = f"run {p.first.id}" if p.first == p.last else f"runs {p.first.id}-{p.last.id}"
        cert = _cert_line(p.leaf) if p.leaf else f"no certificate ({visible(p.status)})"
        when = f", breaks on {visible(p.breaks_on)}" if p.breaks_on else ""
        lines.append(
            f"  {visible(p.first.started_at)} .. {visible(p.last.started_at)}  {span} "
            f"({p.runs} seen by {', '.join(visible(s) for s in p.scanners)})  {visible(p.verdict)}{when}"
        )
        lines.append(f"    {cert}")
    return visible_lines("\n".join(lines) + ("\n" if lines else ""))


def periods_document(periods: Sequence[CertPeriod]) -> dict[str, Any]:
    return {
        "schema": "ekuscan/history/1",
        "periods": [
            {
                "host": p.host,
                "ip": p.ip or None,
                "port": p.port,
                "leaf": _cert_dict(p.leaf),
                "first": _run_dict(p.first),
                "last": _run_dict(p.last),
                "runs": p.runs,
                "scanners": list(p.scanners),
                "status": p.status,
                "verdict": p.verdict,
                "breaks_on": p.breaks_on,
            }
            for p in periods
        ],
    }
