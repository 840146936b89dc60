"""Per-host grouping and the run summary, accumulated one endpoint at a time.

Endpoint reports themselves are the writers' business; the inventory keeps counters and one
open host. Reports arrive host by host (targets are expanded and judged a host at a time),
so when a report names another host, the open one is finished and goes to a spool on disk:
memory holds a sort key per live host, not the host. A host named again later in the target
list opens a second part; the parts are merged when the hosts are read back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from scanner.core.peers import ClientCARequest, ClientChain, LinkPair, ca_requests, client_chains
from scanner.core.rules import ESTATE_RULES, EstateRule, HostIdentity, evaluate_estate
from scanner.core.verdict import worst
from scanner.model import (
    EndpointReport,
    Finding,
    Fingerprint,
    Observation,
    Role,
    RoleSource,
    Status,
    TrustClass,
    Use,
    Verdict,
)
from scanner.model.pickling import fast_pickling

# Re-exported: the hosts' types (report/host_report.py) and the keys the writers sort their spools by.
from scanner.report.host_report import EstateAims as EstateAims
from scanner.report.host_report import HostCert as HostCert
from scanner.report.host_report import HostLink as HostLink
from scanner.report.host_report import HostReport as HostReport
from scanner.report.host_report import earlier as _earlier
from scanner.report.host_report import estate_aims as estate_aims
from scanner.report.host_report import with_estate_effects as with_estate_effects
from scanner.report.interned import Interned
from scanner.report.ordering import EndpointSortKey as EndpointSortKey
from scanner.report.ordering import HostSortKey as HostSortKey
from scanner.report.ordering import endpoint_sort_key as endpoint_sort_key
from scanner.report.ordering import host_sort_key as host_sort_key
from scanner.report.spooling import MemorySpool, Spool, SpoolFactory

TIMELINE_DAYS = (30, 90)  # the summary counts links that break within these many days


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
    certs: dict[str, tuple[str, TrustClass, datetime | None, set[int], set[str]]] = field(
        default_factory=dict
    )
    links: dict[tuple[str, Use], HostLink] = field(default_factory=dict)
    client_chains: dict[tuple[str, str], ClientChain] = field(default_factory=dict)  # by (link, leaf)
    ca_requests: dict[tuple[str, int], ClientCARequest] = field(default_factory=dict)  # by (link, port)
    absorbed: list[tuple[object, object, object, Role]] = field(default_factory=list)  # see ``add``

    def add(self, report: EndpointReport, pairs: Sequence[LinkPair] = ()) -> None:
        ep = report.endpoint
        self._add_software(report.software)
        self._add_address(ep.ip)
        self.ports.add(ep.port)
        self._add_verdict(report.verdict, report.breaks_on)
        leaf = report.leaf
        if leaf is not None:
            self._add_cert(
                HostCert(
                    leaf.sha256, leaf.subject, report.trust.trust, leaf.not_after, (ep.port,), report.services
                )
            )
        # Adding a host's links or client chains again changes nothing, and the analysis gives
        # the ports it judged alike the same objects: the same tuple of links is added once per
        # host, and the client chains (from the chain, its trust, the links and the role) once
        # per such tuple with the same chain. The host keeps what it took, so that an identity
        # stays its own.
        seen_links = False
        seen_all = False
        for links, chain, trust, role in self.absorbed:
            if links is report.links:
                seen_links = True
                if chain is report.chain and trust is report.trust and role is report.role:
                    seen_all = True
                    break
        if not seen_all:
            self.absorbed.append((report.links, report.chain, report.trust, report.role))
        if not seen_links:
            for link in report.links:
                self._add_link(
                    HostLink(link.name, link.uses, link.verdict, link.reason, link.breaks_on, link.condition)
                )
        if pairs:
            chains = () if seen_all else client_chains(report, pairs)
            self._add_pairing(chains, ca_requests(report, {p.server_link for p in pairs}))

    def _add_pairing(self, chains: Iterable[ClientChain], requests: Iterable[ClientCARequest]) -> None:
        for chain in chains:
            self.client_chains.setdefault((chain.link, chain.leaf_sha256), chain)
        for request in requests:
            self.ca_requests.setdefault((request.link, request.port), request)

    def absorb(self, part: HostReport) -> None:
        """Merge an earlier-finished part of the same host, as if its reports came again."""
        self._add_software(part.software)
        for address in part.addresses:
            self._add_address(address)
        self.ports.update(part.ports)
        self._add_verdict(part.verdict, part.breaks_on)
        for cert in part.certificates:
            self._add_cert(cert)
        for link in part.links:
            self._add_link(link)
        self._add_pairing(part.client_chains, part.ca_requests)

    def _add_software(self, software: Fingerprint | None) -> None:
        if self.software is None or (self.software.version is None and software is not None):
            self.software = software

    def _add_address(self, address: str | None) -> None:
        if address and address not in self.addresses:
            self.addresses.append(address)

    def _add_verdict(self, verdict: Verdict, breaks_on: datetime | None) -> None:
        self.verdict = worst((self.verdict, verdict))
        if _earlier(breaks_on, self.breaks_on):
            self.breaks_on = breaks_on

    def _add_cert(self, cert: HostCert) -> None:
        known = self.certs.setdefault(cert.sha256, (cert.subject, cert.trust, cert.not_after, set(), set()))
        known[3].update(cert.ports)
        known[4].update(cert.services)

    def _add_link(self, link: HostLink) -> None:
        key = (link.name, link.uses)
        known = self.links.get(key)
        if (
            known is None
            or link.verdict.rank > known.verdict.rank
            or (link.verdict is known.verdict and _earlier(link.breaks_on, known.breaks_on))
        ):
            self.links[key] = link

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
                HostCert(sha, subject, trust, not_after, tuple(sorted(ports)), tuple(sorted(services)))
                for sha, (subject, trust, not_after, ports, services) in self.certs.items()
            ),
            links=tuple(self.links.values()),
            client_chains=tuple(self.client_chains.values()),
            ca_requests=tuple(self.ca_requests.values()),
        )


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


def is_listed(observation: Observation, show_all: bool) -> bool:
    """Whether the output lists this probe: named targets always; swept ones only if something
    listened there (or ``--show-all``). What is not listed is only counted, so it needs no
    judging: a sweep's closed ports cost a counter, not an analysis."""
    return (
        show_all or not observation.endpoint.swept or observation.connected or observation.status is Status.OK
    )


