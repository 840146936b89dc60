"""Per-host grouping and the run summary, accumulated one endpoint at a time (pure).

The accumulator keeps per-host aggregates and counters only; endpoint reports themselves
are the writers' business, so a streamed sweep holds no more than one entry per live host.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from scanner.models import EndpointReport, Finding, Role, RoleSource, Status, TrustClass, Use, Verdict
from scanner.rules import ESTATE_RULES, EstateRule, HostIdentity, evaluate_estate
from scanner.software import Fingerprint
from scanner.verdict import worst

TIMELINE_DAYS = (30, 90)  # the summary counts links that break within these many days


@dataclass(frozen=True, slots=True)
class HostLink:
    name: str
    uses: Use
    verdict: Verdict
    reason: str
    breaks_on: datetime | None


@dataclass(frozen=True, slots=True)
class HostCert:
    sha256: str
    subject: str
    trust: TrustClass
    not_after: datetime | None
    ports: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class HostReport:
    host: str
    role: Role
    role_source: RoleSource
    software: Fingerprint | None
    label: str
    addresses: tuple[str, ...]
    ports: tuple[int, ...]
    verdict: Verdict
    breaks_on: datetime | None
    certificates: tuple[HostCert, ...]
    links: tuple[HostLink, ...]

    @property
    def certificate_mismatch(self) -> bool:
        return len(self.certificates) > 1


@dataclass
class _HostAccumulator:
    role: Role
    role_source: RoleSource
    label: str
    software: Fingerprint | None = None
    addresses: list[str] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    verdict: Verdict = Verdict.UNKNOWN  # the worst so far
    breaks_on: datetime | None = None
    certs: dict[str, tuple[str, TrustClass, datetime | None, set[int]]] = field(default_factory=dict)
    links: dict[tuple[str, Use], HostLink] = field(default_factory=dict)

    def add(self, report: EndpointReport) -> None:
        ep = report.endpoint
        if self.software is None or (self.software.version is None and report.software is not None):
            self.software = report.software
        if ep.ip and ep.ip not in self.addresses:
            self.addresses.append(ep.ip)
        self.ports.add(ep.port)
        self.verdict = worst((self.verdict, report.verdict))
        if report.breaks_on and (self.breaks_on is None or report.breaks_on < self.breaks_on):
            self.breaks_on = report.breaks_on
        leaf = report.leaf
        if leaf is not None:
            entry = self.certs.setdefault(
                leaf.sha256, (leaf.subject, report.trust.trust, leaf.not_after, set())
            )
            entry[3].add(ep.port)
        for link in report.links:
            key = (link.name, link.uses)
            known = self.links.get(key)
            if (
                known is None
                or link.verdict.rank > known.verdict.rank
                or (link.verdict is known.verdict and _earlier(link.breaks_on, known.breaks_on))
            ):
                self.links[key] = HostLink(link.name, link.uses, link.verdict, link.reason, link.breaks_on)

    def report(self, host: str) -> HostReport:
        return HostReport(
            host=host,
            role=self.role,
            role_source=self.role_source,
            software=self.software,
            label=self.label,
            addresses=tuple(self.addresses),
            ports=tuple(sorted(self.ports)),
            verdict=self.verdict,
            breaks_on=self.breaks_on,
            certificates=tuple(
                HostCert(sha, subject, trust, not_after, tuple(sorted(ports)))
                for sha, (subject, trust, not_after, ports) in self.certs.items()
            ),
            links=tuple(self.links.values()),
        )


def _earlier(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a < b)


@dataclass(frozen=True, slots=True)
class Timeline:
    """How many host links are broken by a day: now, in 30 and 90 days, and by the last day
    a public certificate can carry clientAuth (cumulative counts)."""

    now: datetime
    broken: tuple[tuple[date, int], ...]  # (day, links broken by then), in day order
    last_public_clientauth_day: date | None
    by_last_public_clientauth_day: int | None


@dataclass(frozen=True, slots=True)
class Summary:
    probes: int
    endpoints: int  # listed in the output
    hosts: int
    by_status: dict[str, int]
    by_verdict: dict[str, int]  # endpoint verdicts of the listed endpoints
    hosts_by_verdict: dict[str, int]
    links_by_verdict: dict[str, int]
    earliest_breaks_on: datetime | None
    timeline: Timeline | None = None
    findings: tuple[Finding, ...] = ()  # estate findings (several hosts together)


class Inventory:
    """Accumulates endpoint reports into hosts and counters."""

    def __init__(
        self,
        show_all: bool = False,
        *,
        now: datetime | None = None,
        last_public_clientauth_day: date | None = None,
        estate_rules: Sequence[EstateRule] = ESTATE_RULES,
    ) -> None:
        self.show_all = show_all
        self.now = now
        self.last_public_clientauth_day = last_public_clientauth_day
        self.estate_rules = estate_rules
        self._hosts: dict[str, _HostAccumulator] = {}
        self._status: Counter[str] = Counter()
        self._verdict: Counter[str] = Counter()
        self._links: Counter[str] = Counter()
        self._probes = 0
        self._listed = 0
        self._earliest: datetime | None = None

    def listed(self, report: EndpointReport) -> bool:
        """Named targets are always listed; swept ones only if something listened there."""
        obs = report.observation
        return self.show_all or not obs.endpoint.swept or obs.connected or obs.status is Status.OK

    def add(self, report: EndpointReport) -> bool:
        """Count the report; returns whether it belongs in the output."""
        self._probes += 1
        self._status[report.observation.status.value] += 1
        if not self.listed(report):
            return False
        self._listed += 1
        self._verdict[report.verdict.value] += 1
        self._links.update(link.verdict.value for link in report.links)
        if report.breaks_on and (self._earliest is None or report.breaks_on < self._earliest):
            self._earliest = report.breaks_on
        host = self._hosts.get(report.endpoint.host)
        if host is None:
            host = self._hosts[report.endpoint.host] = _HostAccumulator(
                report.role, report.role_source, report.endpoint.label
            )
        host.add(report)
        return True

    def hosts(self) -> list[HostReport]:
        return sorted(
            (acc.report(name) for name, acc in self._hosts.items()), key=lambda h: _host_key(h.host)
        )

    def summary(self) -> Summary:
        hosts = self.hosts()
        return Summary(
            probes=self._probes,
            endpoints=self._listed,
            hosts=len(hosts),
            by_status=dict(sorted(self._status.items())),
            by_verdict={v.value: self._verdict[v.value] for v in Verdict},
            hosts_by_verdict={v.value: sum(1 for h in hosts if h.verdict is v) for v in Verdict},
            links_by_verdict={v.value: self._links[v.value] for v in Verdict},
            earliest_breaks_on=self._earliest,
            timeline=self._timeline(hosts),
            findings=evaluate_estate(
                [HostIdentity(h.host, h.role, h.software, h.label) for h in hosts], self.estate_rules
            ),
        )

    def _timeline(self, hosts: list[HostReport]) -> Timeline | None:
        if self.now is None:
            return None
        dates = [
            link.breaks_on
            for h in hosts
            for link in h.links
            if link.verdict in (Verdict.BREAKS, Verdict.AT_RISK) and link.breaks_on is not None
        ]
        now = self.now

        def by(moment: datetime) -> int:
            return sum(1 for d in dates if d <= moment)

        last = self.last_public_clientauth_day
        return Timeline(
            now=now,
            broken=tuple(
                (moment.date(), by(moment))
                for moment in (now, *(now + timedelta(days=n) for n in TIMELINE_DAYS))
            ),
            last_public_clientauth_day=last,
            by_last_public_clientauth_day=(
                by(datetime.combine(last, datetime.max.time(), now.tzinfo)) if last is not None else None
            ),
        )

    def worst_verdict(self) -> Verdict:
        return worst(Verdict(v) for v, n in self._verdict.items() if n)


def _host_key(host: str) -> tuple[int, str | int]:
    """Sort hosts: IPv4 numerically, then IPv6, then names."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return (2, host)
    return (address.version // 6, int(address))


def endpoint_sort_key(report: EndpointReport) -> tuple[tuple[int, str | int], str, int]:
    ep = report.endpoint
    return (_host_key(ep.host), ep.ip or "", ep.port)
