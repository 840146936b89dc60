"""The rule engine: what a rule is, what it sees, and how findings come out (pure).

A rule is an immutable value: a stable code, a default severity, a one-line summary, and a
pure check function whose docstring is the rule's documentation (shown by ``ekuscan
rules``; written once, here). The ``@rule`` decorator *builds* the value and registers
nothing; ``registry.py`` lists every rule once, in report order.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from scanner.eku import Usability
from scanner.models import CertFacts, Finding, Role, Severity, TrustResult, UnparsedCert, Use

ENGINE_ERROR = "ENGINE_ERROR"


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What a rule may know besides the chain: time and the host's use of its certificate."""

    now: datetime  # aware UTC, injected; no rule reads the clock
    warn: timedelta  # the expiry warning window (--warn-days)
    role: Role
    uses: frozenset[Use]  # how the role uses its certificate (from the policy's link table)


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

    @property
    def leaf(self) -> CertFacts | None:
        return self.path[0] if self.path else None


@dataclass(frozen=True, slots=True)
class Hit:
    """One thing a rule found; the engine turns it into a Finding."""

    message: str
    cert_sha256: str | None = None
    severity: Severity | None = None  # None: the rule's default


CheckFn = Callable[[ChainUnderTest, RuleContext], Sequence[Hit]]


@dataclass(frozen=True, slots=True)
class Rule:
    code: str  # stable, never renamed or reused (DESIGN.md section 8)
    severity: Severity
    summary: str
    check: CheckFn = field(repr=False)
    fix: str = ""

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.check) or ""


def rule(code: str, severity: Severity, summary: str, fix: str = "") -> Callable[[CheckFn], Rule]:
    def build(check: CheckFn) -> Rule:
        return Rule(code=code, severity=severity, summary=summary, check=check, fix=fix)

    return build


def evaluate(chain: ChainUnderTest, ctx: RuleContext, rules: Sequence[Rule]) -> tuple[Finding, ...]:
    """Run every rule in order; a rule that raises becomes an ENGINE_ERROR finding."""
    findings: list[Finding] = []
    for r in rules:
        try:
            hits = r.check(chain, ctx)
        except Exception as exc:  # a bug in one rule must not hide the others' findings
            findings.append(Finding(ENGINE_ERROR, Severity.HIGH, f"rule {r.code} failed: {exc!r}"))
            continue
        findings.extend(Finding(r.code, h.severity or r.severity, h.message, h.cert_sha256) for h in hits)
    return tuple(findings)


def day(value: datetime) -> str:
    """A date for messages: 2027-03-15."""
    return value.date().isoformat()
