"""Rules about the preflight (``scan --client-cert``): what a server did with the candidate certificate."""

from __future__ import annotations

from collections.abc import Sequence

from scanner.core.rules._engine import ChainUnderTest, Hit, RuleContext, rule
from scanner.model import ClientAuthOutcome, ObservedClientAuth, Severity, Verdict


@rule(
    "CLIENT_AUTH_OBSERVATION_CONTRADICTS",
    Severity.HIGH,
    "the server did otherwise with the candidate client certificate than ekuscan predicted",
    fix="Believe the server: it is what the link will do. Rejected: read the alert's meaning and fix that "
    "(a certificate from the CA the server trusts, with clientAuth) before installing the candidate. "
    "Accepted though predicted to break: this server does not check what the prediction checks (a server "
    "that asks but does not verify, EKU checking off), so this link keeps working; its other peers may not.",
)
def client_auth_observation_contradicts(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """``--client-cert`` presented a candidate certificate to this server, and the answer
    contradicts the candidate's offline judgement (OpenSSL's purpose check for a TLS client and
    the validity dates, as ``inspect`` judges a client certificate): the server rejected a
    certificate predicted to work, or accepted one predicted to break.

    An observation outweighs a prediction: the server's trust store, its clock and its own
    checks (or their absence) are what the link will meet. The message gives the alert and
    what it says, and nothing it does not say.
    """
    test, candidate = chain.client_auth_test, chain.candidate
    if (
        test is None
        or candidate is None
        or test.outcome not in (ClientAuthOutcome.ACCEPTED, ClientAuthOutcome.REJECTED)
    ):
        return ()
    observed = ObservedClientAuth(test.outcome, test.alert, candidate.verdict)
    if not observed.contradicts:
        return ()
    if test.outcome is ClientAuthOutcome.REJECTED:
        message = (
            f"predicted to work as a client certificate ({candidate.reason}), the candidate was "
            f"rejected ({test.alert or 'no alert'}): {test.meaning}"
        )
    else:
        message = (
            f"predicted to break as a client certificate ({candidate.reason}), the candidate was accepted: "
            "this server does not enforce that check"
        )
    details: tuple[tuple[str, str], ...] = (
        ("certificate", test.certificate),
        ("outcome", test.outcome.value),
        ("predicted", candidate.verdict.value),
    )
    if test.alert:
        details += (("alert", test.alert),)
    return (Hit(message, cert_sha256=test.certificate, details=details),)


@rule(
    "CLIENT_CERT_REJECTED",
    Severity.MEDIUM,
    "the server rejected the candidate client certificate (--client-cert)",
    fix="Do not install the candidate for links to this server until it is accepted: the alert says what "
    "the server refused (purpose, issuer, dates).",
)
def client_cert_rejected(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """``--client-cert`` presented a candidate certificate and the server ended the handshake
    with an alert: a link from a peer presenting this certificate fails against this server.
    The alert is reported with what it says (the policy's ``client_cert_alerts`` table, from
    how a verifying OpenSSL server chooses it); ekuscan does not guess beyond it.
    """
    test = chain.client_auth_test
    if test is None or test.outcome is not ClientAuthOutcome.REJECTED:
        return ()
    alert = test.alert or "an alert"
    predicted = chain.candidate.verdict if chain.candidate is not None else Verdict.UNKNOWN
    return (
        Hit(
            f"rejected the candidate client certificate with {alert}: {test.meaning}",
            cert_sha256=test.certificate,
            details=(("certificate", test.certificate), ("alert", alert), ("predicted", predicted.value)),
        ),
    )
