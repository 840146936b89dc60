"""A sans-I/O TLS client over pyOpenSSL memory BIOs: bytes in, bytes out, events.

Theory of operation
-------------------
``ClientHandshake`` owns one ``SSL.Connection(ctx, None)``; ``None`` makes pyOpenSSL use
memory BIOs, so OpenSSL never touches a socket. The driver (``net.py``) loops::

    event = hs.next_event()           # advance OpenSSL as far as the bytes we have allow
    send(hs.data_to_send())           # flush what OpenSSL wrote: our flight, or an alert
    if event is NEED_DATA: hs.receive_data(await recv())   # b"" means EOF (h11's rule)

The scanner accepts everything at the TLS layer (any protocol version the linked OpenSSL
offers, @SECLEVEL=0, no verification) and judges afterwards: trust and EKU are the rule
engine's job, and a chain that fails verification is exactly what we must report.

The hard part is keeping the chain when the server aborts because we sent no client
certificate (DESIGN.md section 3):

* TLS 1.2: the server's Certificate and CertificateRequest arrive before our (empty)
  Certificate; the server then sends a handshake_failure alert, so ``do_handshake`` raises.
  OpenSSL has already stored the peer chain and the CA names, and we read them anyway.
* TLS 1.3: our side of the handshake completes; the server's ``certificate_required`` alert
  (116) only shows on the first read. ``read_after_handshake`` performs that read.

Whether the server asked for a certificate is seen through the info callback (the state
"read server certificate request"), because a server may ask without naming any CA, and
then ``get_client_ca_list`` is empty.
"""

from __future__ import annotations

import enum
import weakref
from dataclasses import dataclass
from typing import Final

from OpenSSL import SSL, crypto

from scanner.core.certs import rfc4514_text

MAX_BIO_READ: Final = 65536
TLS_RECORD_CONTENT_TYPES: Final = frozenset({0x14, 0x15, 0x16, 0x17})  # ccs, alert, handshake, data
SSL2_HEADER_FLAG: Final = 0x80  # an SSLv2-style reply; still TLS-ish, let OpenSSL judge


class _NeedData(enum.Enum):
    NEED_DATA = "need-data"


NEED_DATA: Final = _NeedData.NEED_DATA


class FailureKind(enum.StrEnum):
    NOT_TLS = "not-tls"  # the first bytes from the server are not a TLS record
    EOF = "eof"  # the server closed before the handshake finished
    ALERT = "alert"  # the server sent an alert, or OpenSSL gave up on what it sent


@dataclass(frozen=True, slots=True)
class TLSFacts:
    """What the handshake revealed, whether or not it completed."""

    version: str | None
    cipher: str | None
    chain_der: tuple[bytes, ...]
    client_cert_requested: bool
    client_ca_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HandshakeDone:
    facts: TLSFacts


@dataclass(frozen=True, slots=True)
class HandshakeFailed:
    kind: FailureKind
    detail: str
    facts: TLSFacts  # may still hold the chain (TLS 1.2 abort after CertificateRequest)
    banner: bytes = b""  # the first bytes a non-TLS peer sent


HandshakeEvent = _NeedData | HandshakeDone | HandshakeFailed


@dataclass(frozen=True, slots=True)
class ApplicationData:
    data: bytes


@dataclass(frozen=True, slots=True)
class ConnectionEnded:
    alert: str | None  # the alert text, or None for a clean close / EOF


ReadEvent = _NeedData | ApplicationData | ConnectionEnded


def _info_callback(conn: SSL.Connection, where: int, ret: int) -> None:
    # Called by OpenSSL at each state change. We only look for the moment the client reads
    # a CertificateRequest; anything cheaper (a message callback) pyOpenSSL does not expose.
    if where & SSL.SSL_CB_LOOP and b"certificate request" in conn.get_state_string():
        ref = conn.get_app_data()
        owner = ref() if isinstance(ref, weakref.ref) else None
        if isinstance(owner, ClientHandshake):
            owner.cert_requested = True


