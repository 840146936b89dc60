"""The inventory's hosts: what its endpoints showed together, and what estate findings do to their links."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from scanner.core.peers import ClientCARequest, ClientChain
from scanner.core.verdict import worst
from scanner.model import (
    Finding,
    Fingerprint,
    LinkEffect,
    LinkTarget,
    Role,
    RoleSource,
    TrustClass,
    Use,
    Verdict,
)
from scanner.model.pickling import fast_pickling


@dataclass(frozen=True, slots=True)
class HostLink:
    name: str
    uses: Use
    verdict: Verdict
    reason: str
    breaks_on: datetime | None
    condition: str | None = None  # what the verdict depends on that a scan cannot see


@dataclass(frozen=True, slots=True)
class HostCert:
    sha256: str
    subject: str
    trust: TrustClass
    not_after: datetime | None
    ports: tuple[int, ...]
    services: tuple[str, ...] = ()  # the services it is the certificate of (CUCM: callmanager, tomcat)


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
    # What the estate's pairing rules compare (core/peers.py): the chains of its paired
    # client links, and what its paired server ports asked of their clients.
    client_chains: tuple[ClientChain, ...] = ()
    ca_requests: tuple[ClientCARequest, ...] = ()

    @property
    def certificates_by_service(self) -> dict[str, tuple[HostCert, ...]]:
        """Each service's certificates (CUCM: callmanager on 5061, tomcat on 8443 and 443)."""
        services = sorted({service for cert in self.certificates for service in cert.services})
        return {s: tuple(c for c in self.certificates if s in c.services) for s in services}

    @property
    def certificate_mismatch(self) -> bool:
        """Different certificates where one was expected: on the ports of one service, or on
        the ports of a host that has one certificate for everything (an Expressway)."""
        groups: dict[str, set[str]] = {}
        for cert in self.certificates:
            for service in cert.services or ("",):
                groups.setdefault(service, set()).add(cert.sha256)
        return any(len(group) > 1 for group in groups.values())


def earlier(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and (b is None or a < b)


EstateAims = dict[str, list[tuple[LinkTarget, LinkEffect]]]  # host -> the effects aimed at its links


def estate_aims(findings: Iterable[Finding]) -> EstateAims:
    """The effects of estate findings by the host whose links they target."""
    aims: EstateAims = {}
    for finding in findings:
        effect = finding.effect
        if effect is None:
            continue
        for target in finding.targets:
            if target.uses in effect.uses:
                aims.setdefault(target.host, []).append((target, effect))
    return aims


def with_estate_effects(host: HostReport, aims: EstateAims, now: datetime | None) -> HostReport:
    """The host with the links that estate findings target judged again: a targeted effect
    replaces a link's verdict where it is worse (an effect without a date acts from ``now``).
    The endpoints keep what they showed alone; the host's verdict and date follow its links."""
    aimed = aims.get(host.host)
    if not aimed:
        return host
    links, verdict, breaks_on = [], host.verdict, host.breaks_on
    for link in host.links:
        for target, effect in aimed:
            aimed_here = (target.link, target.uses) == (link.name, link.uses)
            if aimed_here and effect.verdict.rank > link.verdict.rank:
                when = effect.breaks_on or now
                link = HostLink(link.name, link.uses, effect.verdict, effect.reason, when, link.condition)
                verdict = worst((verdict, link.verdict))
                breaks_on = when if earlier(when, breaks_on) else breaks_on
        links.append(link)
    return replace(host, links=tuple(links), verdict=verdict, breaks_on=breaks_on)


fast_pickling(globals())  # the state of its dataclasses as tuples: see model/pickling.py