@dataclass(frozen=True, slots=True)
class HostShare:
    """What one host's reports give the inventory, taken where they were judged (``Inventory.share``)
    and added in the process that writes the output (``Inventory.add_share``), as if each report
    had been added there: the counters, and the host as those reports show it."""

    probes: int
    statuses: tuple[tuple[str, int], ...]
    listed: int
    verdicts: tuple[tuple[str, int], ...]  # of the listed endpoints
    link_verdicts: tuple[tuple[str, int], ...]
    earliest: datetime | None
    part: HostReport | None  # None: none of its reports is listed


class _HostTally:
    """The summary's host counts, taken as the hosts are read: by verdict, and the links
    broken or at risk by each horizon (now, in 30 and 90 days, the last public clientAuth day)."""

    def __init__(self, horizons: list[datetime]) -> None:
        self.horizons = horizons
        self.hosts = 0
        self.by_verdict: Counter[str] = Counter()
        self.broken_by = [0] * len(horizons)

    def add(self, host: HostReport) -> None:
        self.hosts += 1
        self.by_verdict[host.verdict.value] += 1
        for link in host.links:
            if link.verdict in (Verdict.BREAKS, Verdict.AT_RISK) and link.breaks_on is not None:
                for i, moment in enumerate(self.horizons):
                    self.broken_by[i] += link.breaks_on <= moment


