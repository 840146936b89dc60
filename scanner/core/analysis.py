"""From one Observation to one EndpointReport: the whole pure half of ekuscan.

Live scans and ``ekuscan inspect`` both end here, so a PEM file and a server presenting the
same chain get the same findings, links and verdict.
"""

from __future__ import annotations

import functools
import ipaddress
import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Generic, TypeVar

from scanner.core.candidate import CandidatePrediction, explain, observe, predict_candidate
from scanner.core.certs import ParsedCert, name_attributes, parse_der
from scanner.core.completion import IntermediatePool, classify_completed
from scanner.core.hosts import (
    EXPRESSWAY_ROLES,
    HostContext,
    host_context,
    release_for_role,
)
from scanner.core.policy import Policy
from scanner.core.rules import ALL_RULES, ChainUnderTest, PublicClientCA, Rule, RuleContext, evaluate
from scanner.core.trust import ProgramRoots, RootStore, facts_of
from scanner.core.usage import Usability, usability
from scanner.core.verdict import (
    PlannedLink,
    earliest_break,
    judge_links,
    links_for_endpoint,
    services_of_endpoint,
    worst,
)
from scanner.model import (
    CertFacts,
    EndpointReport,
    Finding,
    Fingerprint,
    LinkVerdict,
    Observation,
    Role,
    RoleSource,
    RootProgram,
    Status,
    TrustResult,
    UnparsedCert,
    Use,
    Verdict,
    Version,
)

DEFAULT_ROLE = Role.EXPRESSWAY
OFFLINE_PORT = 0  # an Endpoint with port 0 stands for certificate files, not a socket
CHAIN_MEMO_SIZE = 128  # chains judged once per context: a host's ports, a cluster's shared certificate
PLAN_MEMO_SIZE = 256  # an endpoint's links planned once per (role, release, port, host's ports, CSV links)
FINDINGS_MEMO_SIZE = 256  # the rules' findings once per (chain, what the endpoint adds)
JUDGEMENT_MEMO_SIZE = 256  # link verdicts once per (those findings, the links planned)

# What the rules' findings depend on besides the analysis context and the chain's DER: every
# field of ChainUnderTest and RuleContext except those these two determine (the judged chain's
# parts, the CA names' public CAs, the candidate, the context's time, window and policy). A
# field added to either class is in the key unless it is named here.
_DETERMINED = frozenset(
    {
        "presented",
        "path",
        "trust",
        "client",
        "server",
        "public_client_cas",
        "candidate",
        "now",
        "warn",
        "policy",
    }
)
_CHAIN_VARIES = operator.attrgetter(*(f.name for f in fields(ChainUnderTest) if f.name not in _DETERMINED))
_CONTEXT_VARIES = operator.attrgetter(*(f.name for f in fields(RuleContext) if f.name not in _DETERMINED))


Memoised = TypeVar("Memoised")


class BoundedMemo(Generic[Memoised]):
    """Values by key, the oldest forgotten beyond ``limit``: hosts come one after another, so
    what a sweep repeats is recent."""

    __slots__ = ("_limit", "_values")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._values: dict[Hashable, Memoised] = {}

    def get(self, key: Hashable) -> Memoised | None:
        return self._values.get(key)

    def put(self, key: Hashable, value: Memoised) -> Memoised:
        if len(self._values) >= self._limit:
            del self._values[next(iter(self._values))]
        self._values[key] = value
        return value


