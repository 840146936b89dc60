"""EKU rules: can the chain be used as a TLS client and server certificate (OpenSSL semantics)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from scanner.core.certs import CLIENT_AUTH
from scanner.core.policy import Cutoff
from scanner.core.rules._engine import ChainUnderTest, Hit, RuleContext, day, rule
from scanner.core.usage import ACCEPTED_EKU, eku_allows
from scanner.model import CertFacts, EffectKind, LinkEffect, Severity, TrustBasis, TrustClass, Use

NONE: Sequence[Hit] = ()


def _eku_text(eku: tuple[str, ...] | None) -> str:
    return ", ".join(eku) if eku else "(empty)"


@rule(
    "EKU_NO_CLIENTAUTH",
    Severity.HIGH,
    "leaf has an EKU extension without clientAuth: client use fails",
    fix="Issue the certificate from a private CA (or a non-browser public hierarchy) with serverAuth and "
    "clientAuth; on X15.5 and later, put such a certificate in the client certificate store.",
)
def eku_no_clientauth(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The leaf certificate has an extendedKeyUsage extension that does not list clientAuth.

    Expressway uses one certificate as both its TLS server and TLS client certificate
    (before X15.5). On every link where it dials out with mutual TLS (traversal zone C to E,
    SSH tunnels on 2222, SIP TLS to CUCM, B2B federation, Webex hybrid, cluster) the peer's
    OpenSSL rejects a client certificate whose EKU lacks clientAuth. Public CAs stopped putting
    clientAuth in TLS certificates during 2025-2026, so a renewal silently produces this.
    Not applicable to hosts whose role never presents the certificate as a client.
    """
    leaf = chain.leaf
    if leaf is None or Use.CLIENT not in ctx.uses or eku_allows(leaf, Use.CLIENT):
        return NONE
    return (Hit(f"leaf EKU is {_eku_text(leaf.eku)}: no clientAuth", leaf.sha256),)