def make_client_context() -> SSL.Context:
    """A context that completes a handshake with anything that speaks TLS."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE)
    try:
        ctx.set_min_proto_version(SSL.TLS1_VERSION)
    except SSL.Error:  # a build without old versions: take what it offers
        pass
    ctx.set_cipher_list(b"ALL:@SECLEVEL=0")
    # Old servers without secure renegotiation (RFC 5746) must still show their certificate.
    ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_LEGACY_SERVER_CONNECT | SSL.OP_NO_TICKET)
    ctx.set_info_callback(_info_callback)
    return ctx


def _name_text(components: list[tuple[bytes, bytes]]) -> str:
    # RFC 4514 order: most specific first, the reverse of the DER sequence.
    return rfc4514_text(
        (k.decode("ascii", "replace"), v.decode("utf-8", "replace")) for k, v in reversed(components)
    )


def alert_text(exc: SSL.Error) -> str:
    """A one-line description of an OpenSSL error (the alert the peer sent, usually)."""
    items = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    parts = [str(item[-1]) for item in items if isinstance(item, tuple) and item]
    return "; ".join(parts) or type(exc).__name__


class ClientHandshake:
    """The client side of one TLS connection, without I/O."""

    def __init__(self, ctx: SSL.Context, *, server_name: str | None) -> None:
        self._conn = SSL.Connection(ctx, None)
        # A weak reference: a strong one would make a cycle (connection -> us -> connection)
        # that only the cyclic garbage collector frees, so a sweep would pile up dead OpenSSL
        # connections, and their native buffers, between collections.
        self._conn.set_app_data(weakref.ref(self))
        if server_name:
            self._conn.set_tlsext_host_name(server_name.encode("idna"))
        self._conn.set_connect_state()
        self.cert_requested = False
        self._first_bytes = b""
        self._eof = False
        self._done = False

    # -- bytes in and out ---------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed the connection."""
        if not data:
            self._eof = True
            self._conn.bio_shutdown()
            return
        if len(self._first_bytes) < 64:
            self._first_bytes += data[: 64 - len(self._first_bytes)]
        self._conn.bio_write(data)

    def data_to_send(self) -> bytes:
        chunks = []
        while True:
            try:
                chunks.append(self._conn.bio_read(MAX_BIO_READ))
            except SSL.WantReadError:
                return b"".join(chunks)

    # -- the handshake --------------------------------------------------------------------
    def next_event(self) -> HandshakeEvent:
        if self._first_bytes and not self._looks_like_tls():
            return HandshakeFailed(
                FailureKind.NOT_TLS, "the server did not answer with TLS", self.facts(), self._first_bytes
            )
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            if self._eof:
                return self._failed_on_eof()
            return NEED_DATA
        except SSL.ZeroReturnError:
            return self._failed_on_eof()
        except SSL.SysCallError:
            return self._failed_on_eof()
        except SSL.Error as exc:
            if self._eof and not self._first_bytes:
                return self._failed_on_eof()
            return HandshakeFailed(FailureKind.ALERT, alert_text(exc), self.facts())
        self._done = True
        return HandshakeDone(self.facts())

    def _looks_like_tls(self) -> bool:
        first = self._first_bytes[0]
        if first & SSL2_HEADER_FLAG:
            return True
        return first in TLS_RECORD_CONTENT_TYPES and (len(self._first_bytes) < 2 or self._first_bytes[1] == 3)

    def _failed_on_eof(self) -> HandshakeFailed:
        if not self._first_bytes:
            detail = "the server closed the connection without answering the ClientHello"
        else:
            detail = "the server closed the connection during the handshake"
        return HandshakeFailed(FailureKind.EOF, detail, self.facts())

    def facts(self) -> TLSFacts:
        chain = self._conn.get_peer_cert_chain() or []
        names = self._conn.get_client_ca_list()
        version = self._conn.get_protocol_version_name()
        return TLSFacts(
            version=None if version == "Unknown" else version,
            cipher=self._conn.get_cipher_name(),
            chain_der=tuple(crypto.dump_certificate(crypto.FILETYPE_ASN1, c) for c in chain),
            client_cert_requested=self.cert_requested or bool(names),
            client_ca_names=tuple(_name_text(n.get_components()) for n in names),
        )

    # -- after the handshake: one request, one bounded answer ------------------------------
    def send_application_data(self, data: bytes) -> None:
        """Encrypt ``data``; collect the records with ``data_to_send``."""
        self._conn.sendall(data)

    def close_notify(self) -> bool:
        """Queue our close_notify alert after a completed handshake; returns whether one was queued."""
        if not self._done:
            return False
        try:
            self._conn.shutdown()
        except SSL.Error:
            return False  # the connection already failed: nothing polite left to say
        return True

    def read_after_handshake(self) -> ReadEvent:
        """Decrypt what has arrived: data, an alert or close, or NEED_DATA."""
        try:
            return ApplicationData(self._conn.recv(MAX_BIO_READ))
        except SSL.WantReadError:
            return ConnectionEnded(None) if self._eof else NEED_DATA
        except SSL.ZeroReturnError:
            return ConnectionEnded(None)
        except SSL.SysCallError:
            return ConnectionEnded(None)
        except SSL.Error as exc:
            return ConnectionEnded(alert_text(exc))