@dataclass(frozen=True)
class AnalysisContext:
    now: datetime  # the evaluation time (--at), aware UTC
    warn: timedelta
    roots: RootStore
    policy: Policy
    default_role: Role = DEFAULT_ROLE
    assumed_software: Fingerprint | None = None  # inspect --release: the release to judge against
    rules: tuple[Rule, ...] = ALL_RULES
    mozilla_roots: ProgramRoots | None = None  # certifi's roots, where ``roots`` is another bundle

    @functools.cached_property
    def other_programs(self) -> tuple[ProgramRoots, ...]:
        """The root programs to look anchors up in besides the public bundle's own: Chrome's list
        (from the policy; without one, every root of the public bundle counts as Chrome's) and
        Mozilla's, where the public bundle is not certifi's."""
        listed = self.policy.chrome_root_store
        chrome = (
            ProgramRoots(RootProgram.CHROME, listed.fingerprints, listed.names)
            if listed is not None
            else ProgramRoots(RootProgram.CHROME, self.roots.fingerprints, self.roots.names)
        )
        return (chrome,) if self.mozilla_roots is None else (chrome, self.mozilla_roots)

    # What an incomplete chain is completed with: the packaged public intermediates,
    # --intermediates, fetched issuers (the edge loads them; empty: judge the chain as sent).
    intermediates: IntermediatePool = field(default_factory=IntermediatePool)
    # The one side of the handshake the chains are presented on (``listen``: CLIENT, the
    # certificate a peer really sent as a client; ``inspect --as``); None: every link of the
    # endpoint, as the role and port say.
    judged_as: Use | None = None
    # How a presented certificate is parsed: ``report`` judges the same DER on many hosts, spread
    # wider than parse_der's own cache reaches, and passes a larger one (one parse per DER).
    parse: Callable[[bytes], ParsedCert | UnparsedCert] = parse_der
    client_candidate: tuple[bytes, ...] = ()  # --client-cert and --client-chain, leaf first (DER)

    @functools.cached_property
    def judge_chain(self) -> Callable[[tuple[bytes, ...]], JudgedChain]:
        """``judge_chain`` for this context, remembered per chain: an Expressway shows one chain on
        every port, and a range repeats its intermediates (bounded; the context fixes the time)."""

        @functools.lru_cache(maxsize=CHAIN_MEMO_SIZE)
        def judged(chain_der: tuple[bytes, ...]) -> JudgedChain:
            return judge_chain(chain_der, self)

        return judged

    @functools.cached_property
    def _plans(self) -> BoundedMemo[EndpointPlan]:
        return BoundedMemo(PLAN_MEMO_SIZE)

    @functools.cached_property
    def _link_plans(self) -> BoundedMemo[LinkPlan]:
        return BoundedMemo(PLAN_MEMO_SIZE)

    @functools.cached_property
    def _findings(self) -> BoundedMemo[tuple[Finding, ...]]:
        return BoundedMemo(FINDINGS_MEMO_SIZE)

    @functools.cached_property
    def _link_verdicts(self) -> BoundedMemo[dict[PlannedLink, LinkVerdict]]:
        return BoundedMemo(FINDINGS_MEMO_SIZE)

    @functools.cached_property
    def _judgements(self) -> BoundedMemo[EndpointJudgement]:
        return BoundedMemo(JUDGEMENT_MEMO_SIZE)

    @functools.cached_property
    def candidate(self) -> CandidatePrediction | None:
        """The --client-cert candidate judged offline as a client certificate, once per run."""
        return predict_candidate(
            self.client_candidate, self.roots, self.intermediates, self.now, self.other_programs
        )


@dataclass(frozen=True, slots=True)
class JudgedChain:
    """What a chain is, whoever presents it: parsed, its trust and path, its usability per use."""

    parsed: tuple[ParsedCert | UnparsedCert, ...]
    presented: tuple[CertFacts | UnparsedCert, ...]
    trust: TrustResult
    path: tuple[CertFacts, ...]
    usability: Mapping[Use, Usability]  # empty: no path, nothing to judge


def judge_chain(chain_der: tuple[bytes, ...], analysis: AnalysisContext) -> JudgedChain:
    """The endpoint-independent half of ``analyze``: the same for every port showing the chain."""
    parsed = tuple(analysis.parse(der) for der in chain_der)
    trust = classify_completed(
        parsed, analysis.roots, analysis.intermediates, analysis.now, analysis.other_programs
    )
    presented = facts_of(parsed)
    # The path runs through the presented certificates and those that completed it: an added
    # intermediate's EKU counts exactly as if the server had sent it.
    known = [*presented, *(added.facts for added in trust.added)]
    path: tuple[CertFacts, ...] = tuple(f for f in (known[i] for i in trust.path) if isinstance(f, CertFacts))
    usab = MappingProxyType({use: usability(path, use, trust.anchor_eku) for use in Use} if path else {})
    return JudgedChain(parsed, presented, trust, path, usab)


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


