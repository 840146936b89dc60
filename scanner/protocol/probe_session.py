"""One probe of a connected endpoint, sans-I/O: the handshake, the SIP or HTTP question, goodbye.

Theory of operation
-------------------
``probe_session`` is a generator. It owns the ``ClientHandshake`` and every decision of a probe
after its connect; it never touches a socket or a clock. It yields what it needs done, and the
driver answers by sending the outcome back in::

    yielded                   the driver does                   and sends back
    Send(data, limit)         write all of ``data``             SENT (also when the peer is
                                                                gone), or TIMED_OUT
    Receive(limit)            one read of up to RECEIVE_CHUNK   the bytes (b"" at EOF or a
                                                                reset), or TIMED_OUT
    ShutdownWrite()           shutdown(SHUT_WR) of the socket   SENT, or FAILED (the peer
                                                                already reset or closed)

and the generator's return value (``StopIteration.value``) is the probe's ``Observation``. The
driver then closes the socket and stamps the duration.

Each phase (the handshake, the question, the wait for a TLS 1.3 alert, the goodbye) has its own
time limit, a ``Limit`` made when the phase begins. Its clock starts when a driver first sees
it in an action (``Limit.start``); the driver sends TIMED_OUT for any action still waiting at
its deadline, and the phase ends as trio's ``move_on_after`` would end it.

Two drivers run it: ``scanner.edge.net`` (a trio task per probe, for sweeps with caps or
retries) and ``scanner.edge.sessions`` (one epoll for every probe of a plain sweep). What a
probe observes is decided here only, so the two cannot disagree.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Final, TypeVar

from OpenSSL import SSL

from scanner.model import ClientAuthTest, Endpoint, Observation, Status
from scanner.protocol import http, sip
from scanner.protocol.client_auth import judge_client_auth
from scanner.protocol.client_credential import ClientCredential
from scanner.protocol.headers import header_block_complete
from scanner.protocol.tls import (
    NEED_DATA,
    ApplicationData,
    ClientHandshake,
    ConnectionEnded,
    Event,
    FailureKind,
    HandshakeDone,
    HandshakeFailed,
    TLSFacts,
    TLSState,
)

RECEIVE_CHUNK = 65536  # the most one Receive asks the socket for
MAX_HANDSHAKE_BYTES = 256 * 1024  # a certificate chain larger than this is hostile
ALERT_WAIT_SECONDS = 1.0  # how long to wait for a TLS 1.3 certificate_required alert
CLOSE_DRAIN_SECONDS = 0.25  # after our close_notify and FIN, how long to read what the peer still sends
CLOSE_DRAIN_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    connect_timeout: float = 5.0
    timeout: float = 5.0  # handshake, and separately the SIP or HTTP probe
    sip_ports: frozenset[int] = field(default_factory=lambda: sip.DEFAULT_SIP_PORTS)
    http_ports: frozenset[int] = field(default_factory=lambda: http.DEFAULT_HTTP_PORTS)
    # --client-cert: presented to every server that asks (the context is built from it); the
    # key is in memory only and in no repr.
    client_credential: ClientCredential | None = None


class Reply(enum.Enum):
    """What a driver sends back for an action that brings no bytes."""

    SENT = "sent"
    FAILED = "failed"
    TIMED_OUT = "timed out"


SENT: Final = Reply.SENT
FAILED: Final = Reply.FAILED
TIMED_OUT: Final = Reply.TIMED_OUT


@dataclass(slots=True)
class Limit:
    """A phase's time limit; its deadline (the driver's clock) is fixed when a driver first uses it."""

    seconds: float
    deadline: float | None = None

    def start(self, now: float) -> float:
        if self.deadline is None:
            self.deadline = now + self.seconds
        return self.deadline


@dataclass(slots=True)
class Send:
    data: bytes
    limit: Limit


@dataclass(slots=True)
class Receive:
    limit: Limit


@dataclass(slots=True)
class ShutdownWrite:
    pass


Action = Send | Receive | ShutdownWrite
Answer = bytes | Reply | None  # None only to start the generator
_Result = TypeVar("_Result")
_Step = Generator[Action, Answer, _Result]  # a part of the session, which returns a _Result
Session = _Step[Observation]

_UNFINISHED = (TLSState.HANDSHAKING, TLSState.HANDSHAKING_EOF, TLSState.FAILED)
_SHUTDOWN_WRITE = ShutdownWrite()


def probe_session(endpoint: Endpoint, tls_context: SSL.Context, config: ProbeConfig) -> Session:
    """The probe of ``endpoint`` over a connected socket; returns what it observed (no duration)."""
    hs = ClientHandshake(tls_context, server_name=endpoint.sni)
    observation = yield from _tls(endpoint, hs, config)
    if config.client_credential is not None:  # what the probe saw decides it; the goodbye changes nothing
        observation = replace(observation, client_auth_test=_client_auth_test(hs, observation, config))
    goodbye = hs.data_to_send() if hs.close_notify() else b""
    # The goodbye waits a round trip for the peer's end and needs nothing of the connection's
    # OpenSSL state, some 48 KiB per connection (measured: 17 KiB made, 31 more by the
    # ClientHello): dropped before it, so a probe in its goodbye holds a socket and little else.
    del hs
    yield from _close_gracefully(goodbye)
    return observation


def _client_auth_test(hs: ClientHandshake, observation: Observation, config: ProbeConfig) -> ClientAuthTest:
    """What the server did with our certificate; read after the probe, which for TLS 1.3 made the
    one bounded read (the SIP or HTTP answer, or the wait for an alert) that shows a rejection."""
    assert config.client_credential is not None
    completed = hs.state not in _UNFINISHED
    ended = observation.tls_alert or observation.error or ("timed out" if not completed else None)
    return judge_client_auth(hs.facts(), completed, config.client_credential.sha256, ended)


def _flush(hs: ClientHandshake, limit: Limit) -> _Step[bool]:
    """Send what the handshake wrote; False: the phase's limit passed first."""
    out = hs.data_to_send()
    if out:
        return (yield Send(out, limit)) is not TIMED_OUT
    return True


