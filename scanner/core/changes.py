"""What changed between two runs (pure): breakages, certificates, endpoints, verdicts.

Both sides are lists of endpoint documents as ``-f json`` prints them (and the history store
gives back). An endpoint is known by (host, address, port): a name that moves to another
address shows as one endpoint vanishing and another appearing, which is what happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

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
