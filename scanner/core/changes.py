"""What changed between two runs (pure): breakages, certificates, endpoints, verdicts.

Both sides are lists of endpoint documents as ``-f json`` prints them (and the history store
gives back). An endpoint is known by (host, address, port): a name that moves to another
address shows as one endpoint vanishing and another appearing, which is what happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

CHANGES_SCHEMA = "ekuscan/changes/1"

EndpointKey = tuple[str, str, int]  # host, address ("" when it never resolved), port


@dataclass(frozen=True, slots=True)
class CertView:
    sha256: str
    subject: str | None
    issuer: str | None
    eku: tuple[str, ...] | None  # None: no EKU extension
    not_after: str | None


@dataclass(frozen=True, slots=True)
class EndpointView:
    host: str
    ip: str
    port: int
    role: str
    status: str
    verdict: str
    breaks_on: str | None
    leaf: CertView | None
    breaking: Mapping[tuple[str, str], str]  # (link, uses) -> reason, for links that break
    software: str | None = None  # product and release where the probe learnt them ("expressway-e X14.3.2")

    @property
    def key(self) -> EndpointKey:
        return (self.host, self.ip, self.port)


@dataclass(frozen=True, slots=True)
class Breakage:
    endpoint: EndpointView  # the side where it breaks
    link: str
    uses: str
    reason: str


@dataclass(frozen=True, slots=True)
class CertChange:
    before: EndpointView
    after: EndpointView


@dataclass(frozen=True, slots=True)
class VerdictChange:
    before: EndpointView
    after: EndpointView


@dataclass(frozen=True, slots=True)
class RunLabel:
    id: int
    scanner: str
    started_at: str


@dataclass(frozen=True, slots=True)
class Changes:
    before: RunLabel | None  # None: nothing to compare with (a first run)
    after: RunLabel
    new_breakages: tuple[Breakage, ...]
    resolved_breakages: tuple[Breakage, ...]
    certificate_changes: tuple[CertChange, ...]
    appeared: tuple[EndpointView, ...]
    vanished: tuple[EndpointView, ...]
    verdict_changes: tuple[VerdictChange, ...]
    software_changes: tuple[VerdictChange, ...] = ()  # known before and after, and different: an upgrade

    @property
    def empty(self) -> bool:
        return not (
            self.new_breakages
            or self.resolved_breakages
            or self.certificate_changes
            or self.appeared
            or self.vanished
            or self.verdict_changes
            or self.software_changes
        )


def endpoint_view(doc: Mapping[str, Any]) -> EndpointView:
    chain = doc.get("chain") or []
    first = chain[0] if chain else None
    leaf = None
    if first is not None:
        eku = first.get("eku")
        leaf = CertView(
            sha256=first["sha256"],
            subject=first.get("subject"),
            issuer=first.get("issuer"),
            eku=tuple(eku) if eku is not None else None,
            not_after=first.get("not_after"),
        )
    return EndpointView(
        host=doc["host"],
        ip=doc.get("ip") or "",
        port=int(doc["port"]),
        role=doc.get("role", ""),
        status=doc["status"],
        verdict=doc["verdict"],
        breaks_on=doc.get("breaks_on"),
        leaf=leaf,
        software=_software(doc),
        breaking={
            (link["name"], link["uses"]): link.get("reason", "")
            for link in doc.get("links", ())
            if link.get("verdict") == "breaks"
        },
    )


def _software(doc: Mapping[str, Any]) -> str | None:
    """Product and release as the endpoint document states them (fields the probe may fill)."""
    parts = [str(doc[k]) for k in ("product", "software_version") if doc.get(k)]
    return " ".join(parts) or None


def _index(docs: Iterable[Mapping[str, Any]]) -> dict[EndpointKey, EndpointView]:
    views: dict[EndpointKey, EndpointView] = {}
    for doc in docs:
        view = endpoint_view(doc)
        views[view.key] = view  # a key seen twice in one run: the later observation stands
    return views


def compare(
    before_docs: Iterable[Mapping[str, Any]],
    after_docs: Iterable[Mapping[str, Any]],
    before: RunLabel | None,
    after: RunLabel,
) -> Changes:
    old, new = _index(before_docs), _index(after_docs)
    keys = sorted(old.keys() | new.keys())
    new_breakages: list[Breakage] = []
    resolved: list[Breakage] = []
    certs: list[CertChange] = []
    verdicts: list[VerdictChange] = []
    software: list[VerdictChange] = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if b is not None:
            for (link, uses), reason in b.breaking.items():
                if a is None or (link, uses) not in a.breaking:
                    new_breakages.append(Breakage(b, link, uses, reason))
        if a is None or b is None:
            continue
        for (link, uses), reason in a.breaking.items():
            if (link, uses) not in b.breaking:
                resolved.append(Breakage(a, link, uses, reason))
        if a.leaf is not None and b.leaf is not None and a.leaf.sha256 != b.leaf.sha256:
            certs.append(CertChange(a, b))
        if a.verdict != b.verdict or a.status != b.status:
            verdicts.append(VerdictChange(a, b))
        if a.software and b.software and a.software != b.software:
            software.append(VerdictChange(a, b))
    return Changes(
        before=before,
        after=after,
        new_breakages=tuple(new_breakages),
        resolved_breakages=tuple(resolved),
        certificate_changes=tuple(certs),
        appeared=tuple(new[k] for k in keys if k not in old),
        vanished=tuple(old[k] for k in keys if k not in new),
        verdict_changes=tuple(verdicts),
        software_changes=tuple(software),
    )


# --- rendering ------------------------------------------------------------------------------


def where(view: EndpointView) -> str:
    address = f"[{view.ip}]" if ":" in view.ip else view.ip
    if not view.ip or view.ip == view.host:
        return f"{address or view.host}:{view.port}"
    return f"{view.host} {address}:{view.port}"


def _cert_line(cert: CertView) -> str:
    eku = ",".join(cert.eku) if cert.eku is not None else "(no EKU extension)"
    return f"{cert.subject} issued by {cert.issuer}; EKU {eku}; not after {cert.not_after}"


def _label(run: RunLabel | None) -> str:
    return "nothing (first run)" if run is None else f"run {run.id} ({run.scanner}, {run.started_at})"


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
        [f"{where(b.endpoint)}  {b.link} ({b.uses}): {b.reason}" for b in changes.new_breakages],
    )
    section(
        "resolved breakages",
        [f"{where(b.endpoint)}  {b.link} ({b.uses})" for b in changes.resolved_breakages],
    )
    cert_items = []
    for c in changes.certificate_changes:
        assert c.before.leaf is not None and c.after.leaf is not None
        cert_items.append(
            f"{where(c.after)}\n    old: {_cert_line(c.before.leaf)}\n    new: {_cert_line(c.after.leaf)}"
        )
    section("certificates changed", cert_items)
    section("endpoints appeared", [f"{where(v)}  {v.status}, {v.verdict}" for v in changes.appeared])
    section("endpoints vanished", [f"{where(v)}  was {v.status}, {v.verdict}" for v in changes.vanished])
    section(
        "verdicts changed",
        [f"{where(v.after)}  {_state(v.before)} -> {_state(v.after)}" for v in changes.verdict_changes],
    )
    section(
        "software changed",
        [f"{where(v.after)}  {v.before.software} -> {v.after.software}" for v in changes.software_changes],
    )
    return "\n".join(lines) + "\n"


def _state(view: EndpointView) -> str:
    when = f" on {view.breaks_on}" if view.breaks_on else ""
    return f"{view.verdict}{when} ({view.status})"


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


# --- one endpoint over time ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertPeriod:
    """Consecutive runs in which one endpoint presented the same leaf (or none)."""

    host: str
    ip: str
    port: int
    leaf: CertView | None
    first: RunLabel
    last: RunLabel
    runs: int
    status: str  # as last seen in the period
    verdict: str
    breaks_on: str | None
    scanners: tuple[str, ...] = ()  # who saw it in the period, in order of first sight


def certificate_periods(sightings: Iterable[tuple[RunLabel, Mapping[str, Any]]]) -> list[CertPeriod]:
    """Group an endpoint's observations (oldest first) into periods of one certificate each."""
    periods: dict[EndpointKey, list[CertPeriod]] = {}
    for run, doc in sightings:
        view = endpoint_view(doc)
        sha = view.leaf.sha256 if view.leaf else None
        mine = periods.setdefault(view.key, [])
        current = mine[-1] if mine else None
        if current is not None and (current.leaf.sha256 if current.leaf else None) == sha:
            mine[-1] = replace(
                current,
                last=run,
                runs=current.runs + (run != current.last),
                status=view.status,
                verdict=view.verdict,
                breaks_on=view.breaks_on,
                scanners=tuple(dict.fromkeys((*current.scanners, run.scanner))),
            )
        else:
            mine.append(
                CertPeriod(
                    view.host,
                    view.ip,
                    view.port,
                    view.leaf,
                    run,
                    run,
                    1,
                    view.status,
                    view.verdict,
                    view.breaks_on,
                    (run.scanner,),
                )
            )
    return [p for key in sorted(periods) for p in periods[key]]


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
        cert = _cert_line(p.leaf) if p.leaf else f"no certificate ({p.status})"
        when = f", breaks on {p.breaks_on}" if p.breaks_on else ""
        lines.append(
            f"  {p.first.started_at} .. {p.last.started_at}  {span} "
            f"({p.runs} seen by {', '.join(p.scanners)})  {p.verdict}{when}"
        )
        lines.append(f"    {cert}")
    return "\n".join(lines) + ("\n" if lines else "")


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
