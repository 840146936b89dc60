"""Is a chain usable as a TLS client or server certificate? OpenSSL's answer (pure).

Expressway's TLS stack is OpenSSL, so its purpose checks are the ones that matter
(crypto/x509/v3_purp.c, domain.md Q5):

* ``xku_reject``: a certificate *with* an EKU extension must list the usage. The server
  usage also accepts Microsoft and Netscape Server Gated Crypto. ``anyExtendedKeyUsage`` is
  not in either mask, so a certificate whose only EKU is anyEKU is rejected, leaf or CA.
* the same EKU test runs on **every** certificate of the path, CA certificates included
  (``check_chain_purpose``), the trust anchor too unless it carries explicit trust
  settings, which a public root in a PEM bundle does not.
* the leaf's keyUsage, when present, must allow the handshake: digitalSignature or
  keyAgreement for a client; digitalSignature, keyEncipherment or keyAgreement for a server.
* a certificate without an EKU extension passes the EKU test for any usage.
* the leaf's Netscape certificate type (nsCertType), when present, must have the SSL client
  bit for a client, the SSL server bit for a server (``ns_reject``); legacy private CAs
  (older OpenSSL and easy-rsa profiles) still write it.
* every CA certificate of the path must be a CA to OpenSSL (``check_ca``, ``check_ssl_ca``;
  ``check_extensions`` in x509_vfy.c): a keyUsage without keyCertSign never is; an
  intermediate needs basicConstraints CA:TRUE (OpenSSL 3.0 makes this strict for
  intermediates); the root at the top may instead be a self-signed v1 certificate, carry a
  keyUsage with keyCertSign, or, with neither basicConstraints nor keyUsage, a Netscape CA
  type, which for TLS must then include the SSL CA bit.
* a certificate whose nsCertType cannot be decoded is invalid to OpenSSL, for any purpose.

pyca/cryptography and Go differ on anyEKU for CA certificates; we follow OpenSSL, and a
differential test runs ``openssl verify -purpose`` on generated chains to keep it honest.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from scanner.core.certs import CLIENT_AUTH, SERVER_AUTH
from scanner.model import CertFacts, EffectKind, LinkEffect, Use

# What satisfies each usage in the EKU extension (OpenSSL XKU_SSL_CLIENT / XKU_SSL_SERVER|XKU_SGC).
ACCEPTED_EKU: dict[Use, frozenset[str]] = {
    Use.CLIENT: frozenset({CLIENT_AUTH}),
    Use.SERVER: frozenset({SERVER_AUTH, "msSGC", "nsSGC"}),
}
# What the leaf's keyUsage must allow (OpenSSL ku_reject masks).
ACCEPTED_KEY_USAGE: dict[Use, frozenset[str]] = {
    Use.CLIENT: frozenset({"digitalSignature", "keyAgreement"}),
    Use.SERVER: frozenset({"digitalSignature", "keyEncipherment", "keyAgreement"}),
}


# What the leaf's nsCertType must name for each usage (OpenSSL NS_SSL_CLIENT / NS_SSL_SERVER).
ACCEPTED_NS_CERT_TYPE: dict[Use, str] = {Use.CLIENT: "sslClient", Use.SERVER: "sslServer"}
NS_SSL_CA = "sslCA"
NS_ANY_CA = frozenset({"sslCA", "smimeCA", "objectSigningCA"})


class CaBasis(enum.Enum):
    """Why OpenSSL takes a certificate for a CA certificate: ``check_ca``'s answers."""

    NOT_A_CA = 0
    BASIC_CONSTRAINTS = 1  # basicConstraints CA:TRUE
    V1_ROOT = 3  # no basicConstraints: a self-signed X.509 v1 certificate
    KEY_USAGE = 4  # no basicConstraints: a keyUsage with keyCertSign
    NETSCAPE = 5  # no basicConstraints, no keyUsage: an nsCertType with a CA bit


def ca_basis(cert: CertFacts) -> CaBasis:
    """OpenSSL ``check_ca``: is the certificate a CA certificate, and on what grounds."""
    if cert.key_usage is not None and "keyCertSign" not in cert.key_usage:
        return CaBasis.NOT_A_CA
    if cert.has_basic_constraints:
        return CaBasis.BASIC_CONSTRAINTS if cert.is_ca else CaBasis.NOT_A_CA
    if cert.version == 1 and cert.self_issued:
        return CaBasis.V1_ROOT
    if cert.key_usage is not None:
        return CaBasis.KEY_USAGE
    if cert.ns_cert_type is not None and not NS_ANY_CA.isdisjoint(cert.ns_cert_type):
        return CaBasis.NETSCAPE
    return CaBasis.NOT_A_CA


class CaRefusal(enum.Enum):
    """Why OpenSSL refuses a certificate as a CA certificate of a TLS path."""

    NOT_A_CA = "not a CA certificate"  # check_ca says 0: error 79 (invalid CA) or 32 (keyUsage)
    INTERMEDIATE_NOT_CA = "an intermediate without basicConstraints"  # OpenSSL 3: strict for intermediates
    NO_SSL_CA = "a Netscape CA type without sslCA"  # check_ssl_ca: error 26 (unsuitable purpose)


def ca_refusal(cert: CertFacts, top: bool) -> CaRefusal | None:
    """Why OpenSSL refuses ``cert`` as a CA certificate of a TLS path, or None.

    ``top``: the certificate is the root the path ends in. Any other CA certificate is an
    intermediate, for which OpenSSL 3 wants basicConstraints CA:TRUE and nothing less. The
    answer is the same for client and server use (``check_ssl_ca`` serves both).
    """
    basis = ca_basis(cert)
    if basis is CaBasis.NOT_A_CA:
        return CaRefusal.NOT_A_CA
    if not top and basis is not CaBasis.BASIC_CONSTRAINTS:
        return CaRefusal.INTERMEDIATE_NOT_CA
    if basis is CaBasis.NETSCAPE and NS_SSL_CA not in (cert.ns_cert_type or ()):
        return CaRefusal.NO_SSL_CA
    return None