@rule(
    "EKU_NO_SERVERAUTH",
    Severity.HIGH,
    "leaf has an EKU extension without serverAuth: server use fails",
    fix="Issue a certificate whose EKU lists serverAuth (and clientAuth where the host also dials out).",
)
def eku_no_serverauth(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The leaf certificate has an extendedKeyUsage extension that does not list serverAuth.

    Every TLS client that checks purposes (OpenSSL's sslserver purpose, browsers, Expressway
    traversal clients) rejects such a certificate as a server certificate. Microsoft and
    Netscape Server Gated Crypto EKUs count as serverAuth, as in OpenSSL.
    """
    leaf = chain.leaf
    if leaf is None or Use.SERVER not in ctx.uses or eku_allows(leaf, Use.SERVER):
        return NONE
    return (Hit(f"leaf EKU is {_eku_text(leaf.eku)}: no serverAuth", leaf.sha256),)


@rule("EKU_ABSENT", Severity.INFO, "leaf has no EKU extension: any use allowed")
def eku_absent(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The leaf certificate has no extendedKeyUsage extension.

    OpenSSL, Go and pyca/cryptography all accept such a certificate for both client and
    server use, so it does not break mutual TLS. Public CAs no longer issue leaves without an
    EKU; this is typical of private CAs and self-signed certificates.
    """
    leaf = chain.leaf
    if leaf is None or leaf.eku is not None:
        return NONE
    return (Hit("leaf has no extendedKeyUsage extension: usable as client and server", leaf.sha256),)


def _chain_hits(chain: ChainUnderTest, use: Use, want: str) -> Sequence[Hit]:
    hits = [
        Hit(f"CA certificate {ca.subject} has EKU {_eku_text(ca.eku)}: no {want}", ca.sha256)
        for ca in chain.path[1:]
        if not eku_allows(ca, use)
    ]
    anchor_eku = chain.trust.anchor_eku
    if anchor_eku is not None and ACCEPTED_EKU[use].isdisjoint(anchor_eku):
        # The public root that completes the path was not sent, but OpenSSL checks its EKU too.
        hits.append(Hit(f"public root {chain.trust.anchor} has EKU {_eku_text(anchor_eku)}: no {want}"))
    return tuple(hits)


@rule(
    "CHAIN_EKU_NO_CLIENTAUTH",
    Severity.HIGH,
    "a CA certificate in the chain has an EKU without clientAuth (OpenSSL rejects client use)",
    fix="Use a chain whose intermediates allow clientAuth (or have no EKU), such as a private CA; "
    "a new leaf with clientAuth under the same intermediate does not help.",
)
def chain_eku_no_clientauth(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """An intermediate (or presented root) has an extendedKeyUsage extension without clientAuth.

    OpenSSL checks the purpose on every certificate of the path, not only the leaf, and it
    does not accept anyExtendedKeyUsage in place of clientAuth. A chain through such a CA,
    for example Let's Encrypt's Gen-Y intermediates YR1-YR3 and YE1-YE3 (serverAuth only),
    is unusable for client authentication even when the leaf lists clientAuth.
    """
    if chain.leaf is None or Use.CLIENT not in ctx.uses:
        return NONE
    return _chain_hits(chain, Use.CLIENT, CLIENT_AUTH)


@rule(
    "CHAIN_EKU_NO_SERVERAUTH",
    Severity.HIGH,
    "a CA certificate in the chain has an EKU without serverAuth",
    fix="Use a chain whose intermediates allow serverAuth (or have no EKU).",
)
def chain_eku_no_serverauth(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """An intermediate (or presented root) has an extendedKeyUsage extension without serverAuth.

    OpenSSL's sslserver purpose check fails on that CA certificate, so TLS clients reject the
    server chain. Typical of a client-authentication-only hierarchy used for a server.
    """
    if chain.leaf is None or Use.SERVER not in ctx.uses:
        return NONE
    return _chain_hits(chain, Use.SERVER, "serverAuth")


@rule(
    "KEY_USAGE_MISMATCH",
    Severity.HIGH,
    "leaf keyUsage does not allow the TLS use (OpenSSL rejects it)",
    fix="Issue the certificate with keyUsage digitalSignature (plus keyEncipherment for RSA).",
)
def key_usage_mismatch(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The leaf has a keyUsage extension that excludes what the TLS handshake needs.

    OpenSSL requires digitalSignature or keyAgreement for a client certificate, and one of
    digitalSignature, keyEncipherment or keyAgreement for a server certificate.
    """
    hits = []
    for usab in (chain.client, chain.server):
        if usab is not None and usab.use in ctx.uses and not usab.leaf_key_usage_ok and chain.leaf:
            names = ", ".join(chain.leaf.key_usage or ())
            hits.append(Hit(f"keyUsage {names} does not allow TLS {usab.use.value} use", chain.leaf.sha256))
    return hits


@rule(
    "CLIENTAUTH_SUNSET",
    Severity.MEDIUM,
    "public-CA certificate that still carries clientAuth: its replacement will not",
    fix="Before breaks_on, move the host's client certificate to a private CA (or a non-browser public "
    "hierarchy with clientAuth, FN74362 workaround 1), or upgrade C and E to X15.5 and put such a "
    "certificate in the separate client store. Renewing from the same public CA before its cut-off only "
    "buys one more certificate lifetime (200 days at most from 2026-03-15).",
)
def clientauth_sunset(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """A publicly trusted leaf that still works as a client certificate; its renewal will not.

    Chrome's Root Program requires leaves issued from 2027-03-15 under the roots of Chrome's
    store to assert serverAuth only, and most public CAs stopped including clientAuth earlier
    (Let's Encrypt 2026-02-11, Google Trust Services 2026-04-13, Sectigo and Certum 2026-05-15,
    GoDaddy and Actalis 2026-06-15, DigiCert 2027-03-01; the policy file lists them with
    sources). The mutual-TLS links that use this certificate as a client keep working until it
    is replaced, then break silently. The message names the issuing CA and its cut-off
    (matched by issuer organisation and intermediate name, Chrome's date where the CA
    published none); ``breaks_on`` is the leaf's notAfter, the latest day the replacement can
    wait, and the day the client links break if the replacement comes from a public CA after
    the cut-off.

    Chrome's date binds only Chrome-bound hierarchies: a root in the Chrome Root Store (the
    policy file's list) or in the ``--public-roots`` bundle. Under a root that only Mozilla's
    store holds (such as IdenTrust Public Sector Root CA 1), the CA's own published cut-off
    still applies, uncapped; a CA with none gets CLIENTAUTH_OUTSIDE_CHROME instead.
    """
    leaf = _public_client_leaf(chain, ctx)
    if leaf is None:
        return NONE
    chrome_bound = chain.trust.chrome_bound
    cutoff = (
        ctx.policy.cutoff_for(leaf.issuer_organization, leaf.issuer_common_name, chrome_bound=chrome_bound)
        if ctx.policy
        else None
    )
    if cutoff is None and not chrome_bound:
        return NONE  # no date binds this hierarchy: CLIENTAUTH_OUTSIDE_CHROME says what is known
    if chain.trust.basis is TrustBasis.INFERRED:
        return tuple(_inferred(hit) for hit in _sunset_hits(chain, ctx, leaf, cutoff))
    return _sunset_hits(chain, ctx, leaf, cutoff)


def _inferred(hit: Hit) -> Hit:
    """The same finding, saying that "public" rests on the leaf's SCTs, not on a verified chain."""
    return replace(
        hit,
        message=f"{hit.message} (public on evidence: the leaf's embedded CT SCTs; its issuer could not "
        "be had to verify the chain)",
        details=(*hit.details, ("trust_basis", TrustBasis.INFERRED.value)),
    )


def _sunset_hits(
    chain: ChainUnderTest, ctx: RuleContext, leaf: CertFacts, cutoff: Cutoff | None
) -> Sequence[Hit]:
    chrome_bound = chain.trust.chrome_bound
    if cutoff is None:
        issuer = leaf.issuer_organization or leaf.issuer
        return (
            Hit(
                f"public certificate from {issuer} carries clientAuth; its replacement will not: "
                f"client links break when it expires on {day(leaf.not_after)}",
                leaf.sha256,
                breaks_on=leaf.not_after,
                effect=_sunset_effect(leaf, chain.path, "its replacement will not"),
            ),
        )
    outside = (
        "" if chrome_bound else "; its root is outside Chrome's root store, so only the CA's own date applies"
    )
    return (
        Hit(
            _sunset_message(leaf.not_after, cutoff, ctx) + outside,
            leaf.sha256,
            breaks_on=leaf.not_after,
            effect=_sunset_effect(leaf, chain.path, f"renewals from {cutoff.day.isoformat()} will not"),
            details=(
                ("ca", cutoff.ca),
                ("clientauth_cutoff", cutoff.day.isoformat()),
                ("cutoff_source", cutoff.source),
                ("cutoff_is_chrome_backstop", "true" if cutoff.backstop else "false"),
                ("root_programs", _programs(chain)),
                ("chrome_bound", "true" if chrome_bound else "false"),
            ),
        ),
    )


@rule(
    "CLIENTAUTH_OUTSIDE_CHROME",
    Severity.LOW,
    "public certificate with clientAuth under a root outside Chrome's store: no Chrome deadline applies",
    fix="Before renewing, confirm with the CA that the renewal still carries clientAuth (and that its "
    "intermediates allow it), or move the client certificate to a private CA; the peers that verify it must "
    "keep trusting its root, which browsers' stores may not hold.",
)
def clientauth_outside_chrome(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """A publicly trusted leaf that works as a client certificate, under a root that Mozilla's
    store holds but Chrome's does not, from a CA that published no clientAuth cut-off.

    Chrome's Root Program, whose policy removes clientAuth from public TLS certificates, does
    not bind such a hierarchy: IdenTrust Public Sector Root CA 1, for example, is in Mozilla's
    store (certifi) but not in Chrome Root Store v21, and it is the hierarchy behind FN74362's
    workaround 1 (combined-EKU certificates from a root that browsers may not trust). No
    Chrome date applies and no CA date is known, so nothing says its renewal will lack
    clientAuth: the links are not put at risk. What is not known is said instead: the CA may
    still stop including clientAuth or change the hierarchy. A CA with its own published
    cut-off gets CLIENTAUTH_SUNSET with that date, whatever its root's program.
    """
    leaf = _public_client_leaf(chain, ctx)
    if leaf is None or chain.trust.chrome_bound:
        return NONE
    org, cn = leaf.issuer_organization, leaf.issuer_common_name
    if ctx.policy is not None and ctx.policy.cutoff_for(org, cn, chrome_bound=False) is not None:
        return NONE  # the CA's own date applies: CLIENTAUTH_SUNSET
    ca = ctx.policy.public_ca(org, cn) if ctx.policy else None
    who = ca.name if ca is not None else org or leaf.issuer
    backstop = ctx.policy.backstop if ctx.policy else None
    rule_day = f" {backstop.day.isoformat()}" if backstop else ""
    return (
        Hit(
            f"public certificate from {who} carries clientAuth under {chain.trust.anchor} (root programs: "
            f"{_programs(chain)}), a root Chrome's store does not hold: Chrome's{rule_day} clientAuth rule "
            f"does not bind it and {who} published no cut-off, so a renewal may keep clientAuth; confirm "
            f"with the CA before it expires on {day(leaf.not_after)}",
            leaf.sha256,
            details=(("ca", who), ("root_programs", _programs(chain)), ("chrome_bound", "false")),
        ),
    )


def _public_client_leaf(chain: ChainUnderTest, ctx: RuleContext) -> CertFacts | None:
    """The leaf, where it is public, valid now and usable as this host's client certificate."""
    leaf = chain.leaf
    if (
        leaf is None
        or Use.CLIENT not in ctx.uses
        or chain.trust.trust is not TrustClass.PUBLIC
        or chain.client is None
        or not chain.client.usable
        or leaf.not_after < ctx.now
    ):
        return None
    return leaf


def _programs(chain: ChainUnderTest) -> str:
    return ", ".join(p.value for p in chain.trust.root_programs) or "unknown"


def _sunset_effect(leaf: CertFacts, path: Sequence[CertFacts], replacement: str) -> LinkEffect:
    # The client links last until the leaf is replaced, or until a CA certificate of the path
    # expires, if one does so first: the link's date is the earliest notAfter of the path.
    return LinkEffect(
        EffectKind.CLIENTAUTH_SUNSET,
        frozenset({Use.CLIENT}),
        f"public certificate carries clientAuth until {day(leaf.not_after)}; {replacement}",
        min(c.not_after for c in path),
    )


def _sunset_message(not_after: datetime, cutoff: Cutoff, ctx: RuleContext) -> str:
    whose = "Chrome's rule for the CAs of its root store" if cutoff.backstop else "its own announcement"
    today = ctx.now.date()
    if today >= cutoff.day:
        when = (
            f"{cutoff.ca} stopped including clientAuth in certificates issued from {cutoff.day} ({whose}): "
            "any renewal from it lacks clientAuth"
        )
    else:
        longest = ctx.policy.max_validity_days(today) if ctx.policy else None
        when = (
            f"{cutoff.ca} stops including clientAuth in certificates issued from {cutoff.day} ({whose})"
            + (f"; a renewal before then still has it, for at most {longest} days" if longest else "")
        )
    return (
        f"{when}. Client links break when this certificate is replaced, at the latest on "
        f"{day(not_after)}, unless the client certificate moves to a private CA (or X15.5's client store)"
    )
