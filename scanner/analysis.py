"""From one Observation to one EndpointReport: the whole pure half of ekuscan.

Live scans and ``ekuscan inspect`` both end here, so a PEM file and a server presenting the
same chain get the same findings, links and verdict.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from scanner.certs import ParsedCert, parse_der
from scanner.eku import usability
from scanner.models import CertFacts, EndpointReport, Observation, Role, Status, UnparsedCert, Use
from scanner.policy import Policy
from scanner.rules import ALL_RULES, ChainUnderTest, Rule, RuleContext, evaluate
from scanner.trust import RootStore, classify, facts_of
from scanner.verdict import earliest_break, judge_links, links_for_endpoint, worst

DEFAULT_ROLE = Role.EXPRESSWAY
OFFLINE_PORT = 0  # an Endpoint with port 0 stands for certificate files, not a socket


@dataclass(frozen=True)
class AnalysisContext:
    now: datetime  # the evaluation time (--at), aware UTC
    warn: timedelta
    roots: RootStore
    policy: Policy
    default_role: Role = DEFAULT_ROLE
    rules: tuple[Rule, ...] = ALL_RULES


def expected_name(host: str, sni: str | None, port: int) -> str | None:
    """The DNS name a certificate should carry, or None for IP targets without an SNI.

    Port 0 marks certificates read from files (``inspect``): only an explicit name counts.
    """
    if sni or port == OFFLINE_PORT:
        return sni
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    return None


def analyze(observation: Observation, ctx: AnalysisContext) -> EndpointReport:
    endpoint = observation.endpoint
    role = endpoint.role or ctx.default_role
    parsed = [parse_der(der) for der in observation.chain_der]
    trust = classify(parsed, ctx.roots)
    path: tuple[CertFacts, ...] = tuple(
        p.facts for p in (parsed[i] for i in trust.path) if isinstance(p, ParsedCert)
    )
    usab = {use: usability(path, use, trust.anchor_eku) for use in Use} if path else {}
    chain = ChainUnderTest(
        presented=facts_of(parsed),
        path=path,
        trust=trust,
        client=usab.get(Use.CLIENT),
        server=usab.get(Use.SERVER),
        hostname=expected_name(endpoint.host, endpoint.sni, endpoint.port),
        client_cert_requested=observation.client_cert_requested,
        client_ca_names=observation.client_ca_names,
    )
    role_links = ctx.policy.links_for(role)
    rule_ctx = RuleContext(now=ctx.now, warn=ctx.warn, role=role, uses=frozenset(s.uses for s in role_links))
    findings = evaluate(chain, rule_ctx, ctx.rules)
    links = judge_links(
        links_for_endpoint(role_links, endpoint.port),
        path,
        usab,
        frozenset(f.code for f in findings),
        ctx.now,
        ctx.warn,
        unknown_reason=_unknown_reason(observation, parsed),
    )
    return EndpointReport(
        observation=observation,
        role=role,
        chain=chain.presented,
        trust=trust,
        findings=findings,
        links=links,
        verdict=worst(link.verdict for link in links),
        breaks_on=earliest_break(links),
    )


def _unknown_reason(observation: Observation, parsed: Sequence[ParsedCert | UnparsedCert]) -> str:
    if observation.status is not Status.OK:
        return f"no certificate: {observation.status.value}"
    if not parsed:
        return "the server presented no certificate"
    return "the leaf certificate cannot be parsed"
