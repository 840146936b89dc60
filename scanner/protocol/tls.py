"""The sans-I/O TLS client: a pyOpenSSL connection over memory BIOs, driven by bytes and events.

Theory of operation
-------------------
``ClientHandshake`` owns one ``SSL.Connection(tls_context, None)``; ``None`` makes pyOpenSSL use
memory BIOs, so OpenSSL never touches a socket, and nothing here blocks, sleeps or reads a
clock. The probe session (``probe_session.py``) decides what to do with it, and a driver
(``scanner/edge/net.py``, ``scanner/edge/sessions.py``) owns the socket; together they loop,
h11-style::

    while True:
        event = hs.next_event()           # advance OpenSSL as far as the bytes we have allow
        send(hs.data_to_send())           # flush what OpenSSL wrote: our flight, or an alert
        if event is not NEED_DATA:
            break                         # HandshakeDone, HandshakeFailed, ApplicationData...
        hs.receive_data(await recv())     # b"" means EOF (h11's rule)

Once the handshake is done the driver encrypts one request (``send_application_data``, then
a flush) and reads the answer with the same method: ``next_event`` is the one method that
moves the connection forward, in every phase.

The scanner accepts everything at the TLS layer (any protocol version the linked OpenSSL
offers, @SECLEVEL=0, no verification) and judges afterwards: trust and EKU are the rule
engine's job, and a chain that fails verification is exactly what we must report.

The hard part is keeping the chain when the server aborts because we sent no client
certificate (DESIGN.md section 3):

* TLS 1.2: the server's Certificate and CertificateRequest arrive before our (empty)
  Certificate; the server then sends a handshake_failure alert, so ``do_handshake`` raises.
  OpenSSL has already stored the peer chain and the CA names, and we read them anyway:
  ``HandshakeFailed.facts`` carries them.
* TLS 1.3: our side of the handshake completes (``HandshakeDone``); the server's
  ``certificate_required`` alert (116) only shows on the first read, as ``ConnectionEnded``.

Whether the server asked for a certificate is seen through OpenSSL's certificate callback
(``tls_watch.py``), because a server may ask without naming any CA, and then
``get_client_ca_list`` is empty. From that request on, the info callback watches the
connection: it keeps the peer's first alert (with ``--client-cert``, the server's verdict on
our certificate) and sees a session ticket. Before it, nothing needs watching.

The state machine
-----------------
What a method may do depends on one ``TLSState`` value, and every transition is made in
this file, by the methods named below; nothing else changes it::

    state              call (and what it returned)              next state
    HANDSHAKING        next_event() -> NEED_DATA                HANDSHAKING
    HANDSHAKING        receive_data(b"")                        HANDSHAKING_EOF
    HANDSHAKING[_EOF]  next_event() -> HandshakeFailed          FAILED            (final)
    HANDSHAKING        next_event() -> HandshakeDone            ESTABLISHED
    HANDSHAKING_EOF    next_event() -> HandshakeDone            ESTABLISHED_EOF
    ESTABLISHED[_EOF]  next_event() -> ApplicationData          unchanged
    ESTABLISHED        next_event() -> NEED_DATA                ESTABLISHED
    ESTABLISHED        receive_data(b"")                        ESTABLISHED_EOF
    ESTABLISHED[_EOF]  next_event() -> ConnectionEnded          CLOSED            (final)
    ESTABLISHED[_EOF]  close_notify()                           CLOSED
    CLOSED             close_notify()                           CLOSED
    any other          close_notify() -> False                  unchanged

``receive_data`` with bytes, ``data_to_send`` and ``facts`` change nothing. The ``_EOF``
states exist because the peer's end of stream changes what the next call means: once it is
fed, ``next_event`` never answers NEED_DATA again (there is nothing more to wait for), and
during the handshake it is what tells "closed" apart from "sent garbage". Calling a method
in a state that does not allow it is a bug in the driver, never the peer's doing, and raises
``TLSStateError``; see ``ClientHandshake`` for which method runs where.
"""

from __future__ import annotations

import enum
import weakref
from typing import Final

from OpenSSL import SSL, crypto

