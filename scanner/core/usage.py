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

pyca/cryptography and Go differ on anyEKU for CA certificates; we follow OpenSSL, and a
differential test runs ``openssl verify -purpose`` on generated chains to keep it honest.
"""

from __future__ import annotations

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


def eku_allows(cert: CertFacts, use: Use) -> bool:
    """OpenSSL ``xku_reject`` negated: no EKU, or an EKU that names the usage."""
    return cert.eku is None or not ACCEPTED_EKU[use].isdisjoint(cert.eku)


def key_usage_allows(cert: CertFacts, use: Use) -> bool:
    return cert.key_usage is None or not ACCEPTED_KEY_USAGE[use].isdisjoint(cert.key_usage)


@dataclass(frozen=True, slots=True)
class Usability:
    """OpenSSL's purpose check for one usage over one certificate path."""

    use: Use
    leaf_eku_ok: bool
    leaf_key_usage_ok: bool
    blocking_cas: tuple[str, ...]  # subjects of CA certificates whose EKU lacks the usage

    @property
    def usable(self) -> bool:
        return self.leaf_eku_ok and self.leaf_key_usage_ok and not self.blocking_cas

    def reason(self) -> str:
        """One line saying why the chain cannot be used, or that it can."""
        want = "clientAuth" if self.use is Use.CLIENT else "serverAuth"
        if not self.leaf_eku_ok:
            return f"leaf EKU lacks {want}"
        if self.blocking_cas:
            return f"CA certificate {self.blocking_cas[0]} has an EKU without {want}"
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
    )
