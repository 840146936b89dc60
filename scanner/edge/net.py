"""The trio driver for one endpoint: connect, then drive its sans-I/O probe session.

This is the I/O edge. ``scanner.protocol.probe_session`` decides everything a probe does once
connected (the handshake, the SIP or HTTP question, the goodbye) and says when each phase's time
is up; this file only moves its bytes over a trio socket, within the deadline of each action.
Failures become values (an ``Observation`` with a status), never exceptions: only bugs and
cancellation propagate. A plain sweep on Linux drives the same sessions without a task per probe
(``scanner.edge.sessions``).
"""

from __future__ import annotations

import socket
from dataclasses import replace

import trio
from OpenSSL import SSL

from scanner.edge.connect import NotConnected, open_tcp
from scanner.model import Endpoint, Observation
from scanner.protocol.probe_session import (
    FAILED,
    RECEIVE_CHUNK,
    SENT,
    TIMED_OUT,
    Answer,
    ProbeConfig,
    Receive,
    Send,
    probe_session,
)

__all__ = ["ProbeConfig", "not_connected", "probe", "probe_connected", "resolve"]


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
    try:
        observation = await _drive(endpoint, sock, tls_context, config)
    finally:
        sock.close()  # also when cancelled (Ctrl-C, SIGTERM) or a bug: then no goodbyes
    return replace(observation, duration_ms=round((trio.current_time() - started) * 1000, 1))


async def _drive(
    endpoint: Endpoint, sock: trio.socket.SocketType, tls_context: SSL.Context, config: ProbeConfig
) -> Observation:
    """Do what the session asks, one action at a time, until it returns its observation."""
    stream = trio.SocketStream(sock)
    session = probe_session(endpoint, tls_context, config)
    answer: Answer = None
    while True:
        try:
            action = session.send(answer)
        except StopIteration as done:
            observation: Observation = done.value
            return observation
        if isinstance(action, Send):
            answer = TIMED_OUT
            with trio.move_on_at(action.limit.start(trio.current_time())):
                try:
                    await stream.send_all(action.data)
                except (trio.BrokenResourceError, OSError):
                    pass  # the peer is gone; the next receive sees EOF and the session says so
                answer = SENT
        elif isinstance(action, Receive):
            answer = TIMED_OUT
            with trio.move_on_at(action.limit.start(trio.current_time())):
                try:
                    answer = await stream.receive_some(RECEIVE_CHUNK)
                except (trio.BrokenResourceError, OSError):
                    answer = b""  # a reset is an EOF as far as the handshake is concerned
        else:  # ShutdownWrite
            try:
                sock.shutdown(socket.SHUT_WR)
                answer = SENT
            except OSError:
                answer = FAILED


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
