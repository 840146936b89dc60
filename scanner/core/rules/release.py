"""Release rules: the Expressway release a host's banner shows, against field notice FN74362.

They fire only for Expressway hosts whose SIP banner named a release; the release table is
the policy file's ``expressway_releases`` section, not code.
"""

from __future__ import annotations

from collections.abc import Sequence

from scanner.core.rules._engine import ChainUnderTest, Hit, RuleContext, rule
from scanner.model import EffectKind, LinkEffect, Severity, Use


def _affected_ranges(ctx: RuleContext) -> str:
    assert ctx.policy is not None
    return ctx.policy.releases.affected_text


@rule(
    "AFFECTED_RELEASE",
    Severity.HIGH,
    "the host runs an Expressway release affected by FN74362: one certificate for server and client",
    fix="Upgrade Expressway-C and -E together, to the same release: X15.5, or X15.4 at least (C and E "
    "must run the same release, so never upgrade one side alone); then give C a client certificate from a "
    "private CA with clientAuth.",
)
def affected_release(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The SIP banner shows an Expressway release that field notice FN74362 covers: every X14
    release and every X15 release before X15.4 (the notice lists X14.0.0-X14.3.7 and
    X15.0.0-X15.3.2 as examples; an unlisted maintenance release of those trains is affected
    too), or an older one past its end of support that works the same way. The ranges are the
    policy file's ``expressway_releases.affected``.

    On these releases one "Expressway certificate" is both the TLS server certificate and
    the client certificate of every mutual-TLS link the host dials (traversal zone, SSH
    tunnels, SIP to CUCM, B2B federation, Webex hybrid, cluster). A public renewal without
    clientAuth breaks those links, and the web interface refuses to load a certificate
    without clientAuth at all.
    """
    version, policy = ctx.expressway_version, ctx.policy
    if version is None or policy is None or not policy.releases.is_affected(version):
        return ()
    older = policy.releases.unsupported_before
    if older is not None and version < older:
        why = f"older than every release FN74362 covers ({_affected_ranges(ctx)}) and past its end of support"
    else:
        why = f"affected by FN74362 ({_affected_ranges(ctx)})"
    return (
        Hit(
            f"Expressway {version} is {why}: one certificate serves as server and client certificate",
            details=(("release", str(version)),),
        ),
    )


@rule(
    "FIXED_RELEASE",
    Severity.INFO,
    "the host runs an Expressway release with FN74362's fix (X15.4 or X15.5)",
)
def fixed_release(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The SIP banner shows a release that includes FN74362's fix.

    X15.4 lets Expressway-E hold a serverAuth-only certificate and stops checking clientAuth
    for ClusterDB and the MRA SIP SERVICE messages; Expressway-C still needs clientAuth.
    X15.5 keeps server and client certificates in separate stores. C and E must run the same
    release. The links ekuscan judges follow the release (the policy file's link table).
    """
    version, policy = ctx.expressway_version, ctx.policy
    if version is None or policy is None:
        return ()
    fixes = policy.releases.fixed_by(version)
    if not fixes:
        return ()
    return (
        Hit(
            f"Expressway {version} includes the fix of {fixes[-1].version}: {fixes[-1].summary}",
            details=(("release", str(version)), ("fixed_in", str(fixes[-1].version))),
        ),
    )


@rule(
    "SEPARATE_CLIENT_STORE",
    Severity.LOW,
    "X15.5 or later: the client certificate is in its own store, which a server-side scan cannot see",
    fix="On the host, check the client certificate store: the certificate there needs clientAuth, and a "
    "chain whose intermediates allow it (a private CA, for Expressway-C). X15.5 copies the server "
    "certificate into the client store on upgrade.",
)
def separate_client_store(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The host runs X15.5 or later, which keeps the TLS client certificate apart from the
    server certificate this scan sees.

    ekuscan therefore reports the client links as ``unknown`` instead of guessing. The
    upgrade copies the server certificate into the client store, so until someone replaces
    it the client certificate is often this very certificate: the message says what would
    happen in that case. SSH tunnels on 2222 check clientAuth on C's client certificate even
    with the X15.5 EKU checking mode Off.
    """
    if not ctx.separate_client_store:
        return ()
    if chain.client is None:
        outlook = ""
    elif chain.client.usable:
        outlook = "; if it still holds this certificate (X15.5 copies it there on upgrade), client links work"
    else:
        outlook = (
            "; if it still holds this certificate (X15.5 copies it there on upgrade), client links break: "
            + chain.client.reason()
        )
    return (
        Hit(
            f"Expressway {ctx.expressway_version} keeps its client certificate in a separate store that "
            f"this scan cannot see: client links are not judged{outlook}",
            # Whatever this certificate's state, it is not the one the client links present.
            effect=LinkEffect(
                EffectKind.UNJUDGED,
                frozenset({Use.CLIENT}),
                f"Expressway {ctx.expressway_version} keeps the client certificate in a separate store; "
                "a server-side scan cannot see it",
                None,
            ),
        ),
    )