from scanner.protocol.client_credential import ClientCredential, load_credential
from scanner.protocol.groups import prefer_classical_groups
from scanner.protocol.tls_events import (
    NEED_DATA,
    ApplicationData,
    ConnectionEnded,
    Event,
    FailureKind,
    HandshakeDone,
    HandshakeFailed,
    TLSFacts,
    _NeedData,
)
from scanner.protocol.tls_text import alert_text, name_text
from scanner.protocol.tls_watch import watch_requests

MAX_BIO_READ: Final = 65536
TLS_RECORD_CONTENT_TYPES: Final = frozenset({0x14, 0x15, 0x16, 0x17})  # ccs, alert, handshake, data
SSL2_HEADER_FLAG: Final = 0x80  # an SSLv2-style reply; still TLS-ish, let OpenSSL judge
BANNER_BYTES: Final = 64  # how much of a non-TLS peer's first answer is kept for the report
CLOSE_NOTIFY: Final = 0  # the alert that ends a connection politely: not a verdict on anything


class TLSState(enum.Enum):
    """Where one client connection stands; the table in the module docstring says how it moves."""

    HANDSHAKING = "handshaking"  # ClientHello out, the server's flights awaited
    HANDSHAKING_EOF = "handshaking-eof"  # the peer closed mid-handshake: the next event is final
    ESTABLISHED = "established"  # handshake done: application data both ways
    ESTABLISHED_EOF = "established-eof"  # the peer closed: what OpenSSL holds, then the end
    FAILED = "failed"  # HandshakeFailed was returned; facts() and data_to_send() still answer
    CLOSED = "closed"  # ConnectionEnded was returned, or our close_notify is queued


# The members as module constants, for the checks on every call: in Python 3.11 reading
# ``TLSState.X`` goes through the enum metaclass (about 0.1 µs), a global read costs a fifth.
_HANDSHAKING: Final = TLSState.HANDSHAKING
_HANDSHAKING_EOF: Final = TLSState.HANDSHAKING_EOF
_ESTABLISHED: Final = TLSState.ESTABLISHED
_ESTABLISHED_EOF: Final = TLSState.ESTABLISHED_EOF
_FAILED: Final = TLSState.FAILED
_CLOSED: Final = TLSState.CLOSED


class TLSStateError(RuntimeError):
    """A ``ClientHandshake`` method was called in a state that does not allow it (a driver bug)."""


def _refused(method: str, state: TLSState, needs: str) -> TLSStateError:
    return TLSStateError(f"{method}() needs {needs}; the connection is {state.value}")


_ENDED_AT_EOF: Final = ConnectionEnded(None)


def _owner(conn: SSL.Connection) -> ClientHandshake | None:
    ref = conn.get_app_data()
    owner = ref() if isinstance(ref, weakref.ref) else None
    return owner if isinstance(owner, ClientHandshake) else None


def _certificate_requested(conn: SSL.Connection) -> None:
    # tls_watch: the server sent a CertificateRequest (OpenSSL is preparing our Certificate).
    owner = _owner(conn)
    if owner is not None:
        owner._cert_requested = True


def _info_callback(conn: SSL.Connection, where: int, ret: int) -> None:
    # Called by OpenSSL at each state change (from the certificate request on, see tls_watch).
    # It notes the CertificateRequest, a session ticket after the handshake (a TLS 1.3 server
    # sends one once it took our Finished and certificate) and the peer's first alert (``ret``
    # is level << 8 | code); pyOpenSSL has no message callback.
    alert = where & SSL.SSL_CB_READ_ALERT == SSL.SSL_CB_READ_ALERT and ret & 0xFF != CLOSE_NOTIFY
    state = b"" if alert or not where & SSL.SSL_CB_LOOP else conn.get_state_string()
    if not (alert or b"certificate request" in state or b"session ticket" in state):
        return
    owner = _owner(conn)
    if owner is None:
        return
    if alert:
        owner._alert = ret & 0xFF if owner._alert is None else owner._alert
    elif b"certificate request" in state:
        owner._cert_requested = True
    else:
        owner._ticket = True