def analyze(
    observation: Observation, analysis: AnalysisContext, host: HostContext | None = None
) -> EndpointReport:
    """Judge one endpoint; ``host`` is what its host's other endpoints showed (``analyze_host``)."""
    if observation.client_auth_test is not None:
        observation = replace(
            observation, client_auth_test=explain(observation.client_auth_test, analysis.policy)
        )
    endpoint = observation.endpoint
    host = host or host_context((observation,), analysis.default_role, analysis.assumed_software)
    role = endpoint.role or host.role
    role_source = RoleSource.GIVEN if endpoint.role is not None else host.role_source
    software = host.software
    release = release_for_role(role, software)  # the release of the product the role is
    version = release if role in EXPRESSWAY_ROLES else None
    port, separate_store = _judged_view(analysis, endpoint.port, role, version)
    judged = analysis.judge_chain(observation.chain_der)
    trust, usab = judged.trust, judged.usability
    chain = ChainUnderTest(
        presented=judged.presented,
        path=judged.path,
        trust=trust,
        client=usab.get(Use.CLIENT),
        server=usab.get(Use.SERVER),
        hostname=expected_name(endpoint.host, endpoint.sni, port),
        client_cert_requested=observation.client_cert_requested,
        client_ca_names=observation.client_ca_names,
        public_client_cas=public_client_cas(observation.client_ca_names, analysis),
        client_auth_test=observation.client_auth_test,
        candidate=analysis.candidate if observation.client_auth_test is not None else None,
    )
    plan = _plan(analysis, role, release, port, host.ports, endpoint.links)
    rule_context = RuleContext(
        now=analysis.now,
        warn=analysis.warn,
        role=role,
        # On X15.5+ this certificate is the server certificate only: client rules do not apply.
        uses=plan.links.uses - {Use.CLIENT} if separate_store else plan.links.uses,
        policy=analysis.policy,
        software=software,
        expressway_version=version,
        separate_client_store=separate_store,
    )
    # The rules and the link verdicts are pure, so their results are remembered: an Expressway
    # shows one chain on all its ports, and the uses the rules judge are mostly the same on
    # each (its client links count wherever the certificate is seen); the links planned are
    # the port's own, but a fleet repeats them (--show-all's closed ports: one judgement).
    rules_key = (observation.chain_der, _CHAIN_VARIES(chain), _CONTEXT_VARIES(rule_context))
    findings = analysis._findings.get(rules_key)
    if findings is None:
        findings = analysis._findings.put(rules_key, evaluate(chain, rule_context, analysis.rules))
    unknown_reason = _unknown_reason(observation, judged.parsed)
    links_key = (rules_key, plan.links, unknown_reason)
    judgement = analysis._judgements.get(links_key)
    if judgement is None or judgement.findings is not findings:
        judgement = analysis._judgements.put(
            links_key, _judge(judged, findings, chain, plan, analysis, rules_key, unknown_reason)
        )
    return EndpointReport(
        observation=observation,
        role=role,
        chain=chain.presented,
        trust=trust,
        findings=judgement.findings,
        links=judgement.links,
        verdict=judgement.verdict,
        breaks_on=judgement.breaks_on,
        role_source=role_source,
        software=software,
        services=plan.services,
    )


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity: one per content
class LinkPlan:
    """The links an endpoint's certificate is judged for, from the policy's link table; ports
    with the same links share one (``_plan``), so their judgement is remembered once."""

    planned: tuple[PlannedLink, ...]
    # The uses the rules judge: those the policy gives this certificate here (a CUCM port whose
    # service has only server links needs no clientAuth, nor does a host whose CSV names no
    # client link).
    uses: frozenset[Use]


@dataclass(frozen=True, slots=True)
class EndpointPlan:
    links: LinkPlan
    services: tuple[str, ...]  # whose certificate the port presents


@dataclass(frozen=True, slots=True)
class EndpointJudgement:
    findings: tuple[Finding, ...]
    links: tuple[LinkVerdict, ...]
    verdict: Verdict
    breaks_on: datetime | None


def _plan(
    analysis: AnalysisContext,
    role: Role,
    release: Version | None,
    port: int,
    host_ports: frozenset[int],
    given: tuple[str, ...] | None,
) -> EndpointPlan:
    key = (role, release, port, host_ports, given)
    plan = analysis._plans.get(key)
    if plan is None:
        role_links = analysis.policy.links_for(role, release)
        planned = links_for_endpoint(role_links, port, host_ports, release, given)
        if analysis.judged_as is not None:  # the links of the side judged
            planned = tuple(p for p in planned if p.uses is analysis.judged_as)
        specified = {(spec.name, spec.uses) for spec in role_links}
        uses = frozenset(p.uses for p in planned if p.unseen is None and (p.name, p.uses) in specified)
        content = (planned, uses)
        links = analysis._link_plans.get(content) or analysis._link_plans.put(
            content, LinkPlan(planned, uses)
        )
        plan = analysis._plans.put(key, EndpointPlan(links, services_of_endpoint(role_links, port)))
    return plan


