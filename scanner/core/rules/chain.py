"""Chain-shape, name and crypto-strength rules."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from scanner.core.rules._engine import ChainUnderTest, Hit, RuleContext, rule
from scanner.model import (
    AddedCertificate,
    CertFacts,
    ChainSource,
    Severity,
    TrustBasis,
    TrustClass,
    UnparsedCert,
)

MIN_RSA_BITS = 2048
MIN_EC_BITS = 224
WEAK_HASHES = frozenset({"md5", "sha1", "md2", "md4"})


@rule(
    "CERT_UNPARSEABLE",
    Severity.HIGH,
    "a presented certificate could not be parsed",
    fix="Re-issue the certificate; strict TLS stacks reject what cryptography cannot parse.",
)
def cert_unparseable(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """A certificate the server sent (or a file held) is not valid DER X.509, or one of its
    extensions is malformed. Nothing else can be judged about it; if it is the leaf, the
    endpoint's links are ``unknown``.
    """
    return tuple(
        Hit(f"certificate #{i} cannot be parsed: {c.error}", c.sha256)
        for i, c in enumerate(chain.presented)
        if isinstance(c, UnparsedCert)
    )


@rule(
    "SELF_SIGNED",
    Severity.MEDIUM,
    "the leaf is self-signed",
    fix="Issue the certificate from a CA the peers trust (a private CA for internal links).",
)
def self_signed(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The leaf certificate is its own issuer. Peers trust it only if it was copied into their
    trust store by hand, which breaks at every renewal; mutual-TLS zones with TLS verify on
    fail otherwise.
    """
    leaf = chain.leaf
    if leaf is None or chain.trust.trust is not TrustClass.SELF_SIGNED:
        return ()
    return (Hit(f"leaf {leaf.subject} is self-signed", leaf.sha256),)


@rule(
    "CHAIN_INCOMPLETE",
    Severity.MEDIUM,
    "the presented chain does not link the leaf to a root",
    fix="Configure the server to send the intermediate certificates (leaf first, then each issuer).",
)
def chain_incomplete(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The certificates the server sent do not link from the leaf up to a root in the public
    bundle or a self-signed root it also sent. Peers that do not already hold the missing
    intermediate fail to build a path. For private CAs that is normal only when every peer
    has the private intermediate installed.

    ekuscan completes such a chain before judging it: from the packaged public intermediates
    (Mozilla's preloading list), then ``--intermediates PEM``, then, with ``--fetch-issuers``,
    the issuer the certificate names in its AIA extension; each added certificate must verify
    by signature, and its own EKU counts as if the server had sent it. The finding stays, and
    says what completed the chain, because some peers do not complete chains. Where no issuer
    can be had but the leaf carries embedded Certificate Transparency SCTs, it was publicly
    issued (private CAs do not log to CT): it is judged public, the anchor inferred, not
    verified (``trust_basis: inferred``).
    """
    trust = chain.trust
    if chain.leaf is None or trust.trust is TrustClass.SELF_SIGNED:
        return ()
    if trust.complete and trust.basis is TrustBasis.PRESENTED:
        return ()
    sent = len(chain.presented)
    last = next(
        c for c in (chain.presented[i] for i in reversed(trust.path) if i < sent) if isinstance(c, CertFacts)
    )
    start = f"chain ends at {last.subject}; its issuer {last.issuer} was "
    if trust.basis is TrustBasis.COMPLETED:
        added = "; ".join(f"{a.facts.subject} ({_source_text(a)})" for a in trust.added)
        return (
            Hit(
                f"{start}not sent. The chain was completed with {added}; peers that do not complete "
                "chains themselves cannot build a path",
                last.sha256,
                details=(
                    ("trust_basis", trust.basis.value),
                    ("completed_with", ",".join(a.facts.sha256 for a in trust.added)),
                    ("sources", ",".join(a.source.value for a in trust.added)),
                ),
            ),
        )
    message = f"{start}neither sent nor found among the public roots"
    if trust.basis is TrustBasis.INFERRED:
        scts = f"{chain.leaf.sct_count} embedded CT SCT{'s' if chain.leaf.sct_count != 1 else ''}"
        message += (
            f" or the known intermediates. The leaf carries {scts}, so it was publicly issued: "
            "judged public, the anchor inferred, not verified"
        )
        return (Hit(message, last.sha256, details=(("trust_basis", trust.basis.value),)),)
    if last.ca_issuers:
        message += f"; its certificate is published at {last.ca_issuers[0]}"
    return (Hit(message, last.sha256),)


def _source_text(added: AddedCertificate) -> str:
    if added.source is ChainSource.PACKAGED:
        return "packaged public intermediates"
    if added.source is ChainSource.USER:
        return "--intermediates"
    return f"fetched from {added.url}"


def _name_matches(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        # RFC 6125: the wildcard covers exactly one left-most label.
        head, _, rest = name.partition(".")
        return bool(head) and rest == pattern[2:]
    return pattern == name


def hostname_matches(san_dns: Sequence[str], san_ip: Sequence[str], name: str) -> bool:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return any(_name_matches(p, name) for p in san_dns)
    return any(ipaddress.ip_address(a) == address for a in san_ip)


@rule(
    "HOSTNAME_MISMATCH",
    Severity.MEDIUM,
    "the leaf's subjectAltName does not cover the name we connected to",
    fix="Issue the certificate with the host's DNS name (for clusters, every peer's FQDN and the "
    "cluster name) in subjectAltName.",
)
def hostname_mismatch(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The DNS name of the target (or the CSV's sni) is not in the leaf's subjectAltName.

    Only checked for DNS names: an IP target says nothing about the expected name. Traversal
    zones with "TLS verify" check the peer's name, so a mismatch breaks them.
    """
    leaf = chain.leaf
    if leaf is None or not chain.hostname:
        return ()
    if hostname_matches(leaf.san_dns, leaf.san_ip, chain.hostname):
        return ()
    names = ", ".join(leaf.san) or "no subjectAltName"
    return (Hit(f"{chain.hostname} is not in the certificate's names ({names})", leaf.sha256),)


@rule(
    "WEAK_KEY",
    Severity.HIGH,
    "RSA or DSA key below 2048 bits, or an elliptic curve below 224 bits",
    fix="Re-key: RSA 2048 or more, or ECDSA P-256 or more.",
)
def weak_key(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """A certificate in the path has a key that current TLS stacks (and Expressway's own
    certificate checks) refuse: RSA or DSA under 2048 bits, or an EC key under 224 bits.
    """
    hits = []
    for c in chain.path:
        key = c.key
        if key is None:
            continue
        minimum = (
            MIN_RSA_BITS if key.algorithm in ("RSA", "DSA") else MIN_EC_BITS if key.algorithm == "EC" else 0
        )
        if key.bits < minimum:
            hits.append(Hit(f"{c.subject} has a {key.algorithm} {key.bits}-bit key", c.sha256))
    return hits


@rule(
    "WEAK_SIGNATURE",
    Severity.MEDIUM,
    "a certificate is signed with SHA-1 or MD5",
    fix="Re-issue with a SHA-256 (or stronger) signature.",
)
def weak_signature(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """A certificate in the path (other than a self-signed root, whose signature nobody checks)
    is signed with MD5 or SHA-1, which OpenSSL 3 at its default security level rejects.
    """
    return tuple(
        Hit(f"{c.subject} is signed with {c.signature_hash.upper()}", c.sha256)
        for i, c in enumerate(chain.path)
        if c.signature_hash in WEAK_HASHES and not (i > 0 and c.self_issued)
    )
