"""The preflight (``--client-cert``) in the analysis: the candidate judged offline, the observation on links.

The probe says what a server did with the candidate (``ClientAuthTest``); here that becomes
evidence: the alert's meaning from the policy's table, the candidate's prediction (OpenSSL's
purpose check for a client, and its validity, as ``inspect`` judges a client certificate),
and the ``observed`` value on the server links of the endpoint that asked for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from scanner.core.certs import parse_der
from scanner.core.completion import IntermediatePool, classify_completed
from scanner.core.policy import Policy
from scanner.core.trust import ProgramRoots, RootStore, facts_of
from scanner.core.usage import usability
from scanner.model import (
    CertFacts,
    ClientAuthOutcome,
    ClientAuthTest,
    LinkVerdict,
    ObservedClientAuth,
    Use,
    Verdict,
)

# Outcomes that are evidence about the certificate: the server asked, got it, and answered.
_EVIDENCE = (ClientAuthOutcome.ACCEPTED, ClientAuthOutcome.REJECTED)


@dataclass(frozen=True, slots=True)
class CandidatePrediction:
    """The candidate client certificate judged offline, once per run."""

    sha256: str  # of its leaf
    verdict: Verdict  # ok: a verifying OpenSSL server should take it for a client; breaks: it will not
    reason: str  # one line: why


def predict_candidate(
    chain_der: Sequence[bytes],
    roots: RootStore,
    intermediates: IntermediatePool,
    now: datetime,
    programs: Sequence[ProgramRoots] = (),
) -> CandidatePrediction | None:
    """Judge the candidate (leaf first) as a TLS client certificate: OpenSSL's purpose check over
    its path (EKU, keyUsage, nsCertType, CA certificates) and each certificate's validity at
    ``now``. Trust is not predicted: which CAs a server trusts, only the server knows."""
    if not chain_der:
        return None
    parsed = [parse_der(der) for der in chain_der]
    trust = classify_completed(parsed, roots, intermediates, now, programs)
    known = [*facts_of(parsed), *(added.facts for added in trust.added)]
    path = tuple(f for f in (known[i] for i in trust.path) if isinstance(f, CertFacts))
    leaf = known[0]
    if not path or not isinstance(leaf, CertFacts):
        return CandidatePrediction(leaf.sha256, Verdict.UNKNOWN, "the candidate certificate cannot be parsed")
    usable = usability(path, Use.CLIENT, trust.anchor_eku)
    if not usable.usable:
        return CandidatePrediction(leaf.sha256, Verdict.BREAKS, usable.reason())
    for cert in path:
        if cert.not_after < now:
            return CandidatePrediction(leaf.sha256, Verdict.BREAKS, f"{cert.subject} expired")
        if cert.not_before > now:
            return CandidatePrediction(leaf.sha256, Verdict.BREAKS, f"{cert.subject} is not yet valid")
    return CandidatePrediction(leaf.sha256, Verdict.OK, usable.reason())


def explain(test: ClientAuthTest, policy: Policy) -> ClientAuthTest:
    """The test with the policy's meaning of its alert; an alert the table does not know says so."""
    if test.alert is None or test.outcome is not ClientAuthOutcome.REJECTED:
        return test
    table = policy.client_cert_alerts
    meaning = table.meaning(test.alert) if table is not None else None
    if meaning is None:
        meaning = f"the server rejected the certificate with {test.alert}, an alert that names no reason"
    return replace(test, meaning=meaning)


def observe(
    links: Sequence[LinkVerdict], test: ClientAuthTest | None, prediction: CandidatePrediction | None
) -> tuple[LinkVerdict, ...]:
    """The endpoint's server links with what the server did with the candidate, beside its prediction.

    Only a server that asked, got the certificate and answered gives evidence; the links it
    serves on this port are the ones the certificate was tried on.
    """
    if test is None or prediction is None or test.outcome not in _EVIDENCE:
        return tuple(links)
    observed = ObservedClientAuth(test.outcome, test.alert, prediction.verdict)
    return tuple(replace(link, observed=observed) if link.uses is Use.SERVER else link for link in links)