def _judge(
    judged: JudgedChain,
    findings: tuple[Finding, ...],
    chain: ChainUnderTest,
    plan: EndpointPlan,
    analysis: AnalysisContext,
    rules_key: tuple[object, ...],
    unknown_reason: str,
) -> EndpointJudgement:
    # The verdicts follow the findings' effects (SEPARATE_CLIENT_STORE leaves the client links
    # unknown on X15.5+) and the usability of the chain for each use; per (chain, what the
    # endpoint adds, reason), a planned link gets one verdict object, whichever port plans it.
    same_verdicts = (rules_key, unknown_reason)
    known = analysis._link_verdicts.get(same_verdicts)
    if known is None:
        known = analysis._link_verdicts.put(same_verdicts, {})
    links = judge_links(plan.links.planned, judged.usability, findings, analysis.now, unknown_reason, known)
    links = observe(links, chain.client_auth_test, chain.candidate)
    return EndpointJudgement(findings, links, worst(link.verdict for link in links), earliest_break(links))


def _judged_view(
    analysis: AnalysisContext, port: int, role: Role, version: Version | None
) -> tuple[int, bool]:
    """The port the links are planned for, and whether the host keeps a separate client store.

    A chain judged as one side only (``judged_as``) stands for no socket of the host: like a
    file, it takes part in every link of that side (port 0), whatever port the connection came
    from. X15.5+ keeps a client store a server-side view cannot see; a chain seen as the client
    certificate is what that store holds, so its client links are judged.
    """
    separate_store = (
        analysis.judged_as is not Use.CLIENT
        and role in EXPRESSWAY_ROLES
        and analysis.policy.releases.separate_client_store(version)
    )
    return (port if analysis.judged_as is None else OFFLINE_PORT), separate_store


def analyze_host(observations: Sequence[Observation], analysis: AnalysisContext) -> list[EndpointReport]:
    """Judge the endpoints of one host together (its banners and listeners set its role), in
    the order given. Each address of a name counts as a host of its own, as on the wire."""
    hosts = host_contexts(observations, analysis)
    return [analyze(observation, analysis, hosts[observation.endpoint.ip]) for observation in observations]


def host_contexts(
    observations: Sequence[Observation], analysis: AnalysisContext
) -> dict[str | None, HostContext]:
    """What each address's endpoints show about it (``analyze_host``), by address."""
    by_address: dict[str | None, list[Observation]] = {}
    for observation in observations:
        by_address.setdefault(observation.endpoint.ip, []).append(observation)
    return {
        address: host_context(group, analysis.default_role, analysis.assumed_software)
        for address, group in by_address.items()
    }


def public_client_cas(names: Sequence[str], analysis: AnalysisContext) -> tuple[PublicClientCA, ...]:
    """The client CA names a server sent that denote public CAs (a root of the public bundle, or a
    CA, issuing or root, of the policy's public CA table), with the programs holding such a root."""
    public = []
    programs = (analysis.roots.program_roots, *analysis.other_programs)
    for name in names:
        attributes = name_attributes(name)
        cn, org = attributes.get("CN"), attributes.get("O")
        ca = analysis.policy.public_ca(org, cn)
        if ca is None and not analysis.roots.has_root_named(cn, org):
            continue
        held = {p.program for p in programs if p.has_root_named(cn, org)}
        public.append(PublicClientCA(name, tuple(p for p in RootProgram if p in held), ca))
    return tuple(public)


def _unknown_reason(observation: Observation, parsed: Sequence[ParsedCert | UnparsedCert]) -> str:
    if observation.status is Status.NO_CERTIFICATE:
        return "the client presented no certificate"
    if observation.status is not Status.OK:
        return f"no certificate: {observation.status.value}"
    if not parsed:
        return "the server presented no certificate"
    return "the leaf certificate cannot be parsed"
