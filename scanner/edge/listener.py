"""The trio accept loop of ``ekuscan listen``: bind, accept within bounds, one Observation per client.

Every bound is here. The loop accepts for ``duration`` seconds or until ``max_clients``
connections came, with at most ``max_concurrent`` served at once (the kernel's backlog holds
the rest); each connection has a deadline per phase (the handshake, then the SIP request)
and a byte cap, so a client that stalls or floods costs one task its timeout and nothing
more. What a client did becomes a value (an ``Observation``, direction inbound), never an
exception, and goes to ``on_client`` as soon as the connection is over.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from dataclasses import dataclass, replace

import trio
from OpenSSL import SSL

from scanner.model import Direction, Endpoint, Observation, Status
from scanner.protocol import sip_server
from scanner.protocol.headers import header_block_complete
from scanner.protocol.tls import NEED_DATA, ApplicationData, ConnectionEnded, FailureKind
from scanner.protocol.tls_server import (
    ClientFacts,
    ClientHandshakeDone,
    ClientHandshakeFailed,
    ServerHandshake,
)

RECEIVE_CHUNK = 65536
MAX_HANDSHAKE_BYTES = 256 * 1024  # a client chain larger than this is hostile
CLOSE_DRAIN_SECONDS = 0.25  # after our close_notify and FIN, how long to read what the client still sends
CLOSE_DRAIN_BYTES = 64 * 1024
ACCEPT_RETRY_SECONDS = 0.1  # out of file descriptors: wait this long before accepting again
DEFAULT_MAX_CONCURRENT = 256
_ACCEPT_PAUSE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class ListenError(Exception):
    """The listener cannot be bound (the message is one line)."""


@dataclass(frozen=True, slots=True)
class ListenConfig:
    duration: float = 600.0  # stop accepting after this long
    max_clients: int | None = None  # stop accepting after this many connections
    timeout: float = 10.0  # per connection: the handshake, and separately the SIP request
    sip: bool = False  # read one SIP request after the handshake and answer it
    max_concurrent: int = DEFAULT_MAX_CONCURRENT


def bind(address: str, port: int) -> socket.socket:
    """A listening socket on ``address``:``port``, bound before trio starts (so a port that
    cannot be had is a usage error before any output is opened); ListenError says why not."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait out TIME_WAIT
        sock.bind((address, port))
        sock.listen(socket.SOMAXCONN)
    except (OSError, OverflowError) as exc:
        sock.close()
        raise ListenError(_bind_error(address, port, exc)) from None
    return sock


def _bind_error(address: str, port: int, exc: OSError | OverflowError) -> str:
    where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    if not isinstance(exc, OSError):
        return f"cannot listen on {where}: {exc}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return (
            f"cannot listen on {where}: port {port} needs privileges (root or CAP_NET_BIND_SERVICE); "
            "use a port above 1023, e.g. --port 5061"
        )
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is in use by another program"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: the address is not one of this machine's"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def local_address(sock: socket.socket) -> tuple[str, int]:
    name = sock.getsockname()
    return str(name[0]), int(name[1])


async def serve_clients(
    sock: socket.socket,
    tls_context: SSL.Context,
    config: ListenConfig,
    template: Endpoint,
    on_client: Callable[[Observation], None],
) -> int:
    """Accept within the bounds, serve each client, and return how many connections came.

    ``template`` is the endpoint every client's endpoint is made from (its address and
    source port filled in). Connections still being served when accepting stops finish
    within their own deadlines; the listener is closed when this returns.
    """
    listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
    accepted = 0
    slots = trio.Semaphore(config.max_concurrent)
    async with listener, trio.open_nursery() as nursery:
        with trio.move_on_after(config.duration):
            while config.max_clients is None or accepted < config.max_clients:
                await slots.acquire()
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    slots.release()
                    if exc.errno not in _ACCEPT_PAUSE_ERRORS:
                        raise
                    await trio.sleep(ACCEPT_RETRY_SECONDS)
                    continue
                accepted += 1
                nursery.start_soon(
                    _serve_and_release, stream, tls_context, config, template, on_client, slots
                )
    return accepted