def make_client_context(credential: ClientCredential | None = None) -> SSL.Context:
    """A context that completes a handshake with anything that speaks TLS, presenting ``credential``."""
    tls_context = SSL.Context(SSL.TLS_METHOD)
    if credential is not None:
        load_credential(tls_context, credential)
    tls_context.set_verify(SSL.VERIFY_NONE)
    try:
        tls_context.set_min_proto_version(SSL.TLS1_VERSION)
    except SSL.Error:  # a build without old versions: take what it offers
        pass
    tls_context.set_cipher_list(b"ALL:@SECLEVEL=0")
    # Old servers without secure renegotiation (RFC 5746) must still show their certificate.
    tls_context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_LEGACY_SERVER_CONNECT | SSL.OP_NO_TICKET)
    # A connection's 16 KiB read and write buffers go back while it waits (most of a probe's
    # life): a sweep has hundreds in flight per process (issue 14: the peak RSS of a process
    # at 1,000 endpoints was 55 MiB or, when nginx answered slowly, 62-67; now 55-58).
    tls_context.set_mode(SSL.MODE_RELEASE_BUFFERS)
    if not watch_requests(tls_context, _certificate_requested, _info_callback):
        tls_context.set_info_callback(_info_callback)  # the same facts, at every state change
    prefer_classical_groups(tls_context)  # issue 14: one small key share, X25519 (groups.py)
    return tls_context


