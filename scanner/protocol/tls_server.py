"""The sans-I/O TLS server of ``ekuscan listen``: asks every client for a certificate, accepts any.

A pyOpenSSL connection over memory BIOs, like ``tls.py``'s client.

``ServerHandshake`` is ``tls.ClientHandshake``'s mirror, driven the same way by the edge
(``scanner/edge/listener.py``): ``receive_data`` what the socket read (``b""`` at EOF),
``next_event``, send ``data_to_send`` after every call, wait for more while it answers
``NEED_DATA``. Nothing here blocks, sleeps, reads a clock or touches a socket.

The point is to see the certificate a peer really presents as a client, so the context
(``make_listen_context``) asks for one (VERIFY_PEER, never FAIL_IF_NO_PEER_CERT: a client
without one is an observation too) and its verify callback accepts every chain. OpenSSL
then completes the handshake with an untrusted, expired or serverAuth-only client
certificate: whether the peer's real servers would accept it is the rule engine's
judgement, afterwards. The CertificateRequest names no CA unless told to (``ca_names``),
so a client that picks its certificate by the CAs named presents what it has.

On the server side OpenSSL's peer chain (``get_peer_cert_chain``) leaves out the client's
leaf; ``facts`` puts it first, so ``chain_der`` is the chain as the client sent it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL, crypto

from scanner.protocol.tls import BANNER_BYTES, MAX_BIO_READ, SSL2_HEADER_FLAG, TLS_RECORD_CONTENT_TYPES
from scanner.protocol.tls_events import NEED_DATA, ApplicationData, ConnectionEnded, FailureKind, _NeedData
from scanner.protocol.tls_text import alert_text


class ListenContextError(ValueError):
    """The certificate, key or CA names cannot make a TLS server (the message is one line)."""


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """What one client's handshake revealed, whether or not it completed."""

    version: str | None
    cipher: str | None
    chain_der: tuple[bytes, ...]  # the client's certificates, leaf first, as it sent them


@dataclass(frozen=True, slots=True)
class ClientHandshakeDone:
    """The handshake completed; ``facts.chain_der`` is empty when the client sent no certificate."""

    facts: ClientFacts


@dataclass(frozen=True, slots=True)
class ClientHandshakeFailed:
    """The handshake ended without completing (final); ``facts`` holds what had arrived."""

    kind: FailureKind
    detail: str
    facts: ClientFacts
    banner: bytes = b""  # the first bytes of a peer that does not speak TLS


ServerEvent = _NeedData | ClientHandshakeDone | ClientHandshakeFailed | ApplicationData | ConnectionEnded


def _accept_any(conn: SSL.Connection, cert: crypto.X509, errnum: int, depth: int, ok: int) -> bool:
    # Every chain is accepted: untrusted, expired, the wrong purpose. Judging it is the engine's job.
    return True


def make_listen_context(
    certificate: x509.Certificate,
    key: PrivateKeyTypes,
    chain: Sequence[x509.Certificate] = (),
    ca_names: Sequence[x509.Certificate] = (),
) -> SSL.Context:
    """A server context that asks every client for a certificate and accepts any (or none)."""
    tls_context = SSL.Context(SSL.TLS_METHOD)
    try:
        tls_context.use_certificate(certificate)
        tls_context.use_privatekey(key)  # type: ignore[arg-type]
        tls_context.check_privatekey()
    except (SSL.Error, TypeError, ValueError) as exc:
        raise ListenContextError(
            f"the key does not match the certificate, or cannot serve TLS ({_error_text(exc)})"
        ) from None
    for extra in chain:
        tls_context.add_extra_chain_cert(extra)
    try:
        tls_context.set_min_proto_version(SSL.TLS1_VERSION)
    except SSL.Error:  # a build without old versions: take what it offers
        pass
    tls_context.set_cipher_list(b"ALL:@SECLEVEL=0")
    # No tickets (nothing to resume: each connection is one observation), no renegotiation
    # (a client may not start a second handshake on our time).
    tls_context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_NO_TICKET | SSL.OP_NO_RENEGOTIATION)
    tls_context.set_verify(SSL.VERIFY_PEER, _accept_any)
    for ca in ca_names:  # none: an empty list, and the client presents whatever it has
        tls_context.add_client_ca(ca)
    return tls_context


def _error_text(exc: Exception) -> str:
    return alert_text(exc) if isinstance(exc, SSL.Error) else str(exc)