async def _serve_and_release(
    stream: trio.SocketStream,
    tls_context: SSL.Context,
    config: ListenConfig,
    template: Endpoint,
    on_client: Callable[[Observation], None],
    slots: trio.Semaphore,
) -> None:
    try:
        observation = await serve_one(stream, tls_context, config, template)
    finally:
        slots.release()
    on_client(observation)


async def serve_one(
    stream: trio.SocketStream, tls_context: SSL.Context, config: ListenConfig, template: Endpoint
) -> Observation:
    """Serve one connection to its end; the observation says what the client did."""
    started = trio.current_time()
    try:
        peer = stream.socket.getpeername()
        ip = str(peer[0]).split("%", 1)[0]
        endpoint = replace(template, host=ip, ip=ip, port=int(peer[1]))
    except OSError:  # reset between the accept and now: still a connection that came
        endpoint = replace(template, host="(gone before its address was read)", ip=None, port=0)
    hs = ServerHandshake(tls_context)
    try:
        observation = await _converse(stream, hs, config, endpoint)
        await _close_gracefully(stream, hs)
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()
    duration_ms = round((trio.current_time() - started) * 1000, 1)
    return replace(observation, connected=True, direction=Direction.INBOUND, duration_ms=duration_ms)


async def _converse(
    stream: trio.SocketStream, hs: ServerHandshake, config: ListenConfig, endpoint: Endpoint
) -> Observation:
    event, received = await _handshake(stream, hs, config.timeout)
    if event is None:
        return _unfinished(endpoint, hs.facts(), config, received)
    if isinstance(event, ClientHandshakeFailed):
        return _failed(endpoint, event)
    observation = _with_facts(endpoint, Status.OK, event.facts)
    if not event.facts.chain_der:
        observation = replace(
            observation, status=Status.NO_CERTIFICATE, error="the client presented no certificate"
        )
    if config.sip:
        return await _answer_sip(stream, hs, observation, config.timeout)
    return observation


async def _handshake(
    stream: trio.SocketStream, hs: ServerHandshake, limit_seconds: float
) -> tuple[ClientHandshakeDone | ClientHandshakeFailed | None, int]:
    """Pump the handshake until it ends, the deadline passes or the client sends too much (None)."""
    received = 0
    with trio.move_on_after(limit_seconds):
        while True:
            event = hs.next_event()
            await _flush(stream, hs)  # our flight, or the alert of a failure: always first
            if event is not NEED_DATA:
                assert isinstance(event, ClientHandshakeDone | ClientHandshakeFailed)
                return event, received
            data = await _receive(stream)
            received += len(data)
            if received > MAX_HANDSHAKE_BYTES:
                break
            hs.receive_data(data)
    return None, received


def _with_facts(
    endpoint: Endpoint, status: Status, facts: ClientFacts, error: str | None = None
) -> Observation:
    return Observation(
        endpoint, status, error, tls_version=facts.version, cipher=facts.cipher, chain_der=facts.chain_der
    )


def _unfinished(endpoint: Endpoint, facts: ClientFacts, config: ListenConfig, received: int) -> Observation:
    if received > MAX_HANDSHAKE_BYTES:
        detail = f"the client sent over {MAX_HANDSHAKE_BYTES} bytes without finishing the handshake"
        return _with_facts(endpoint, Status.TLS_ERROR, facts, detail)
    if facts.chain_der:
        detail = f"the handshake stalled after {config.timeout:g}s, after the client's certificate"
        return _with_facts(endpoint, Status.OK, facts, detail)
    detail = "no ClientHello" if received == 0 else "the handshake did not finish"
    return Observation(endpoint, Status.TIMEOUT, f"{detail} within {config.timeout:g}s")


