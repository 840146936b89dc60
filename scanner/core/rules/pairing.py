"""Estate rules over the two ends of a link: a client's chain against the CAs its server accepts."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from scanner.core.peers import ClientCARequest, ClientChain, plays
from scanner.core.rules._engine import Hit, HostIdentity, estate_rule
from scanner.model import EffectKind, LinkEffect, LinkTarget, Severity, Use

_BOTH_SIDES = frozenset({Use.CLIENT, Use.SERVER})


@dataclass(frozen=True, slots=True)
class _Pair:
    client: HostIdentity
    chain: ClientChain
    server: HostIdentity
    requests: tuple[ClientCARequest, ...]  # the server's ports of the chain's peer link

    def ports(self, requests: Sequence[ClientCARequest]) -> str:
        return ", ".join(str(p) for p in sorted({r.port for r in requests}))

    def details(self, requests: Sequence[ClientCARequest]) -> tuple[tuple[str, str], ...]:
        return (
            ("client_host", self.client.host),
            ("client_link", self.chain.link),
            ("client_certificate", self.chain.leaf_sha256),
            ("client_issuer", self.chain.leaf_issuer),
            ("server_host", self.server.host),
            ("server_link", self.chain.peer_link),
            ("server_ports", self.ports(requests)),
        )

    @property
    def targets(self) -> tuple[LinkTarget, ...]:
        return (
            LinkTarget(self.client.host, self.chain.link, Use.CLIENT),
            LinkTarget(self.server.host, self.chain.peer_link, Use.SERVER),
        )


def _pairs(hosts: Sequence[HostIdentity]) -> Iterator[_Pair]:
    """Each client chain with the server ends of its link among the hosts of its label.

    Hosts are paired within their CSV label (one label per C/E pair, cluster or site), every
    client with every server end there; a host is never its own peer. Hosts without a label
    are paired only where the run holds one server end of the link among them (a scan of a C
    and its E): in a sweep, which C dials which E is not known, and all with all would be
    guesses, quadratic in number.
    """
    ends: dict[tuple[str, str], list[tuple[HostIdentity, tuple[ClientCARequest, ...]]]] = {}
    for host in hosts:
        by_link: dict[str, list[ClientCARequest]] = {}
        for request in host.ca_requests:
            by_link.setdefault(request.link, []).append(request)
        for link, asked in by_link.items():
            ends.setdefault((host.label, link), []).append((host, tuple(asked)))
    for client in hosts:
        for chain in client.client_chains:
            candidates = (
                (server, requests)
                for server, requests in ends.get((client.label, chain.peer_link), ())
                if server.host != client.host and plays(server.role, chain.peer_role)
            )
            # Unlabelled, two server ends already say "not known which": stop looking there,
            # or a sweep of many Cs and Es costs every C a walk over every E.
            peers = list(candidates) if client.label else list(itertools.islice(candidates, 2))
            if not client.label and len(peers) != 1:
                continue
            for server, requests in peers:
                yield _Pair(client, chain, server, requests)


@estate_rule(
    "TRAVERSAL_CA_NOT_ACCEPTED",
    Severity.HIGH,
    "the server end of a paired link (an Expressway-E traversal zone) trusts no CA of its client's chain",
    fix="Add the CA that issued the client's certificate (its issuing CA and root) to the server's "
    "trusted CA list, or reissue the client's certificate from a CA the server trusts.",
)
def traversal_ca_not_accepted(hosts: Sequence[HostIdentity]) -> Sequence[Hit]:
    """Both ends of a link were scanned, and the server end names, as the CAs it accepts client
    certificates from, none of the CAs of the client's chain: the link fails on trust, whatever
    the EKU says.

    An Expressway-C dials its Expressway-E's traversal port (7001 and up) presenting its own
    certificate as the client certificate; the E checks it against its trusted CA list, which
    it names in its CertificateRequest. The link table says which client link dials which
    server link (``peer`` in the policy: the C's traversal zone and SSH tunnels to the E, the
    C's SIP trunk to CUCM's CallManager port, CUCM's trunk to the C's SIP port); hosts are
    paired within their CSV label (without one, only where the run holds a single server end
    of the link, such as a scan of one C and its E). The C's chain counts as accepted when a name the server
    sent is the issuer of a certificate on the chain's path or the subject of a CA on it
    (presented, or added when the chain was completed): its issuing CA, an intermediate or the
    root. Names are compared as OpenSSL's X509_NAME_cmp compares them, from the DER the server
    sent (string types, case and spacing of ASCII letters canonicalised); where only text is
    at hand, the RFC 4514 texts must be equal. Breaks the client link and the server link.
    (A server that names an intermediate of the chain but not its root is
    TRAVERSAL_CA_ROOT_NOT_NAMED.)
    """
    hits = []
    for pair in _pairs(hosts):
        refusing = [
            r for r in pair.requests if r.requested and r.names and pair.chain.accepted_name(r) is None
        ]
        if not refusing:
            continue
        named = "; ".join(dict.fromkeys(n.text for r in refusing for n in r.names))
        reason = (
            f"{pair.server.host} accepts client certificates only from {named}, "
            f"not the issuer of {pair.client.host}'s certificate ({pair.chain.leaf_issuer})"
        )
        hits.append(
            Hit(
                f"{pair.client.host}'s {pair.chain.link} certificate (issued by {pair.chain.leaf_issuer}) "
                f"is from no CA that {pair.server.host} accepts on {pair.ports(refusing)} "
                f"({pair.chain.peer_link}: it names {named}): the link fails on trust, whatever the EKU says",
                cert_sha256=pair.chain.leaf_sha256,
                details=(*pair.details(refusing), ("accepted_cas", named)),
                effect=LinkEffect(EffectKind.ISSUER_NOT_ACCEPTED, _BOTH_SIDES, reason, None),
                targets=pair.targets,
            )
        )
    return hits


@estate_rule(
    "TRAVERSAL_CA_ROOT_NOT_NAMED",
    Severity.MEDIUM,
    "the server end of a paired link names an intermediate of its client's chain but not the root",
    fix="Add the root CA of the client's chain to the server's trusted CA list (Expressway: the whole "
    "chain, root and intermediates, belongs in the trusted CA list).",
)
def traversal_ca_root_not_named(hosts: Sequence[HostIdentity]) -> Sequence[Hit]:
    """Both ends of a paired link were scanned (see TRAVERSAL_CA_NOT_ACCEPTED), and the server
    end names a CA of the client's chain (its issuing CA, an intermediate) but not the root the
    chain ends at. OpenSSL's default verification accepts a chain only when it ends at a
    self-signed CA the server trusts: with the intermediate alone trusted, a verifying OpenSSL
    server refuses the certificate (``unknown_ca``), and accepts it only where it is set up to
    trust a partial chain (X509_V_FLAG_PARTIAL_CHAIN), which a scan cannot see. The link verdicts
    stay as the certificates make them; this finding says what to check.
    """
    hits = []
    for pair in _pairs(hosts):
        partial = [
            r
            for r in pair.requests
            if r.requested and pair.chain.accepted_name(r) is not None and not pair.chain.root_named(r)
        ]
        if not partial:
            continue
        root = pair.chain.root.text if pair.chain.root is not None else "its root"
        named = "; ".join(dict.fromkeys(n for r in partial if (n := pair.chain.accepted_name(r))))
        hits.append(
            Hit(
                f"{pair.server.host} names {named} of {pair.client.host}'s {pair.chain.link} chain on "
                f"{pair.ports(partial)} ({pair.chain.peer_link}), but not its root {root}: a verifying "
                "OpenSSL server refuses the chain unless it trusts partial chains",
                cert_sha256=pair.chain.leaf_sha256,
                details=(*pair.details(partial), ("named_ca", named), ("root", root)),
            )
        )
    return hits


@estate_rule(
    "TRAVERSAL_CA_NAMES_UNKNOWN",
    Severity.INFO,
    "the server end of a paired link asks for a client certificate but names no CAs: trust not judged",
)
def traversal_ca_names_unknown(hosts: Sequence[HostIdentity]) -> Sequence[Hit]:
    """Both ends of a paired link were scanned (see TRAVERSAL_CA_NOT_ACCEPTED), and the server
    end asks for a client certificate without naming the CAs it accepts (an empty
    certificate_authorities list is allowed by TLS). Whether it trusts the client's issuer
    cannot be seen from the network: the pairing is not judged, and the link verdicts stay as
    the certificates alone make them. Check the server's trusted CA list by hand.
    """
    hits = []
    for pair in _pairs(hosts):
        silent = [r for r in pair.requests if r.requested and not r.names]
        if silent:
            hits.append(
                Hit(
                    f"{pair.server.host} asks for a client certificate on {pair.ports(silent)} "
                    f"({pair.chain.peer_link}) but names no CAs: whether it accepts {pair.client.host}'s "
                    f"issuer ({pair.chain.leaf_issuer}) cannot be seen",
                    cert_sha256=pair.chain.leaf_sha256,
                    details=pair.details(silent),
                )
            )
    return hits


@estate_rule(
    "TRAVERSAL_CLIENT_CERT_NOT_REQUESTED",
    Severity.INFO,
    "the server end of a paired link did not ask the scanner for a client certificate",
)
def traversal_client_cert_not_requested(hosts: Sequence[HostIdentity]) -> Sequence[Hit]:
    """Both ends of a paired link were scanned (see TRAVERSAL_CA_NOT_ACCEPTED), and the server
    end did not ask the scanner for a client certificate on the ports of that link. Its trust
    in the client's issuer cannot be compared, and a server that never asks does not check
    the client's certificate (issuer or EKU) on that port. An Expressway-E's traversal server
    zone normally demands one; a port that does not may be another service, or a zone set up
    without mutual TLS: worth a look.
    """
    hits = []
    for pair in _pairs(hosts):
        if any(r.requested for r in pair.requests):
            continue
        hits.append(
            Hit(
                f"{pair.server.host} does not ask for a client certificate on {pair.ports(pair.requests)} "
                f"({pair.chain.peer_link}): {pair.client.host}'s certificate is not checked there as scanned",
                cert_sha256=pair.chain.leaf_sha256,
                details=pair.details(pair.requests),
            )
        )
    return hits
