"""Both ends of a link as plain data: a client's chain, and what a server asks of its clients (pure).

The policy's link table says which server link a client link dials (``LinkSpec.peer``: an
Expressway-C's ``traversal-zone`` dials an Expressway-E's ``traversal-server``). When one
run holds both ends, the estate rules (``rules/pairing.py``) compare the client's chain with
the CA names the server sent in its CertificateRequest. These values are what a host
contributes to that comparison; the inventory collects them from the endpoint reports.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from scanner.core.name_match import NameKey
from scanner.core.policy import Policy
from scanner.model import CertFacts, EndpointReport, Role, Status, Use, Verdict
from scanner.model.pickling import fast_pickling

OFFLINE_PORT = 0  # an Endpoint of certificate files (as core.analysis marks them)
_EXPRESSWAY_SIDES = frozenset({Role.EXPRESSWAY_C, Role.EXPRESSWAY_E})


def plays(role: Role, wanted: Role) -> bool:
    """A host of ``role`` can be the ``wanted`` end: the same role, or ``expressway`` (C or E unknown)."""
    return role is wanted or (role is Role.EXPRESSWAY and wanted in _EXPRESSWAY_SIDES)


@dataclass(frozen=True, slots=True)
class LinkPair:
    """A client link of one role and the server link of another that it dials (policy data)."""

    client_role: Role
    client_link: str
    server_role: Role
    server_link: str


def link_pairs(policy: Policy) -> tuple[LinkPair, ...]:
    """Every client link of the policy that names its peer, as a pair."""
    return tuple(
        LinkPair(link.role, link.name, link.peer.role, link.peer.link)
        for link in policy.links
        if link.peer is not None and link.uses is Use.CLIENT
    )


@dataclass(frozen=True, slots=True)
class ClientChain:
    """The chain a host presents as the client of one link, as the names a server may trust.

    ``issuers``: the issuer of every certificate on the chain's path (the leaf's issuer, each
    CA's issuer, so the anchor's name too) and the subject of every CA certificate on it,
    presented or added by chain completion; each by DER where the certificate gave it. A
    certificate the client sent that is not on the path does not count: a server builds its
    path from the leaf, and an unrelated certificate it trusts does not make it accept one.
    """

    link: str  # the client link
    peer_role: Role  # the role of the server end ...
    peer_link: str  # ... and its server link
    leaf_sha256: str
    leaf_issuer: str  # RFC 4514, for messages
    issuers: tuple[NameKey, ...]
    # The name of the root the path ends at (presented or not): the top certificate's subject
    # where it is self-issued, else its issuer. None: not known.
    root: NameKey | None = None

    def accepted_name(self, request: ClientCARequest) -> str | None:
        """The first CA name of ``request`` that names an issuer of this chain; None: none does."""
        for name in request.names:
            if any(name.matches(issuer) for issuer in self.issuers):
                return name.text
        return None

    def root_named(self, request: ClientCARequest) -> bool:
        """``request`` names the root of this chain (or the root is not known: nothing to say)."""
        root = self.root
        return root is None or any(name.matches(root) for name in request.names)


@dataclass(frozen=True, slots=True)
class ClientCARequest:
    """What one server port of a host asked of its clients during the probe."""

    link: str  # the server link the port serves
    port: int
    requested: bool  # it sent a CertificateRequest
    names: tuple[NameKey, ...]  # the CA names it sent (none: any CA it trusts)


def client_chains(report: EndpointReport, pairs: Iterable[LinkPair]) -> tuple[ClientChain, ...]:
    """The chains this endpoint's certificate gives the paired client links it is judged for.

    A link whose verdict is ``unknown`` shows no chain to compare (no certificate, or one the
    link does not present: X15.5's separate client store).
    """
    path = _path(report)
    if not path:
        return ()
    judged = {
        link.name for link in report.links if link.uses is Use.CLIENT and link.verdict is not Verdict.UNKNOWN
    }
    wanted = [p for p in pairs if p.client_link in judged and plays(report.role, p.client_role)]
    if not wanted:
        return ()
    issuers = issuer_names(path, report.trust.anchor)
    leaf, root = path[0], root_name(path)
    return tuple(
        ClientChain(p.client_link, p.server_role, p.server_link, leaf.sha256, leaf.issuer, issuers, root)
        for p in wanted
    )


def ca_requests(report: EndpointReport, server_links: Collection[str]) -> tuple[ClientCARequest, ...]:
    """What this endpoint, a server end of one of ``server_links``, asked of its clients.

    Nothing for a certificate file (port 0: ``inspect``), which had no handshake to ask in.
    """
    obs = report.observation
    if obs.status is not Status.OK or obs.endpoint.port == OFFLINE_PORT:
        return ()
    texts = obs.client_ca_names
    ders = obs.client_ca_names_der
    if len(ders) == len(texts):
        names = tuple(NameKey.of_der(der, text) for der, text in zip(ders, texts, strict=True))
    else:  # only the text was kept (a record written before DER names were)
        names = tuple(NameKey.of_text(text) for text in texts)
    return tuple(
        ClientCARequest(link.name, obs.endpoint.port, obs.client_cert_requested, names)
        for link in report.links
        if link.uses is Use.SERVER and link.name in server_links
    )


def _path(report: EndpointReport) -> tuple[CertFacts, ...]:
    known = [*report.chain, *(added.facts for added in report.trust.added)]
    path = [known[i] for i in report.trust.path if i < len(known)]
    return tuple(c for c in path if isinstance(c, CertFacts))


def issuer_names(path: Sequence[CertFacts], anchor: str | None = None) -> tuple[NameKey, ...]:
    """The names a server may trust a chain's path by (leaf first), as ``ClientChain.issuers``."""
    names = [_key(c.issuer_der, c.issuer) for c in path]
    names += [_key(c.subject_der, c.subject) for c in path[1:]]
    if anchor:
        names.append(NameKey.of_text(anchor))
    unique: list[NameKey] = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return tuple(unique)


def root_name(path: Sequence[CertFacts]) -> NameKey | None:
    """The name of the root a path (leaf first) ends at, presented or not."""
    if not path:
        return None
    top = path[-1]
    return _key(top.subject_der, top.subject) if top.self_issued else _key(top.issuer_der, top.issuer)


def _key(der: bytes, text: str) -> NameKey:
    return NameKey.of_der(der, text) if der else NameKey.of_text(text)


fast_pickling(globals())  # the state of its dataclasses as tuples: see model/pickling.py