def _failed(endpoint: Endpoint, event: ClientHandshakeFailed) -> Observation:
    if event.kind is FailureKind.NOT_TLS:
        banner = event.banner[:40].decode("ascii", "backslashreplace")
        return Observation(endpoint, Status.NO_TLS, f"not TLS; the client sent {banner!r}")
    if event.facts.chain_der:
        # The client sent its certificate, then the handshake failed (its CertificateVerify,
        # an alert of its own): the chain is still what it presents.
        return replace(_with_facts(endpoint, Status.OK, event.facts), tls_alert=event.detail)
    detail = event.detail
    if event.kind is FailureKind.ALERT and any(alert in detail for alert in _SERVER_CERT_REJECTED):
        # A client checks the server's certificate before it sends its own (TLS 1.2 and 1.3):
        # one that refuses ours never shows its client certificate.
        detail = f"the client rejected ekuscan's server certificate before presenting its own ({detail})"
    return _with_facts(endpoint, Status.TLS_ERROR, event.facts, detail)


# The alerts (as OpenSSL words them) of a client that refused the server's certificate.
_SERVER_CERT_REJECTED = (
    "unknown ca",
    "bad certificate",
    "certificate unknown",
    "unsupported certificate",
    "certificate expired",
    "certificate revoked",
)


async def _answer_sip(
    stream: trio.SocketStream, hs: ServerHandshake, observation: Observation, limit_seconds: float
) -> Observation:
    """Read one SIP request (bounded in size and time), answer it, keep the peer's banner."""
    buffer = b""
    ended: ConnectionEnded | None = None
    with trio.move_on_after(limit_seconds):
        while len(buffer) < sip_server.MAX_REQUEST_BYTES and not header_block_complete(buffer):
            event = hs.next_event()
            if isinstance(event, ApplicationData):
                buffer += event.data
            elif isinstance(event, ConnectionEnded):
                ended = event
                break
            else:
                hs.receive_data(await _receive(stream))
    alert = ended.alert if ended is not None else None
    observation = replace(observation, tls_alert=alert)
    if not buffer:
        if ended is None:
            return _note(observation, f"SIP: no request within {limit_seconds:g}s")
        return _note(observation, "SIP: the client closed the connection without a request")
    try:
        request = sip_server.parse_request(buffer)
    except sip_server.SipRequestError as exc:
        return _note(observation, f"SIP: {exc}")
    if ended is None:  # the client is still there to read the answer
        hs.send_application_data(sip_server.answer(request))
        await _flush(stream, hs)
    return replace(observation, sip_server=request.banner)


def _note(observation: Observation, text: str | None) -> Observation:
    """Add ``text`` to the observation's error, keeping what was there (no certificate, ...)."""
    if text is None:
        return observation
    error = f"{observation.error}; {text}" if observation.error else text
    return replace(observation, error=error)


async def _close_gracefully(stream: trio.SocketStream, hs: ServerHandshake) -> None:
    """close_notify, FIN, and a moment to read what is left: a close, not a reset."""
    with trio.move_on_after(CLOSE_DRAIN_SECONDS):
        if hs.close_notify():
            await _flush(stream, hs)
        try:
            stream.socket.shutdown(socket.SHUT_WR)
        except OSError:
            return
        drained = 0
        while drained < CLOSE_DRAIN_BYTES:
            data = await _receive(stream)
            if not data:
                return
            drained += len(data)


async def _flush(stream: trio.SocketStream, hs: ServerHandshake) -> None:
    out = hs.data_to_send()
    if out:
        try:
            await stream.send_all(out)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the client is gone; the next receive sees EOF and the handshake says so


async def _receive(stream: trio.SocketStream) -> bytes:
    try:
        return await stream.receive_some(RECEIVE_CHUNK)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
        return b""  # a reset is an EOF as far as the handshake is concerned
