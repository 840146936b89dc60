"""The rule engine: what a rule is, what it sees, and how findings come out (pure).

A rule is an immutable value: a stable code, a default severity, a one-line summary, and a
pure check function whose docstring is the rule's documentation (shown by ``ekuscan
rules``; written once, here). The ``@rule`` decorator *builds* the value and registers
nothing; ``registry.py`` lists every rule once, in report order.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from scanner.core.candidate import CandidatePrediction
from scanner.core.peers import ClientCARequest, ClientChain
from scanner.core.policy import Policy, PublicCA
from scanner.core.usage import Usability
from scanner.model import (
    CHROME_BOUND_PROGRAMS,
    CertFacts,
    ClientAuthTest,
    Finding,
    Fingerprint,
    LinkEffect,
    LinkTarget,
    Role,
    RootProgram,
    Severity,
    TrustResult,
    UnparsedCert,
    Use,
    Version,
)

ENGINE_ERROR = "ENGINE_ERROR"
EVERY_USE: frozenset[Use] = frozenset(Use)  # an effect on the links of both sides


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule may know besides the chain: time and the host's use of its certificate."""

    now: datetime  # aware UTC, injected; no rule reads the clock
    warn: timedelta  # the expiry warning window (--warn-days)
    role: Role
    uses: frozenset[Use]  # how the role uses its certificate (from the policy's link table)
    policy: Policy | None = None  # dates, CA cut-offs, release table
    software: Fingerprint | None = None  # the host's product and release, where a banner said
    expressway_version: Version | None = None  # set only for Expressway hosts with a known release
    separate_client_store: bool = False  # X15.5+: the server certificate is not the client one


@dataclass(frozen=True, slots=True)
class PublicClientCA:
    """A CA name of the server's CertificateRequest that denotes a public CA."""

    name: str  # as the server sent it (RFC 4514)
    root_programs: tuple[RootProgram, ...]  # the programs holding a root of that name; (): not a root
    ca: PublicCA | None  # the policy's CA table entry it matches, if any

    @property
    def chrome_bound(self) -> bool:
        """A root is bound where Chrome's store (or the user's bundle) holds it; an issuing CA
        where the policy does not place its CA outside Chrome's store."""
        if self.root_programs:
            return not CHROME_BOUND_PROGRAMS.isdisjoint(self.root_programs)
        return self.ca is None or self.ca.chrome_bound


@dataclass(frozen=True, slots=True)
class ChainUnderTest:
    """The presented chain with everything derived from it once, before any rule runs."""

    presented: tuple[CertFacts | UnparsedCert, ...]  # as sent, leaf first
    path: tuple[CertFacts, ...]  # leaf and the presented CA certificates that link to it
    trust: TrustResult
    client: Usability | None  # None when there is no parsable leaf
    server: Usability | None
    hostname: str | None = None  # the DNS name we expected (SNI), for name checks
    client_cert_requested: bool = False
    client_ca_names: tuple[str, ...] = ()
    public_client_cas: tuple[PublicClientCA, ...] = ()  # those of client_ca_names that are public CAs
    # --client-cert: what the server did with the candidate (its alert explained), and the
    # candidate judged offline as a client certificate; None: no preflight.
    client_auth_test: ClientAuthTest | None = None
    candidate: CandidatePrediction | None = None

    @property
    def leaf(self) -> CertFacts | None:
        return self.path[0] if self.path else None

    @property
    def public_client_ca_names(self) -> tuple[str, ...]:
        return tuple(ca.name for ca in self.public_client_cas)


@dataclass(frozen=True, slots=True)
class Hit:
    """One thing a rule found; the engine turns it into a Finding.

    ``effect`` is the rule's decision about the links that use the certificate: the link
    verdicts come from it, so a rule can reword its message or details freely.
    """

    message: str
    cert_sha256: str | None = None
    severity: Severity | None = None  # None: the rule's default
    breaks_on: datetime | None = None
    details: tuple[tuple[str, str], ...] = ()
    effect: LinkEffect | None = None
    targets: tuple[LinkTarget, ...] = ()  # estate rules: the host links ``effect`` acts on


CheckFn = Callable[[ChainUnderTest, RuleContext], Sequence[Hit]]  # a rule about one endpoint's chain


