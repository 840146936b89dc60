"""A host as a whole: its product, release and role, from all of its endpoints (pure).

One endpoint rarely tells the whole story: the SIP banner on 5061 says "Expressway X15.3.2",
the traversal listener on 7001 says "this is the E side", ``Server: CE_E`` on 8443 says so
too. The analysis therefore judges the endpoints of one host together. ``HostGrouper`` is the
one way every scan (one process or several) groups its ordered stream of results into hosts
(``Endpoint.group``/``group_size``, set by the target expansion), so memory stays bounded by
the host being collected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from scanner.core.software import from_http, from_sip
from scanner.model import (
    Direction,
    Endpoint,
    Fingerprint,
    Observation,
    Product,
    Role,
    RoleSource,
    Status,
    Version,
)

# Expressway-E listens for traversal clients on 7001 (then 7002, ... per zone) and for SSH
# tunnels on 2222; Expressway-C listens on neither (domain.md Q1a).
Item = TypeVar("Item")

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
    ports: frozenset[int] = frozenset()  # the ports probed on this host (address): where a service was sought


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


_PRODUCTS_OF_ROLE = {
    Role.EXPRESSWAY: EXPRESSWAY_PRODUCTS,
    Role.EXPRESSWAY_C: EXPRESSWAY_PRODUCTS,
    Role.EXPRESSWAY_E: EXPRESSWAY_PRODUCTS,
    Role.CUCM: frozenset({Product.CUCM}),
    Role.CUBE: frozenset({Product.CUBE}),
}


def release_for_role(role: Role, software: Fingerprint | None) -> Version | None:
    """The host's release, where its banner names the product the role is (an Expressway
    release for an Expressway role, an IOS XE release for CUBE): the link table's versions
    are that product's."""
    if software is None or software.product not in _PRODUCTS_OF_ROLE.get(role, frozenset()):
        return None
    return software.version


def is_traversal_listener(observation: Observation) -> bool:
    # An inbound connection's port is the peer's source port: it says nothing of a listener.
    return (
        observation.status is Status.OK
        and observation.direction is Direction.OUTBOUND
        and observation.endpoint.port in TRAVERSAL_PORTS
    )


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
    ports = frozenset(obs.endpoint.port for obs in observations)
    if inferred is None:
        return HostContext(default_role, RoleSource.DEFAULT, software, ports)
    return HostContext(inferred, RoleSource.INFERRED, software, ports)


class HostGrouper(Generic[Item]):
    """Groups a target-ordered stream of endpoint results into hosts.

    The pool emits results in target order and the targets expand one host at a time, so the
    endpoints of a host are consecutive: a host is complete once ``group_size`` of its
    endpoints came, or when the next result belongs to another group (the sweep dropped a
    duplicate endpoint, so fewer came). A host named again later in the target list is a
    group of its own. ``item`` is whatever the caller keeps per endpoint (the observations of
    its addresses, with their place in the stream).
    """

    def __init__(self) -> None:
        self._group: int | None = None
        self._items: list[Item] = []

    def add(self, endpoint: Endpoint, item: Item) -> list[list[Item]]:
        """The hosts this result completes: none, the previous one, this one, or both."""
        complete = []
        if self._items and endpoint.group != self._group:
            complete.append(self.flush())
        self._group = endpoint.group
        self._items.append(item)
        if len(self._items) >= endpoint.group_size:
            complete.append(self.flush())
        return complete

    def flush(self) -> list[Item]:
        """The host being collected, complete or not (the end of a stream, or a stopped scan)."""
        items, self._items = self._items, []
        return items

    def __len__(self) -> int:
        return len(self._items)