def _receive(limit: Limit) -> _Step[bytes | None]:
    """One read: bytes, b"" at EOF or reset; None: the phase's limit passed first."""
    answer = yield Receive(limit)
    return answer if isinstance(answer, bytes) else None


def _close_gracefully(goodbye: bytes) -> _Step[None]:
    """Our close_notify (``goodbye``; b"" before a handshake completed), FIN, then read what is
    left for a moment: a close, not a reset.

    Closing a socket whose receive buffer holds unread bytes makes the kernel send a RST
    instead of a FIN. After a TLS 1.3 handshake the server's session tickets are such bytes,
    so a plain close resets every connection: noise in the server's logs and in firewall
    statistics, and rude. Saying goodbye costs one round trip, bounded by CLOSE_DRAIN_SECONDS.
    """
    limit = Limit(CLOSE_DRAIN_SECONDS)
    if goodbye and (yield Send(goodbye, limit)) is TIMED_OUT:
        return
    if (yield _SHUTDOWN_WRITE) is not SENT:
        return  # already reset or closed by the peer
    drained = 0
    while drained < CLOSE_DRAIN_BYTES:
        data = yield from _receive(limit)
        if not data:
            return
        drained += len(data)


def _handshake(
    hs: ClientHandshake, limit_seconds: float
) -> Generator[Action, Answer, tuple[Event | None, int]]:
    """Pump the handshake until it ends, the deadline passes or the server sends too much.

    Returns the event that ended it, HandshakeDone or HandshakeFailed (None: stopped unfinished),
    and the bytes received.
    """
    limit = Limit(limit_seconds)
    received = 0
    while True:
        event = hs.next_event()
        if not (yield from _flush(hs, limit)):  # our next flight, or the alert of a failure: always first
            break
        if event is not NEED_DATA:
            return event, received
        data = yield from _receive(limit)  # b"" at EOF or reset: the next event is then final
        if data is None:
            break
        received += len(data)
        if received > MAX_HANDSHAKE_BYTES:
            break
        hs.receive_data(data)
    return None, received


def _tls(
    endpoint: Endpoint, hs: ClientHandshake, config: ProbeConfig
) -> Generator[Action, Answer, Observation]:
    """The probe after the connect; every observation it makes is of a connected endpoint, and
    is made once, when all of it is known (``dataclasses.replace`` of an Observation costs
    3.5 µs, and a probe used to make five)."""
    event, received = yield from _handshake(hs, config.timeout)
    if event is None:
        return _unfinished(endpoint, hs, config, received)
    if isinstance(event, HandshakeFailed):
        return _failed(endpoint, event)
    assert isinstance(event, HandshakeDone)  # during the handshake, the only other event
    facts = event.facts
    name = endpoint.sni or endpoint.host
    if endpoint.port in config.sip_ports:
        request = sip.build_options(name, endpoint.port)
        alert, error, banner = yield from _ask(
            hs, config, request, sip.MAX_RESPONSE_BYTES, "SIP", _sip_banner
        )
        return _observed(endpoint, Status.OK, error, facts, tls_alert=alert, sip_server=banner)
    if endpoint.port in config.http_ports:
        request = http.build_head(name)
        limit = http.MAX_RESPONSE_BYTES
        alert, error, server = yield from _ask(hs, config, request, limit, "HTTP", _http_server)
        return _observed(endpoint, Status.OK, error, facts, tls_alert=alert, http_server=server)
    if facts.client_cert_requested and facts.version == "TLSv1.3":
        # TLS 1.3: the server judges our (empty) certificate only after our Finished, so its
        # certificate_required alert shows up on the first read.
        alert = yield from _read_alert(hs, min(config.timeout, ALERT_WAIT_SECONDS))
        return _observed(endpoint, Status.OK, None, facts, tls_alert=alert)
    return _observed(endpoint, Status.OK, None, facts)