@dataclass(frozen=True, slots=True)
class HostIdentity:
    """What an estate rule may know about one host of the inventory."""

    host: str
    role: Role
    software: Fingerprint | None
    label: str  # the CSV label, which groups hosts (a C/E pair, a cluster)
    # The two ends of paired links (core/peers.py): the chains it presents as a client of a
    # link whose server end the policy names, and what its server ends of such links asked.
    client_chains: tuple[ClientChain, ...] = ()
    ca_requests: tuple[ClientCARequest, ...] = ()


EstateCheckFn = Callable[[Sequence[HostIdentity]], Sequence[Hit]]  # a rule about several hosts together


@dataclass(frozen=True, slots=True)
class SightingFacts:
    """What a sighting rule may know about an observation taken from the history store (``report``)."""

    scanner: str  # the scanner whose run saw the endpoint
    seen_at: datetime  # when that run started
    now: datetime  # the clock's time (not --at: staleness is about real time)
    max_age: timedelta  # --max-age
    vanished: bool  # absent from that scanner's latest complete run
    latest_run_at: datetime | None  # that scanner's latest complete run, where there is one
    rejudged: bool  # False: only the verdict recorded then is known (no stored evidence)


SightingCheckFn = Callable[[SightingFacts], Sequence[Hit]]  # a rule about where the evidence came from
CheckT = TypeVar("CheckT", CheckFn, EstateCheckFn, SightingCheckFn)


@dataclass(frozen=True, slots=True)
class BaseRule(Generic[CheckT]):
    code: str  # stable, never renamed or reused (DESIGN.md section 8)
    severity: Severity
    summary: str
    check: CheckT = field(repr=False)
    fix: str = ""

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.check) or ""


Rule = BaseRule[CheckFn]  # judges one endpoint's chain
EstateRule = BaseRule[EstateCheckFn]  # judges what only the whole inventory shows
SightingRule = BaseRule[SightingCheckFn]  # judges how old and how complete a stored observation is


def rule(code: str, severity: Severity, summary: str, fix: str = "") -> Callable[[CheckFn], Rule]:
    def build(check: CheckFn) -> Rule:
        return BaseRule(code=code, severity=severity, summary=summary, check=check, fix=fix)

    return build


def estate_rule(
    code: str, severity: Severity, summary: str, fix: str = ""
) -> Callable[[EstateCheckFn], EstateRule]:
    def build(check: EstateCheckFn) -> EstateRule:
        return BaseRule(code=code, severity=severity, summary=summary, check=check, fix=fix)

    return build


def sighting_rule(
    code: str, severity: Severity, summary: str, fix: str = ""
) -> Callable[[SightingCheckFn], SightingRule]:
    def build(check: SightingCheckFn) -> SightingRule:
        return BaseRule(code=code, severity=severity, summary=summary, check=check, fix=fix)

    return build


def evaluate(chain: ChainUnderTest, ctx: RuleContext, rules: Sequence[Rule]) -> tuple[Finding, ...]:
    """Run every rule in order; a rule that raises becomes an ENGINE_ERROR finding."""
    return tuple(f for r in rules for f in _findings(r, functools.partial(r.check, chain, ctx)))


def evaluate_estate(hosts: Sequence[HostIdentity], rules: Sequence[EstateRule]) -> tuple[Finding, ...]:
    return tuple(f for r in rules for f in _findings(r, functools.partial(r.check, hosts)))


def evaluate_sighting(facts: SightingFacts, rules: Sequence[SightingRule]) -> tuple[Finding, ...]:
    return tuple(f for r in rules for f in _findings(r, functools.partial(r.check, facts)))


def _findings(r: Rule | EstateRule | SightingRule, check: Callable[[], Sequence[Hit]]) -> list[Finding]:
    try:
        hits = check()
    except Exception as exc:  # a bug in one rule must not hide the others' findings
        return [Finding(ENGINE_ERROR, Severity.HIGH, f"rule {r.code} failed: {exc!r}")]
    return [
        Finding(
            r.code,
            h.severity or r.severity,
            h.message,
            h.cert_sha256,
            h.breaks_on,
            h.details,
            h.effect,
            h.targets,
        )
        for h in hits
    ]


def day(value: datetime) -> str:
    """A date for messages: 2027-03-15."""
    return value.date().isoformat()
