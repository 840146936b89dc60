"""OpenSSL purpose rules beyond the EKU: the Netscape certificate type, and what makes a CA a CA."""

from __future__ import annotations

from collections.abc import Sequence

from scanner.core.rules._engine import ChainUnderTest, Hit, RuleContext, rule
from scanner.core.usage import (
    ACCEPTED_NS_CERT_TYPE,
    CaRefusal,
    ca_positions,
    ca_refusal,
    not_a_ca_because,
    ns_cert_type_allows,
)
from scanner.model import CertFacts, Severity, Use

NONE: Sequence[Hit] = ()

_NS_FIX = (
    "Reissue the certificate without the legacy nsCertType extension, or with both of its SSL bits "
    "(OpenSSL configuration `nsCertType = client, server`; in Easy-RSA 3 leave EASYRSA_NS_SUPPORT off)."
)


def _ns_text(cert: CertFacts) -> str:
    return ", ".join(cert.ns_cert_type or ()) or "(no bits set)"


def _leaf_ns_hits(chain: ChainUnderTest, ctx: RuleContext, use: Use) -> Sequence[Hit]:
    leaf = chain.leaf
    if leaf is None or use not in ctx.uses or ns_cert_type_allows(leaf, use):
        return NONE
    want = ACCEPTED_NS_CERT_TYPE[use]
    return (Hit(f"leaf nsCertType is {_ns_text(leaf)}: no {want}", leaf.sha256),)


@rule(
    "NS_CERT_TYPE_NO_CLIENT",
    Severity.HIGH,
    "leaf has a Netscape certificate type without SSL client: OpenSSL rejects client use",
    fix=_NS_FIX,
)
def ns_cert_type_no_client(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The leaf carries the legacy Netscape certificate type (nsCertType) without the SSL client bit.

    OpenSSL still honours nsCertType (2.16.840.1.113730.1.1): a leaf that has it must set the
    SSL client bit to be accepted as a client certificate, whatever its EKU says (``ns_reject``
    in crypto/x509/v3_purp.c; ``openssl verify -purpose sslclient`` fails with error 26).
    Legacy private CAs write it: Easy-RSA 2's server profile sets ``nsCertType = server``, as
    do many old OpenSSL configurations, so an Expressway certificate from such a CA works as
    a server and fails on every link where the host dials out with mutual TLS.
    """
    return _leaf_ns_hits(chain, ctx, Use.CLIENT)


@rule(
    "NS_CERT_TYPE_NO_SERVER",
    Severity.HIGH,
    "leaf has a Netscape certificate type without SSL server: OpenSSL rejects server use",
    fix=_NS_FIX,
)
def ns_cert_type_no_server(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The leaf carries the legacy Netscape certificate type (nsCertType) without the SSL server bit.

    OpenSSL's sslserver purpose (what a TLS client built on OpenSSL checks) rejects such a
    leaf, whatever its EKU says (``ns_reject``; error 26). Typical of a client certificate
    from a legacy private CA (``nsCertType = client``) installed as a server certificate.
    """
    return _leaf_ns_hits(chain, ctx, Use.SERVER)


@rule(
    "NS_CERT_TYPE_MALFORMED",
    Severity.HIGH,
    "a certificate of the chain has an nsCertType that cannot be decoded: OpenSSL rejects it",
    fix="Reissue the certificate; its CA writes a broken Netscape certificate type extension.",
)
def ns_cert_type_malformed(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """A certificate of the path has a Netscape certificate type whose value is not a valid BIT STRING.

    OpenSSL decodes nsCertType while it caches a certificate's extensions; when that fails,
    it marks the whole certificate invalid, and no verification that involves it succeeds,
    for any purpose (``openssl verify`` cannot even find the issuer: error 20). Both client
    and server use fail. ekuscan decodes the value itself and names the defect. One kind of
    value is judged more strictly than OpenSSL: the BER-only encodings DER forbids
    (constructed or high-tag-number BIT STRINGs), which OpenSSL's BER decoder still reads and
    no CA writes.
    """
    return tuple(
        Hit(f"{cert.subject}: {cert.ns_cert_type_error}", cert.sha256)
        for cert in chain.path
        if cert.ns_cert_type_error is not None
    )


@rule(
    "CHAIN_NS_CERT_TYPE_NO_SSL_CA",
    Severity.HIGH,
    "the root has no basicConstraints and its Netscape CA type lacks SSL CA: OpenSSL rejects TLS use",
    fix="Reissue the root with basicConstraints CA:TRUE and keyUsage keyCertSign, cRLSign (then "
    "nsCertType no longer counts), and reissue what it signed.",
)
def chain_ns_cert_type_no_ssl_ca(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """The root at the top of the path is a CA only by its Netscape certificate type, which lacks SSL CA.

    Without basicConstraints and keyUsage, OpenSSL takes a certificate for a CA when its
    nsCertType names a CA type (SSL CA, S/MIME CA or object-signing CA), and for the TLS
    purposes it then requires the SSL CA bit (``check_ca`` and ``check_ssl_ca`` in
    crypto/x509/v3_purp.c): a root that is only an S/MIME or object-signing CA fails both
    client and server use (error 26). A root with basicConstraints is judged by those alone.
    """
    return tuple(
        Hit(
            f"root {ca.subject} has no basicConstraints; its nsCertType is {_ns_text(ca)}: no sslCA",
            ca.sha256,
        )
        for ca, top in ca_positions(chain.path)
        if ca_refusal(ca, top) is CaRefusal.NO_SSL_CA
    )


@rule(
    "CHAIN_NOT_A_CA",
    Severity.HIGH,
    "a CA certificate of the chain is not a CA certificate to OpenSSL: the chain is rejected",
    fix="Reissue the CA certificate with basicConstraints CA:TRUE and keyUsage keyCertSign, cRLSign, "
    "and reissue what it signed.",
)
def chain_not_a_ca(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """A certificate that signs the chain is not accepted as a CA certificate by OpenSSL.

    OpenSSL's ``check_ca`` wants basicConstraints CA:TRUE, and a keyUsage, where present, with
    keyCertSign. Without basicConstraints it tolerates only the root at the top of the path
    (a self-signed v1 certificate, a keyUsage with keyCertSign, or a Netscape CA type); since
    OpenSSL 3.0 every intermediate needs basicConstraints CA:TRUE (``check_extensions`` in
    crypto/x509/x509_vfy.c: error 79, invalid CA certificate; OpenSSL 1.1.1 judged
    intermediates like the root). Every link fails, client and server, whatever the EKUs say.
    """
    hits = []
    for ca, top in ca_positions(chain.path):
        refusal = ca_refusal(ca, top)
        if refusal is CaRefusal.NOT_A_CA:
            hits.append(Hit(f"CA certificate {ca.subject} is not a CA: {not_a_ca_because(ca)}", ca.sha256))
        elif refusal is CaRefusal.INTERMEDIATE_NOT_CA:
            hits.append(Hit(f"intermediate {ca.subject} has no basicConstraints CA:TRUE", ca.sha256))
    return hits