def _unfinished(endpoint: Endpoint, hs: ClientHandshake, config: ProbeConfig, received: int) -> Observation:
    """The handshake neither completed nor failed: too many bytes, or the deadline passed."""
    if received > MAX_HANDSHAKE_BYTES:
        detail = f"server sent over {MAX_HANDSHAKE_BYTES} bytes without finishing"
        return _observed(endpoint, Status.TLS_ERROR, detail, hs.facts())
    facts = hs.facts()
    if facts.chain_der:
        detail = f"handshake stalled after {config.timeout:g}s, after the server's certificate"
        return _observed(endpoint, Status.OK, detail, facts)
    detail = "no answer to the ClientHello" if received == 0 else "handshake did not finish"
    return Observation(endpoint, Status.TIMEOUT, f"{detail} within {config.timeout:g}s", connected=True)


def _failed(endpoint: Endpoint, event: HandshakeFailed) -> Observation:
    if event.kind is FailureKind.NOT_TLS:
        banner = event.banner[:40].decode("ascii", "backslashreplace")
        return Observation(endpoint, Status.NO_TLS, f"not TLS; the server sent {banner!r}", connected=True)
    if event.facts.chain_der:
        # The server showed its chain, then ended the handshake (typically: it wants a
        # client certificate). That is a successful probe: we have what we came for.
        return _observed(endpoint, Status.OK, None, event.facts, tls_alert=event.detail)
    return _observed(endpoint, Status.TLS_ERROR, event.detail, event.facts)


def _observed(
    endpoint: Endpoint,
    status: Status,
    error: str | None,
    facts: TLSFacts,
    *,
    tls_alert: str | None = None,
    sip_server: str | None = None,
    http_server: str | None = None,
) -> Observation:
    """What a connected probe saw, with the handshake's facts."""
    return Observation(
        endpoint,
        status,
        error,
        connected=True,
        tls_version=facts.version,
        cipher=facts.cipher,
        chain_der=facts.chain_der,
        client_cert_requested=facts.client_cert_requested,
        client_ca_names=facts.client_ca_names,
        client_ca_names_der=facts.client_ca_names_der,
        tls_alert=tls_alert,
        sip_server=sip_server,
        http_server=http_server,
    )


def _read_alert(hs: ClientHandshake, wait: float) -> _Step[str | None]:
    limit = Limit(wait)
    while True:
        event = hs.next_event()
        if isinstance(event, ConnectionEnded):
            return event.alert
        if isinstance(event, ApplicationData) or hs.ticket_received:
            # The server talks to us, or sent a session ticket, which a TLS 1.3 server does
            # once it took our Finished (and our certificate): it accepted the connection.
            return None
        data = yield from _receive(limit)
        if data is None:
            return None
        hs.receive_data(data)


def _sip_banner(data: bytes) -> str | None:
    return sip.parse_response(data).server


def _http_server(data: bytes) -> str | None:
    return http.parse_response(data).header("server")


def _ask(
    hs: ClientHandshake,
    config: ProbeConfig,
    request: bytes,
    limit_bytes: int,
    protocol: str,
    banner_of: Callable[[bytes], str | None],
) -> _Step[tuple[str | None, str | None, str | None]]:
    """Send one request in the TLS connection, read the header block of the answer (bounded in
    size and time) and take its banner: the alert that ended the connection, a parse error, the
    banner."""
    hs.send_application_data(request)
    # The request's send has a limit of its own, then the answer has the whole timeout: a
    # server that reads nothing cannot hold the probe.
    yield from _flush(hs, Limit(config.timeout))
    # Reads are not flushed: what a read writes (a TLS 1.2 renegotiation's ClientHello, a key
    # update) is left unsent. We ask one question and leave, and do not follow a server into
    # a second handshake.
    limit = Limit(config.timeout)
    buffer = b""
    alert: str | None = None
    while len(buffer) < limit_bytes and not header_block_complete(buffer):
        event = hs.next_event()
        if isinstance(event, ApplicationData):
            buffer += event.data
        elif isinstance(event, ConnectionEnded):
            alert = event.alert
            break
        else:
            data = yield from _receive(limit)
            if data is None:
                break
            hs.receive_data(data)
    if not buffer:
        return alert, None, None
    try:
        return alert, None, banner_of(buffer)
    except ValueError as exc:  # SipParseError, HttpParseError: not that protocol
        return alert, f"{protocol} probe: {exc}", None