class Inventory:
    """Accumulates endpoint reports into hosts and counters."""

    def __init__(
        self,
        show_all: bool = False,
        *,
        now: datetime | None = None,
        last_public_clientauth_day: date | None = None,
        estate_rules: Sequence[EstateRule] = ESTATE_RULES,
        spool: SpoolFactory = MemorySpool,
        link_pairs: Sequence[LinkPair] = (),
    ) -> None:
        """``link_pairs``: the policy's paired links (``core.peers.link_pairs``); none: hosts are
        not compared end to end."""
        self.show_all = show_all
        self.link_pairs = tuple(link_pairs)
        self.now = now
        self.last_public_clientauth_day = last_public_clientauth_day
        self.estate_rules = estate_rules
        self._open: tuple[str, _HostAccumulator] | None = None
        self._finished: Spool[HostSortKey, HostReport] = spool()  # finished hosts' parts
        self._status: Counter[str] = Counter()
        self._verdict: Counter[str] = Counter()
        self._links: Counter[str] = Counter()
        self._probes = 0
        self._listed = 0
        self._earliest: datetime | None = None
        self._summary: tuple[int, Summary] | None = None  # (probes counted then, the summary)
        self._estate: tuple[int, tuple[Finding, ...]] | None = None  # (probes counted then, its findings)

    def listed(self, report: EndpointReport) -> bool:
        """Named targets are always listed; swept ones only if something listened there."""
        return is_listed(report.observation, self.show_all)

    def count_unlisted(self, status: Status) -> None:
        """Count a probe the output does not list (``is_listed`` said so before it was judged)."""
        self._probes += 1
        self._status[status.value] += 1

    def add(self, report: EndpointReport) -> bool:
        """Count the report; returns whether it belongs in the output."""
        self._probes += 1
        self._status[report.observation.status.value] += 1
        if not self.listed(report):
            return False
        self._listed += 1
        self._verdict[report.verdict.value] += 1
        self._links.update(link.verdict.value for link in report.links)
        if _earlier(report.breaks_on, self._earliest):
            self._earliest = report.breaks_on
        name = report.endpoint.host
        if self._open is None or self._open[0] != name:
            self._finish_open_host()
            self._open = (name, _HostAccumulator(report.role, report.role_source, report.endpoint.label))
        self._open[1].add(report, self.link_pairs)
        return True

    def share(self) -> HostShare:
        """Everything added so far, for another inventory's ``add_share``: the reports of one host."""
        parts = [part for _, part in self._finished.ordered()]
        if self._open is not None:
            parts.append(self._open[1].report(self._open[0]))
        if len(parts) > 1:
            raise ValueError(f"a share is one host's; this inventory holds {len(parts)}")
        return HostShare(
            self._probes,
            tuple(self._status.items()),
            self._listed,
            tuple(self._verdict.items()),
            tuple(self._links.items()),
            self._earliest,
            parts[0] if parts else None,
        )

    def add_share(self, share: HostShare) -> None:
        """Count a host's reports judged elsewhere (``share``), as ``add`` would have counted them."""
        self._probes += share.probes
        self._status.update(dict(share.statuses))
        self._listed += share.listed
        self._verdict.update(dict(share.verdicts))
        self._links.update(dict(share.link_verdicts))
        if _earlier(share.earliest, self._earliest):
            self._earliest = share.earliest
        if share.part is not None:
            self._finish_open_host()
            self._finished.add(host_sort_key(share.part.host), share.part)

    def _finish_open_host(self) -> None:
        if self._open is not None:
            name, accumulator = self._open
            report = accumulator.report(name)
            self._finished.add(host_sort_key(name), report)
            self._open = None

    def each_host(self) -> Iterator[HostReport]:
        """The hosts in order (IPv4 numerically, then IPv6, then names), read back one at a time,
        with the effects of the estate findings on their links (a traversal zone whose E does
        not accept the C's CA breaks on both hosts, whatever each endpoint showed alone).
        A pass to the end also makes the summary, so a writer's ``summary()`` after its hosts
        costs no third pass over the spool."""
        aims = estate_aims(self.estate_findings())
        tally = _HostTally(self._horizons())
        for host in self._hosts_as_seen():
            host = with_estate_effects(host, aims, self.now)
            tally.add(host)
            yield host
        self._summary = (self._probes, self._summary_of(tally))

    def estate_findings(self) -> tuple[Finding, ...]:
        """What only several hosts together show; one pass over the hosts, kept until another report comes."""
        if self._estate is None or self._estate[0] != self._probes:
            names = Interned()
            identities = [
                HostIdentity(
                    h.host,
                    h.role,
                    h.software,
                    names.label(h.label),
                    tuple(names.chain(chain) for chain in h.client_chains),
                    tuple(names.request(request) for request in h.ca_requests),
                )
                for h in self._hosts_as_seen()
            ]
            self._estate = (self._probes, evaluate_estate(identities, self.estate_rules))
        return self._estate[1]

    def _hosts_as_seen(self) -> Iterator[HostReport]:
        """The hosts in order, merged from their parts, as their endpoints showed them."""
        self._finish_open_host()
        # Most hosts are one part: it is the host as it is. Only a host met again is merged.
        pending: HostReport | None = None
        merged: _HostAccumulator | None = None
        for _, part in self._finished.ordered():
            if pending is not None and pending.host == part.host:
                if merged is None:
                    merged = _HostAccumulator(pending.role, pending.role_source, pending.label)
                    merged.absorb(pending)
                merged.absorb(part)
                continue
            if pending is not None:
                yield merged.report(pending.host) if merged is not None else pending
            pending, merged = part, None
        if pending is not None:
            yield merged.report(pending.host) if merged is not None else pending

    def summary(self) -> Summary:
        """The run's summary; one pass over the hosts, kept until another report comes."""
        if self._summary is None or self._summary[0] != self._probes:
            self._summary = (self._probes, self._summarise())
        return self._summary[1]

    def _summarise(self) -> Summary:
        for _ in self.each_host():  # the pass sets self._summary
            pass
        assert self._summary is not None
        return self._summary[1]

    def _summary_of(self, tally: _HostTally) -> Summary:
        return Summary(
            probes=self._probes,
            endpoints=self._listed,
            hosts=tally.hosts,
            by_status=dict(sorted(self._status.items())),
            by_verdict={v.value: self._verdict[v.value] for v in Verdict},
            hosts_by_verdict={v.value: tally.by_verdict[v.value] for v in Verdict},
            links_by_verdict={v.value: self._links[v.value] for v in Verdict},
            earliest_breaks_on=self._earliest,
            timeline=self._timeline(tally.horizons, tally.broken_by),
            findings=self.estate_findings(),
        )

    def _horizons(self) -> list[datetime]:
        """Now, in 30 and 90 days, and the end of the last public clientAuth day (if known)."""
        if self.now is None:
            return []
        moments = [self.now, *(self.now + timedelta(days=n) for n in TIMELINE_DAYS)]
        if self.last_public_clientauth_day is not None:
            moments.append(
                datetime.combine(self.last_public_clientauth_day, datetime.max.time(), self.now.tzinfo)
            )
        return moments

    def _timeline(self, horizons: list[datetime], broken_by: list[int]) -> Timeline | None:
        if self.now is None:
            return None
        steps = 1 + len(TIMELINE_DAYS)
        last = self.last_public_clientauth_day
        return Timeline(
            now=self.now,
            broken=tuple(
                (moment.date(), count) for moment, count in zip(horizons[:steps], broken_by, strict=False)
            ),
            last_public_clientauth_day=last,
            by_last_public_clientauth_day=broken_by[steps] if last is not None else None,
        )

    def worst_verdict(self) -> Verdict:
        return worst(Verdict(v) for v, n in self._verdict.items() if n)


fast_pickling(globals())  # the state of its dataclasses as tuples: see model/pickling.py
