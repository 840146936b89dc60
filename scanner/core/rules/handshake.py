"""Rules about what the server asked for during the handshake."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time

from scanner.core.policy import Policy
from scanner.core.rules._engine import ChainUnderTest, Hit, PublicClientCA, RuleContext, rule
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
    clientAuth as they renew: every CA under Chrome's roots stops issuing it by Chrome's
    2027-03-15 rule, so by about 2027-09-30 no certificate of a Chrome-bound hierarchy can
    carry it. The listener keeps working only while its peers' current certificates last.
    ``breaks_on`` is that last day.

    Chrome's deadline applies to the CAs of Chrome-bound hierarchies only: a root in the
    Chrome Root Store (the policy file's list) or in the ``--public-roots`` bundle, or an
    issuing CA the policy does not place outside Chrome's store. A root only Mozilla's store
    holds (such as IdenTrust Public Sector Root CA 1) counts here only where its CA published
    its own cut-off, with the last day that date allows; without one it is
    CLIENT_CA_OUTSIDE_CHROME's, and puts nothing at risk.
    """
    if not chain.client_cert_requested:
        return ()
    policy = ctx.policy
    bound = [(ca.name, _last_day(ca, policy)) for ca in chain.public_client_cas if _has_deadline(ca)]
    if not bound:
        return ()
    known = [last for _, last in bound if last is not None]
    last = max(known) if known else None
    names = [name for name, _ in bound]
    until = f"; none can carry it after {last.isoformat()}" if last else ""
    breaks_on = datetime.combine(last, time(), UTC) if last else None
    return (
        Hit(
            f"accepts client certificates from public CAs ({'; '.join(names)}): "
            f"its peers' public certificates lose clientAuth as they renew{until}",
            breaks_on=breaks_on,
            details=tuple(("public_ca", name) for name in names),
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


@rule(
    "CLIENT_CA_OUTSIDE_CHROME",
    Severity.LOW,
    "the server accepts client certificates from public CAs outside Chrome's store: no Chrome deadline",
    fix="Confirm with those CAs that their certificates keep clientAuth at renewal; peers with certificates "
    "from a private CA that issues clientAuth do not depend on it.",
)
def client_ca_outside_chrome(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The server's CertificateRequest names public CAs whose hierarchies sit outside
    Chrome's root store (a root only Mozilla's store holds, such as IdenTrust Public Sector
    Root CA 1, or an issuing CA the policy file places outside Chrome's store) and that
    published no clientAuth cut-off.

    Chrome's rule does not bind them, so the peers' certificates from these CAs may keep
    clientAuth when renewed (FN74362's workaround 1 relies on such a hierarchy). No date is
    known and the links are not put at risk; the CA may still stop including clientAuth.
    """
    if not chain.client_cert_requested:
        return ()
    names = [ca.name for ca in chain.public_client_cas if not _has_deadline(ca)]
    if not names:
        return ()
    return (
        Hit(
            f"accepts client certificates from public CAs outside Chrome's root store ({'; '.join(names)}): "
            "Chrome's clientAuth rule does not bind them and they published no cut-off, so peers' "
            "certificates from them may keep clientAuth",
            details=(("outside_chrome_cas", "; ".join(names)),),
        ),
    )


def _has_deadline(ca: PublicClientCA) -> bool:
    """A date ends clientAuth from this CA: Chrome's, or the CA's own."""
    return ca.chrome_bound or (ca.ca is not None and ca.ca.clientauth_cutoff is not None)


def _last_day(ca: PublicClientCA, policy: Policy | None) -> date | None:
    """The last day a certificate from this CA can carry clientAuth: Chrome's for a Chrome-bound
    CA, else the one its own cut-off allows."""
    if policy is None:
        return None
    if ca.chrome_bound:
        return policy.last_public_clientauth_day
    own = ca.ca.clientauth_cutoff if ca.ca is not None else None
    return policy.last_clientauth_day(own) if own is not None else None
