"""Rules about what the server asked for during the handshake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time

from scanner.core.rules._engine import ChainUnderTest, Hit, RuleContext, rule
from scanner.model import EffectKind, LinkEffect, Severity, Use


@rule("CLIENT_CERT_REQUESTED", Severity.INFO, "the server asks for a client certificate (lists CA names)")
def client_cert_requested(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The server sent a CertificateRequest: it is a mutual-TLS listener, such as an
    Expressway-E traversal server zone (7001 and up), SSH tunnels (2222) or a SIP port with
    TLS verify on. The CA names it sent are the issuers whose client certificates it accepts;
    an empty list means it names none (any CA it trusts).
    """
    if not chain.client_cert_requested:
        return ()
    names = "; ".join(chain.client_ca_names) if chain.client_ca_names else "no CA names sent"
    return (Hit(f"server requests a client certificate ({names})"),)


@rule(
    "PUBLIC_CLIENT_CA_TRUSTED",
    Severity.MEDIUM,
    "the server accepts client certificates from public CAs: peers will lose clientAuth",
    fix="Have the peers that dial in (Expressway-C, CUCM, federation partners) present certificates from a "
    "private CA that issues clientAuth, and trust that CA for client certificates instead of the public one.",
)
def public_client_ca_trusted(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The server's CertificateRequest names public CAs (roots in the public bundle, or CAs
    the policy file lists) as acceptable issuers of client certificates.

    Its mutual-TLS peers therefore authenticate with public certificates, and those lose
    clientAuth as they renew: every public CA stops issuing it by Chrome's 2027-03-15 rule,
    so by about 2027-09-30 no publicly trusted certificate can carry it. The listener keeps
    working only while its peers' current certificates last. ``breaks_on`` is that last day.
    """
    if not chain.client_cert_requested or not chain.public_client_ca_names:
        return ()
    last = ctx.policy.last_public_clientauth_day if ctx.policy else None
    until = f"; none can carry it after {last.isoformat()}" if last else ""
    breaks_on = datetime.combine(last, time(), UTC) if last else None
    return (
        Hit(
            f"accepts client certificates from public CAs ({'; '.join(chain.public_client_ca_names)}): "
            f"its peers' public certificates lose clientAuth as they renew{until}",
            breaks_on=breaks_on,
            details=tuple(("public_ca", name) for name in chain.public_client_ca_names),
            # The listener's server links are at risk: its peers' client certificates will fail.
            effect=LinkEffect(
                EffectKind.PUBLIC_CLIENT_CAS,
                frozenset({Use.SERVER}),
                "accepts client certificates from public CAs: peers lose clientAuth"
                + (f", all by {last.isoformat()}" if last else ""),
                breaks_on,
            ),
        ),
    )
