"""The trio driver for one endpoint: connect, pump the sans-I/O handshake, probe SIP or HTTP.

This is the I/O edge. Every phase has its own deadline and every read a size cap, so a slow
or hostile peer costs one task its timeout and nothing more. Failures become values (an
``Observation`` with a status), never exceptions: only bugs and cancellation propagate.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import trio
from OpenSSL import SSL

from scanner.edge.connect import NotConnected, open_tcp
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

RECEIVE_CHUNK = 65536
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


async def probe(endpoint: Endpoint, ip: str, tls_context: SSL.Context, config: ProbeConfig) -> Observation:
    """Probe one address; the result says what happened, whatever happened."""
    started = trio.current_time()
    if endpoint.ip != ip:  # a range's endpoints have theirs; dataclasses.replace is not free
        endpoint = replace(endpoint, ip=ip)
    sock = await open_tcp(ip, endpoint.port, config.connect_timeout)
    if isinstance(sock, NotConnected):
        return not_connected(endpoint, sock, started)
    return await probe_connected(endpoint, sock, tls_context, config, started)


def not_connected(endpoint: Endpoint, outcome: NotConnected, started: float) -> Observation:
    """The observation of a probe whose connect (begun at trio time ``started``) failed."""
    duration = round((trio.current_time() - started) * 1000, 1)  # most probes of a sweep: one object
    return Observation(endpoint, outcome.status, outcome.error, duration_ms=duration)


async def probe_connected(
    endpoint: Endpoint,
    sock: trio.socket.SocketType,
    tls_context: SSL.Context,
    config: ProbeConfig,
    started: float,
) -> Observation:
    """The rest of a probe whose connect (begun at trio time ``started``) gave ``sock``."""
    observation = await _probe(endpoint, sock, tls_context, config)
    return replace(observation, duration_ms=round((trio.current_time() - started) * 1000, 1))


async def _probe(
    endpoint: Endpoint, sock: trio.socket.SocketType, tls_context: SSL.Context, config: ProbeConfig
) -> Observation:
    stream = trio.SocketStream(sock)
    hs = ClientHandshake(tls_context, server_name=endpoint.sni)
    try:
        observation = await _tls(endpoint, stream, hs, config)
    except BaseException:
        sock.close()  # cancelled (Ctrl-C, SIGTERM) or a bug: no goodbyes
        raise
    await _close_gracefully(sock, stream, hs)
    if config.client_credential is not None:
        observation = replace(observation, client_auth_test=_client_auth_test(hs, observation, config))
    return observation


_UNFINISHED = (TLSState.HANDSHAKING, TLSState.HANDSHAKING_EOF, TLSState.FAILED)


def _client_auth_test(hs: ClientHandshake, observation: Observation, config: ProbeConfig) -> ClientAuthTest:
    """What the server did with our certificate; read after the probe, which for TLS 1.3 made the
    one bounded read (the SIP or HTTP answer, or the wait for an alert) that shows a rejection."""
    assert config.client_credential is not None
    completed = hs.state not in _UNFINISHED
    ended = observation.tls_alert or observation.error or ("timed out" if not completed else None)
    return judge_client_auth(hs.facts(), completed, config.client_credential.sha256, ended)


async def _close_gracefully(
    sock: trio.socket.SocketType, stream: trio.SocketStream, hs: ClientHandshake
) -> None:
    """close_notify, FIN, then read what is left for a moment: a close, not a reset.

    Closing a socket whose receive buffer holds unread bytes makes the kernel send a RST
    instead of a FIN. After a TLS 1.3 handshake the server's session tickets are such bytes,
    so a plain close resets every connection: noise in the server's logs and in firewall
    statistics, and rude. Saying goodbye costs one round trip, bounded by CLOSE_DRAIN_SECONDS.
    """
    try:
        with trio.move_on_after(CLOSE_DRAIN_SECONDS):
            if hs.close_notify():
                await _flush(stream, hs)
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                return  # already reset or closed by the peer
            drained = 0
            while drained < CLOSE_DRAIN_BYTES:
                data = await _receive(stream)
                if not data:
                    break
                drained += len(data)
    finally:
        sock.close()


async def _handshake(
    stream: trio.SocketStream, hs: ClientHandshake, limit_seconds: float
) -> tuple[Event | None, int]:
    """Pump the sans-I/O handshake until it ends, the deadline passes or the server sends too much.

    Returns the event that ended it, HandshakeDone or HandshakeFailed (None: stopped unfinished),
    and the bytes received.
    """
    received = 0
    with trio.move_on_after(limit_seconds):
        while True:
            event = hs.next_event()
            await _flush(stream, hs)  # our next flight, or the alert of a failure: always first
            if event is not NEED_DATA:
                return event, received
            data = await _receive(stream)  # b"" at EOF or reset: the next event is then final
            received += len(data)
            if received > MAX_HANDSHAKE_BYTES:
                break
            hs.receive_data(data)
    return None, received


async def _tls(
    endpoint: Endpoint, stream: trio.SocketStream, hs: ClientHandshake, config: ProbeConfig
) -> Observation:
    """The probe after the connect; every observation it makes is of a connected endpoint, and
    is made once, when all of it is known (``dataclasses.replace`` of an Observation costs
    3.5 µs, and a probe used to make five)."""
    event, received = await _handshake(stream, hs, config.timeout)
    if event is None:
        return _unfinished(endpoint, hs, config, received)
    if isinstance(event, HandshakeFailed):
        return _failed(endpoint, event)
    assert isinstance(event, HandshakeDone)  # during the handshake, the only other event
    facts = event.facts
    name = endpoint.sni or endpoint.host
    if endpoint.port in config.sip_ports:
        request = sip.build_options(name, endpoint.port)
        alert, error, banner = await _ask(
            stream, hs, config, request, sip.MAX_RESPONSE_BYTES, "SIP", _sip_banner
        )
        return _observed(endpoint, Status.OK, error, facts, tls_alert=alert, sip_server=banner)
    if endpoint.port in config.http_ports:
        request = http.build_head(name)
        limit = http.MAX_RESPONSE_BYTES
        alert, error, server = await _ask(stream, hs, config, request, limit, "HTTP", _http_server)
        return _observed(endpoint, Status.OK, error, facts, tls_alert=alert, http_server=server)
    if facts.client_cert_requested and facts.version == "TLSv1.3":
        # TLS 1.3: the server judges our (empty) certificate only after our Finished, so its
        # certificate_required alert shows up on the first read.
        alert = await _read_alert(stream, hs, min(config.timeout, ALERT_WAIT_SECONDS))
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


async def _flush(stream: trio.SocketStream, hs: ClientHandshake) -> None:
    out = hs.data_to_send()
    if out:
        try:
            await stream.send_all(out)
        except (trio.BrokenResourceError, OSError):
            pass  # the peer is gone; the next receive sees EOF and the handshake says so


async def _receive(stream: trio.SocketStream) -> bytes:
    try:
        return await stream.receive_some(RECEIVE_CHUNK)
    except (trio.BrokenResourceError, OSError):
        return b""  # a reset is an EOF as far as the handshake is concerned


async def _read_alert(stream: trio.SocketStream, hs: ClientHandshake, wait: float) -> str | None:
    with trio.move_on_after(wait):
        while True:
            event = hs.next_event()
            if isinstance(event, ConnectionEnded):
                return event.alert
            if isinstance(event, ApplicationData) or hs.ticket_received:
                # The server talks to us, or sent a session ticket, which a TLS 1.3 server does
                # once it took our Finished (and our certificate): it accepted the connection.
                return None
            hs.receive_data(await _receive(stream))
    return None


def _sip_banner(data: bytes) -> str | None:
    return sip.parse_response(data).server


def _http_server(data: bytes) -> str | None:
    return http.parse_response(data).header("server")


async def _ask(
    stream: trio.SocketStream,
    hs: ClientHandshake,
    config: ProbeConfig,
    request: bytes,
    limit: int,
    protocol: str,
    banner_of: Callable[[bytes], str | None],
) -> tuple[str | None, str | None, str | None]:
    """Send one request in the TLS connection, read the header block of the answer (bounded in
    size and time) and take its banner: the alert that ended the connection, a parse error, the
    banner."""
    hs.send_application_data(request)
    await _flush(stream, hs)
    # Reads are not flushed: what a read writes (a TLS 1.2 renegotiation's ClientHello, a key
    # update) is left unsent. We ask one question and leave, and do not follow a server into
    # a second handshake.
    buffer = b""
    alert: str | None = None
    with trio.move_on_after(config.timeout):
        while len(buffer) < limit and not header_block_complete(buffer):
            event = hs.next_event()
            if isinstance(event, ApplicationData):
                buffer += event.data
            elif isinstance(event, ConnectionEnded):
                alert = event.alert
                break
            else:
                hs.receive_data(await _receive(stream))
    if not buffer:
        return alert, None, None
    try:
        return alert, None, banner_of(buffer)
    except ValueError as exc:  # SipParseError, HttpParseError: not that protocol
        return alert, f"{protocol} probe: {exc}", None


async def resolve(host: str, port: int, limit_seconds: float) -> list[str] | str:
    """The addresses of a name (IPv4 and IPv6, in resolver order), or an error text."""
    try:
        with trio.fail_after(limit_seconds):
            infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except trio.TooSlowError:
        return f"DNS lookup timed out after {limit_seconds:g}s"
    except (socket.gaierror, UnicodeError) as exc:
        return f"DNS lookup failed: {exc}"
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        if address not in addresses:
            addresses.append(address)
    return addresses or "DNS lookup returned no address"