def not_a_ca_because(cert: CertFacts) -> str:
    """The extension that keeps a certificate from being a CA to OpenSSL (``check_ca`` is 0)."""
    if cert.key_usage is not None and "keyCertSign" not in cert.key_usage:
        return f"its keyUsage ({', '.join(cert.key_usage)}) lacks keyCertSign"
    if cert.has_basic_constraints:
        return "its basicConstraints say CA:FALSE"
    return "it has no basicConstraints, no keyUsage and no Netscape CA type"


def eku_allows(cert: CertFacts, use: Use) -> bool:
    """OpenSSL ``xku_reject`` negated: no EKU, or an EKU that names the usage."""
    return cert.eku is None or not ACCEPTED_EKU[use].isdisjoint(cert.eku)


def key_usage_allows(cert: CertFacts, use: Use) -> bool:
    return cert.key_usage is None or not ACCEPTED_KEY_USAGE[use].isdisjoint(cert.key_usage)


def ns_cert_type_allows(cert: CertFacts, use: Use) -> bool:
    """OpenSSL ``ns_reject`` negated, for a leaf: no nsCertType, or one that names the usage."""
    return cert.ns_cert_type is None or ACCEPTED_NS_CERT_TYPE[use] in cert.ns_cert_type


@dataclass(frozen=True, slots=True)
class Usability:
    """OpenSSL's purpose check for one usage over one certificate path."""

    use: Use
    leaf_eku_ok: bool
    leaf_key_usage_ok: bool
    blocking_cas: tuple[str, ...]  # subjects of CA certificates whose EKU lacks the usage
    leaf_ns_cert_type_ok: bool = True
    rejected_cas: tuple[str, ...] = ()  # subjects of CA certificates OpenSSL does not take for a CA
    malformed: tuple[str, ...] = ()  # subjects of certificates whose nsCertType cannot be decoded

    @property
    def usable(self) -> bool:
        return (
            self.leaf_eku_ok
            and self.leaf_key_usage_ok
            and self.leaf_ns_cert_type_ok
            and not self.blocking_cas
            and not self.rejected_cas
            and not self.malformed
        )

    def reason(self) -> str:
        """One line saying why the chain cannot be used, or that it can."""
        want = "clientAuth" if self.use is Use.CLIENT else "serverAuth"
        if self.malformed:
            return f"certificate {self.malformed[0]} has an nsCertType that is not valid DER"
        if not self.leaf_eku_ok:
            return f"leaf EKU lacks {want}"
        if not self.leaf_ns_cert_type_ok:
            return f"leaf nsCertType lacks {ACCEPTED_NS_CERT_TYPE[self.use]}"
        if self.blocking_cas:
            return f"CA certificate {self.blocking_cas[0]} has an EKU without {want}"
        if self.rejected_cas:
            return f"CA certificate {self.rejected_cas[0]} is not a CA certificate to OpenSSL"
        if not self.leaf_key_usage_ok:
            return f"leaf keyUsage does not allow TLS {self.use.value} use"
        return f"chain usable for TLS {self.use.value} use"

    def effect(self, now: datetime) -> LinkEffect | None:
        """What this judgement does to the links of its use: they break now, or nothing.

        Taken from here rather than from the EKU and keyUsage findings: those rules run only
        for the uses the role's links name, while every link is judged (the generic
        ``tls-server`` link too), and one sentence covers leaf EKU, CA EKUs and keyUsage.
        """
        if self.usable:
            return None
        return LinkEffect(EffectKind.UNUSABLE, frozenset({self.use}), self.reason(), now)


def usability(path: Sequence[CertFacts], use: Use, anchor_eku: tuple[str, ...] | None = None) -> Usability:
    """Judge the certificate path (leaf first, then its CA certificates) for one usage.

    ``anchor_eku`` is the EKU of a public root that completes the path but was not sent by
    the server; ``None`` when there is none or it has no EKU extension.
    """
    if not path:
        raise ValueError("usability needs at least the leaf certificate")
    leaf, cas = path[0], path[1:]
    blocking = tuple(ca.subject for ca in cas if not eku_allows(ca, use))
    if anchor_eku is not None and ACCEPTED_EKU[use].isdisjoint(anchor_eku):
        blocking += ("(public root)",)
    return Usability(
        use=use,
        leaf_eku_ok=eku_allows(leaf, use),
        leaf_key_usage_ok=key_usage_allows(leaf, use),
        blocking_cas=blocking,
        leaf_ns_cert_type_ok=ns_cert_type_allows(leaf, use),
        rejected_cas=tuple(ca.subject for ca, top in ca_positions(path) if ca_refusal(ca, top)),
        malformed=tuple(c.subject for c in path if c.ns_cert_type_error is not None),
    )


def ca_positions(path: Sequence[CertFacts]) -> list[tuple[CertFacts, bool]]:
    """The CA certificates of the path, each with whether it is the root at the top.

    The last one is the root when it is self-issued; otherwise the path goes on beyond what
    was presented (a public root, or a private one the peer holds), and every CA certificate
    seen is an intermediate.
    """
    cas = list(path[1:])
    return [(ca, i == len(cas) - 1 and ca.self_issued) for i, ca in enumerate(cas)]
