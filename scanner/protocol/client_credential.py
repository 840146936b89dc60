"""The candidate client certificate of ``--client-cert``: its chain and key in memory, loaded into a context.

The key travels as PEM bytes in memory only (to worker processes inside the pickled job, over
a pipe); it is never part of a repr, a log line, an output or the history store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from OpenSSL import SSL, crypto

from scanner.core.certs import sha256_hex


@dataclass(frozen=True, slots=True)
class ClientCredential:
    """A checked certificate, its chain and its (unencrypted) private key."""

    certificate_der: bytes  # the leaf presented
    chain_der: tuple[bytes, ...] = ()  # --client-chain, sent after the leaf, in file order
    key_pem: bytes = field(default=b"", repr=False)  # PKCS#8, never printed

    @property
    def sha256(self) -> str:
        """The leaf's SHA-256, upper-case hex like every certificate's ``sha256`` in the JSON."""
        return sha256_hex(self.certificate_der)

    @property
    def presented(self) -> tuple[bytes, ...]:
        """What the server receives, leaf first: the candidate as ``inspect`` would judge it."""
        return (self.certificate_der, *self.chain_der)


def load_credential(tls_context: SSL.Context, credential: ClientCredential) -> None:
    """Make ``tls_context`` present the credential to every server that asks for a certificate.

    Raises SSL.Error when the key does not belong to the certificate (the app checks that
    first, with a clear message).
    """
    tls_context.use_certificate(crypto.load_certificate(crypto.FILETYPE_ASN1, credential.certificate_der))
    for der in credential.chain_der:
        tls_context.add_extra_chain_cert(crypto.load_certificate(crypto.FILETYPE_ASN1, der))
    tls_context.use_privatekey(crypto.load_privatekey(crypto.FILETYPE_PEM, credential.key_pem))
    tls_context.check_privatekey()