class ServerHandshake:
    """The server side of one TLS connection, without I/O.

    ``next_event`` drives the handshake (``NEED_DATA``, then ``ClientHandshakeDone`` or the
    final ``ClientHandshakeFailed``) and, once it is done, reads (``ApplicationData``, or the
    final ``ConnectionEnded``); after a final event it must not be called again.
    """

    __slots__ = ("_conn", "_done", "_ended", "_eof", "_first_bytes")

    def __init__(self, tls_context: SSL.Context) -> None:
        self._conn = SSL.Connection(tls_context, None)
        self._conn.set_accept_state()
        self._done = False  # the handshake completed
        self._eof = False  # the peer's end of stream was fed
        self._ended = False  # a final event was returned
        self._first_bytes = b""

    def receive_data(self, data: bytes) -> None:
        """Feed what the socket read; ``b""`` means the peer closed (or reset) the connection."""
        if self._eof:
            return
        if not data:
            self._eof = True
            self._conn.bio_shutdown()
            return
        if len(self._first_bytes) < BANNER_BYTES:
            self._first_bytes += data[: BANNER_BYTES - len(self._first_bytes)]
        self._conn.bio_write(data)

    def data_to_send(self) -> bytes:
        chunks = []
        while True:
            try:
                chunks.append(self._conn.bio_read(MAX_BIO_READ))
            except SSL.WantReadError:
                return b"".join(chunks)

    def next_event(self) -> ServerEvent:
        if self._ended:
            raise RuntimeError("next_event() after a final event")
        if not self._done:
            return self._advance_handshake()
        return self._read()

    def _advance_handshake(self) -> ClientHandshakeDone | ClientHandshakeFailed | _NeedData:
        if self._first_bytes and not self._looks_like_tls():
            return self._fail(FailureKind.NOT_TLS, "the client did not speak TLS", self._first_bytes)
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            if self._eof:
                return self._fail_on_eof()
            return NEED_DATA
        except (SSL.ZeroReturnError, SSL.SysCallError):
            return self._fail_on_eof()
        except SSL.Error as exc:
            if self._eof and not self._first_bytes:
                return self._fail_on_eof()
            return self._fail(FailureKind.ALERT, alert_text(exc))
        self._done = True
        return ClientHandshakeDone(self.facts())

    def _looks_like_tls(self) -> bool:
        first = self._first_bytes[0]
        if first & SSL2_HEADER_FLAG:
            return True  # an SSLv2-style ClientHello: let OpenSSL judge it
        if first not in TLS_RECORD_CONTENT_TYPES:
            return False
        return len(self._first_bytes) < 2 or self._first_bytes[1] == 3

    def _fail_on_eof(self) -> ClientHandshakeFailed:
        if not self._first_bytes:
            return self._fail(FailureKind.EOF, "the client closed the connection without a ClientHello")
        return self._fail(FailureKind.EOF, "the client closed the connection during the handshake")

    def _fail(self, kind: FailureKind, detail: str, banner: bytes = b"") -> ClientHandshakeFailed:
        self._ended = True
        return ClientHandshakeFailed(kind, detail, self.facts(), banner)

    def _read(self) -> ApplicationData | ConnectionEnded | _NeedData:
        try:
            return ApplicationData(self._conn.recv(MAX_BIO_READ))
        except SSL.WantReadError:
            if not self._eof:
                return NEED_DATA
            ended = ConnectionEnded(None)
        except (SSL.ZeroReturnError, SSL.SysCallError):
            ended = ConnectionEnded(None)
        except SSL.Error as exc:
            ended = ConnectionEnded(alert_text(exc))
        self._ended = True
        return ended

    def send_application_data(self, data: bytes) -> None:
        """Encrypt ``data`` for the client (after ``ClientHandshakeDone``); flush with ``data_to_send``."""
        if not self._done:
            raise RuntimeError("send_application_data() before the handshake completed")
        self._conn.sendall(data)

    def close_notify(self) -> bool:
        """Queue our close_notify after a completed handshake; returns whether one was queued."""
        if not self._done:
            return False
        try:
            self._conn.shutdown()
        except SSL.Error:
            return False
        return True

    def facts(self) -> ClientFacts:
        leaf = self._conn.get_peer_certificate(as_cryptography=True)
        rest = self._conn.get_peer_cert_chain(as_cryptography=True) or []
        chain = [leaf] if leaf is not None else []
        # Some OpenSSL builds keep the leaf in the server's peer chain too: never list it twice.
        chain += [c for c in rest if leaf is None or c != leaf]
        version = self._conn.get_protocol_version_name()
        return ClientFacts(
            version=None if version == "Unknown" or not self._done else version,
            cipher=self._conn.get_cipher_name() if self._done else None,
            chain_der=tuple(c.public_bytes(Encoding.DER) for c in chain),
        )
