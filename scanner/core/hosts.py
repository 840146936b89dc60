"""A host as a whole: its product, release and role, from all of its endpoints (pure).

One endpoint rarely tells the whole story: the SIP banner on 5061 says "Expressway X15.3.2",
the traversal listener on 7001 says "this is the E side", ``Server: CE_E`` on 8443 says so
too. The analysis therefore judges the endpoints of one host together. ``HostGrouper`` holds
observations until every endpoint of their host (``Endpoint.group``/``group_size``, set by
the target expansion) has reported, so memory stays bounded by the hosts in flight.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from scanner.core.software import from_http, from_sip
from scanner.model import Fingerprint, Observation, Product, Role, RoleSource, Status

# Expressway-E listens for traversal clients on 7001 (then 7002, ... per zone) and for SSH
# tunnels on 2222; Expressway-C listens on neither (domain.md Q1a).
TRAVERSAL_PORTS = frozenset({2222, 7001, 7002, 7003, 7004, 7005})
EXPRESSWAY_PRODUCTS = frozenset({Product.EXPRESSWAY, Product.EXPRESSWAY_E})
EXPRESSWAY_ROLES = frozenset({Role.EXPRESSWAY, Role.EXPRESSWAY_C, Role.EXPRESSWAY_E})

_ROLE_OF_PRODUCT = {
    Product.EXPRESSWAY_E: Role.EXPRESSWAY_E,
    Product.EXPRESSWAY: Role.EXPRESSWAY,
    Product.CUCM: Role.CUCM,
    Product.CUBE: Role.CUBE,
    Product.CONDUCTOR: Role.SERVER,  # not an Expressway, whatever its TANDBERG banner says
    Product.TELEPRESENCE_ENDPOINT: Role.SERVER,
}


@dataclass(frozen=True, slots=True)
class HostContext:
    """What the analysis of each endpoint may know about its host."""

    role: Role  # for endpoints without a role of their own
    role_source: RoleSource
    software: Fingerprint | None


def identify(observations: Sequence[Observation]) -> Fingerprint | None:
    """The host's product and release from every banner its endpoints sent.

    A release number beats none; ``CE_E`` turns an Expressway banner into an Expressway-E.
    """
    prints = [
        fp
        for obs in observations
        for fp in (from_sip(obs.sip_server), from_http(obs.http_server))
        if fp is not None
    ]
    if not prints:
        return None
    versioned = [fp for fp in prints if fp.version is not None]
    best = versioned[0] if versioned else prints[0]
    if best.product is Product.EXPRESSWAY and any(fp.product is Product.EXPRESSWAY_E for fp in prints):
        return Fingerprint(Product.EXPRESSWAY_E, best.version, best.banner, best.b2bua)
    return best


def is_traversal_listener(observation: Observation) -> bool:
    return observation.status is Status.OK and observation.endpoint.port in TRAVERSAL_PORTS


def infer_role(observations: Sequence[Observation], software: Fingerprint | None) -> Role | None:
    """The role the endpoints show, or None when they show nothing we recognise."""
    traversal = any(is_traversal_listener(obs) for obs in observations)
    if software is not None:
        role = _ROLE_OF_PRODUCT[software.product]
        return Role.EXPRESSWAY_E if role is Role.EXPRESSWAY and traversal else role
    return Role.EXPRESSWAY_E if traversal else None


def host_context(
    observations: Sequence[Observation], default_role: Role, assumed: Fingerprint | None = None
) -> HostContext:
    """``assumed``: what the user said runs there (``inspect --release``), where no banner says."""
    software = identify(observations) or assumed
    inferred = infer_role(observations, software)
    if inferred is None:
        return HostContext(default_role, RoleSource.DEFAULT, software)
    return HostContext(inferred, RoleSource.INFERRED, software)


class HostGrouper:
    """Collects the observations of one host until all of its endpoints have reported.

    The key is the endpoint's group and the address probed: a name with an IPv4 and an IPv6
    address is two hosts on the wire, and each address reports once per port.
    """

    def __init__(self) -> None:
        self._pending: dict[tuple[int, str | None], list[Observation]] = {}

    def add(self, observation: Observation) -> list[Observation] | None:
        """The complete group this observation finishes, or None while it is incomplete."""
        endpoint = observation.endpoint
        if endpoint.group_size <= 1:
            return [observation]
        key = (endpoint.group, endpoint.ip)
        group = self._pending.setdefault(key, [])
        group.append(observation)
        if len(group) < endpoint.group_size:
            return None
        del self._pending[key]
        return group

    def flush(self) -> Iterator[list[Observation]]:
        """Groups that never completed (an interrupted scan, a shard): judged with what came."""
        pending, self._pending = self._pending, {}
        yield from pending.values()

    def __len__(self) -> int:
        return sum(len(group) for group in self._pending.values())