class ClientHandshake:
    """The client side of one TLS connection, without I/O.

    Which method runs in which state (any other call raises ``TLSStateError``):

    * ``next_event()``: HANDSHAKING[_EOF] (drives the handshake) and ESTABLISHED[_EOF]
      (reads); not after a final event.
    * ``receive_data(data)``: HANDSHAKING and ESTABLISHED, that is until the peer's EOF.
    * ``send_application_data(data)``: ESTABLISHED[_EOF], after ``HandshakeDone``.
    * ``data_to_send()``, ``facts()``, ``state``: every state.
    * ``close_notify()``: every state; it queues an alert only once the handshake has
      completed, and says whether it did.
    """

    __slots__ = ("__weakref__", "_alert", "_cert_requested", "_conn", "_first_bytes", "_state", "_ticket")

    def __init__(self, tls_context: SSL.Context, *, server_name: str | None) -> None:
        self._conn = SSL.Connection(tls_context, None)
        # A weak reference: a strong one would make a cycle (connection -> us -> connection)
        # that only the cyclic garbage collector frees, so a sweep would pile up dead OpenSSL
        # connections, and their native buffers, between collections.
        self._conn.set_app_data(weakref.ref(self))
        if server_name:
            self._conn.set_tlsext_host_name(server_name.encode("idna"))
        self._conn.set_connect_state()
        self._state: TLSState = _HANDSHAKING
        self._cert_requested = False  # set by the callbacks above: an observation, not a state
        self._alert: int | None = None  # likewise: the first alert the peer sent
        self._ticket = False  # likewise: a session ticket came after the handshake
        self._first_bytes = b""  # the start of the peer's first answer, kept for NOT_TLS

    @property
    def state(self) -> TLSState:
        """Where the connection stands (read-only: only this class's methods move it)."""
        return self._state

    @property
    def ticket_received(self) -> bool:
        """A session ticket came after the handshake (the server took our Finished); any state."""
        return self._ticket

    # -- bytes in and out ---------------------------------------------------------------
    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the peer; ``b""`` means the peer closed the connection.

        Pass whatever the socket's read returned, as is: an empty read is EOF. Allowed until
        the EOF is fed, and not after a final event.
        """
        state = self._state
        if state is not _HANDSHAKING and state is not _ESTABLISHED:
            raise _refused("receive_data", state, "a connection still open for reading")
        if not data:
            self._conn.bio_shutdown()  # OpenSSL now reads EOF, not "retry", from an empty BIO
            if state is _HANDSHAKING:
                self._state = _HANDSHAKING_EOF
            else:
                self._state = _ESTABLISHED_EOF
            return
        if len(self._first_bytes) < BANNER_BYTES:
            self._first_bytes += data[: BANNER_BYTES - len(self._first_bytes)]
        self._conn.bio_write(data)

    def data_to_send(self) -> bytes:
        """The bytes OpenSSL has written for the peer since the last call, or ``b""``; any state."""
        chunks = []
        while True:
            try:
                chunks.append(self._conn.bio_read(MAX_BIO_READ))
            except SSL.WantReadError:
                return b"".join(chunks)

    # -- the one method that moves the connection forward -------------------------------
    def next_event(self) -> Event:
        """Advance the connection as far as the bytes received so far allow, and say what happened.

        It never blocks and never does I/O: it moves bytes between OpenSSL's memory BIOs and
        updates ``state``, nothing else. What it wrote for the peer waits in
        ``data_to_send()``. During the handshake, send that after every call and before
        waiting for more bytes, whatever the event: it is the ClientHello (first call), our
        next flight (the server waits for it), or the alert of a failing handshake. Once
        established, a read writes something only if the server starts something new (a
        TLS 1.2 renegotiation, a key update); whether to send it is the driver's choice.

        During the handshake (HANDSHAKING, HANDSHAKING_EOF) it returns one of:

        * ``NEED_DATA``: nothing more can happen until the peer sends more. Read from the
          socket, pass what arrived to ``receive_data`` (``b""`` at EOF), call again.
        * ``HandshakeDone``: the handshake completed (-> ESTABLISHED). ``facts`` holds the
          version, cipher, chain (as presented, leaf first) and the client-certificate
          request. Not final: call again to read what the server sends.
        * ``HandshakeFailed`` (-> FAILED, final): ``kind`` says whether the peer is not TLS
          (``banner`` holds its first bytes), closed, or sent an alert. ``facts`` still
          holds what arrived first: the chain and CA names of a server that aborted for want
          of a client certificate.

        Once established (ESTABLISHED, ESTABLISHED_EOF) it returns one of:

        * ``NEED_DATA``: as above.
        * ``ApplicationData``: decrypted bytes, as many as have arrived (never empty).
        * ``ConnectionEnded`` (-> CLOSED, final): the peer sent close_notify or an alert
          (TLS 1.3's certificate_required shows here, on the first read), or the stream
          ended. ``alert`` is OpenSSL's text for the error that ended it (usually the alert),
          None for a close_notify or an end of stream that OpenSSL does not call an error.

        EOF: once ``receive_data(b"")`` has been called, it never returns ``NEED_DATA``
        again. During the handshake the next event is final (or ``HandshakeDone``, if the
        bytes fed before the EOF complete it); after it, OpenSSL's buffered data comes out
        as ``ApplicationData``, then ``ConnectionEnded``.

        Nothing the peer sends makes it raise: garbage, truncation and alerts are events.
        It raises ``TLSStateError`` only after a final event (FAILED, CLOSED), when there is
        nothing left to happen; ``facts()`` still answers then.
        """
        state = self._state
        if state is _HANDSHAKING or state is _HANDSHAKING_EOF:
            return self._advance_handshake()
        if state is _ESTABLISHED or state is _ESTABLISHED_EOF:
            return self._read()
        raise _refused("next_event", state, "a connection that has not ended")

    def _advance_handshake(self) -> HandshakeDone | HandshakeFailed | _NeedData:
        if self._first_bytes and not self._looks_like_tls():
            return self._fail(
                FailureKind.NOT_TLS, "the server did not answer with TLS", banner=self._first_bytes
            )
        eof = self._state is _HANDSHAKING_EOF
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            # OpenSSL wants more bytes. After the EOF there will be none (and OpenSSL, told by
            # bio_shutdown, should have said so itself): the server closed mid-handshake.
            return self._fail_on_eof() if eof else NEED_DATA
        except (SSL.ZeroReturnError, SSL.SysCallError):
            return self._fail_on_eof()
        except SSL.Error as exc:
            # OpenSSL 3 reports a bare EOF as an error of its own ("unexpected eof while
            # reading"), not a SysCallError: a server that said nothing at all just closed.
            if eof and not self._first_bytes:
                return self._fail_on_eof()
            return self._fail(FailureKind.ALERT, alert_text(exc))
        self._state = _ESTABLISHED_EOF if eof else _ESTABLISHED
        return HandshakeDone(self.facts())

    def _looks_like_tls(self) -> bool:
        first = self._first_bytes[0]
        if first & SSL2_HEADER_FLAG:
            return True
        return first in TLS_RECORD_CONTENT_TYPES and (len(self._first_bytes) < 2 or self._first_bytes[1] == 3)

    def _fail_on_eof(self) -> HandshakeFailed:
        if not self._first_bytes:
            detail = "the server closed the connection without answering the ClientHello"
        else:
            detail = "the server closed the connection during the handshake"
        return self._fail(FailureKind.EOF, detail)

    def _fail(self, kind: FailureKind, detail: str, banner: bytes = b"") -> HandshakeFailed:
        self._state = _FAILED
        return HandshakeFailed(kind, detail, self.facts(), banner)

    def _read(self) -> ApplicationData | ConnectionEnded | _NeedData:
        try:
            return ApplicationData(self._conn.recv(MAX_BIO_READ))
        except SSL.WantReadError:
            if self._state is _ESTABLISHED:
                return NEED_DATA
            # After the EOF there is nothing to wait for. (OpenSSL, told by bio_shutdown, reports
            # the EOF itself; this line is what makes "never NEED_DATA after EOF" a guarantee.)
            ended = _ENDED_AT_EOF
        except (SSL.ZeroReturnError, SSL.SysCallError):
            ended = _ENDED_AT_EOF  # close_notify, or the stream ended without one
        except SSL.Error as exc:
            ended = ConnectionEnded(alert_text(exc))
        self._state = _CLOSED
        return ended

    # -- what the handshake revealed --------------------------------------------------------
    def facts(self) -> TLSFacts:
        """What OpenSSL knows about the peer so far; every state, as DESIGN.md section 3 needs.

        Complete once ``HandshakeDone`` came. Before that, and after a failure, it holds what
        had arrived: the chain and CA names of a server that aborted are exactly what the
        scan must report. ``version`` and ``cipher`` are what OpenSSL reports for the
        connection as it stands, which for a handshake that never got far is not a
        negotiated value (OpenSSL names the highest version offered).
        """
        chain = self._conn.get_peer_cert_chain() or []
        names = self._conn.get_client_ca_list()
        version = self._conn.get_protocol_version_name()
        return TLSFacts(
            version=None if version == "Unknown" else version,
            cipher=self._conn.get_cipher_name(),
            chain_der=tuple(crypto.dump_certificate(crypto.FILETYPE_ASN1, c) for c in chain),
            client_cert_requested=self._cert_requested or bool(names),
            client_ca_names=tuple(name_text(n.get_components()) for n in names),
            client_ca_names_der=tuple(n.der() for n in names),
            peer_alert=self._alert,
        )

    # -- after the handshake: one request, one bounded answer ------------------------------
    def send_application_data(self, data: bytes) -> None:
        """Encrypt ``data`` for the peer; collect the records with ``data_to_send``.

        Needs a completed handshake (ESTABLISHED or ESTABLISHED_EOF): before it, OpenSSL would
        quietly start or resume a handshake of its own; after the end, there is no one to
        send to.
        """
        state = self._state
        if state is not _ESTABLISHED and state is not _ESTABLISHED_EOF:
            raise _refused("send_application_data", state, "an established connection")
        self._conn.sendall(data)

    def close_notify(self) -> bool:
        """Queue our close_notify alert after a completed handshake; returns whether one was queued.

        Any state. Before a completed handshake (or after a failed one) there is nothing polite
        to say, and it returns False without a change. Afterwards it moves to CLOSED; flush
        the alert with ``data_to_send``.
        """
        state = self._state
        if state is _HANDSHAKING or state is _HANDSHAKING_EOF or state is _FAILED:
            return False
        self._state = _CLOSED
        try:
            self._conn.shutdown()
        except SSL.Error:
            return False  # the connection already failed: nothing polite left to say
        return True


# The events live in tls_events.py; drivers and tests import them from here, with the machine.
__all__ = [
    "BANNER_BYTES",
    "MAX_BIO_READ",
    "NEED_DATA",
    "SSL2_HEADER_FLAG",
    "TLS_RECORD_CONTENT_TYPES",
    "ApplicationData",
    "ClientHandshake",
    "ConnectionEnded",
    "Event",
    "FailureKind",
    "HandshakeDone",
    "HandshakeFailed",
    "TLSFacts",
    "TLSState",
    "TLSStateError",
    "make_client_context",
]
