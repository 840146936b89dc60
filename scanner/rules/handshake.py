"""Rules about what the server asked for during the handshake."""

from __future__ import annotations

from collections.abc import Sequence

from scanner.models import Severity
from scanner.rules._engine import ChainUnderTest, Hit, RuleContext, rule


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
