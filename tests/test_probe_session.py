"""The sans-I/O probe session and its two drivers: trio's task per probe, and one epoll for all.

A plain sweep on Linux drives every connected probe through ``SessionWatcher``; a sweep with
caps (here ``max_per_host``) gives each its trio task (``net.probe_connected``). Both must
observe the same thing from every kind of server, so each server below is probed both ways
over real loopback sockets and the observations compared whole, apart from the duration.
"""

from __future__ import annotations

import socket
import weakref
from collections.abc import Generator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import trio
from OpenSSL import SSL

from scanner.edge import pool as pool_module
from scanner.edge.net import ProbeConfig
from scanner.edge.pool import PoolConfig
from scanner.edge.sessions import SessionWatcher
from scanner.lab import Behaviour, LabPKI
from scanner.model import Endpoint, Observation, Status
from scanner.protocol import probe_session as probe_session_module
from scanner.protocol.probe_session import (
    FAILED,
    SENT,
    TIMED_OUT,
    Action,
    Answer,
    Limit,
    Receive,
    Send,
    ShutdownWrite,
    probe_session,
)
from scanner.protocol.tls import ClientHandshake, make_client_context
from tests.factories import CA_, SA
from tests.netutil import context_for, endpoint, lab_leaf, scan_endpoints, serve, tls_handler

SECONDS = 0.6  # the probes' timeout: the silent server costs this much, twice


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime.now(UTC))


async def _closes_at_once(stream: trio.SocketStream) -> None:
    await stream.aclose()


async def _resets(stream: trio.SocketStream) -> None:
    await stream.receive_some(4096)  # the ClientHello, then a reset (SO_LINGER 0)
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    stream.socket.close()


async def _servers(nursery: trio.Nursery, pki: LabPKI) -> dict[str, tuple[int, str]]:
    """Every kind of server a sweep meets: name -> (port, what the port is probed for)."""
    leaf, chain = lab_leaf(pki, eku=[SA, CA_]), [pki.private_ca]
    pinned = SSL.TLS1_2_VERSION

    def ctx(behaviour: Behaviour = Behaviour.TLS, tls_max: int | None = None) -> SSL.Context:
        return context_for(pki, leaf, chain, behaviour=behaviour, tls_max=tls_max)

    handlers = {
        "tls13": (tls_handler(ctx(), Behaviour.TLS), "tls"),
        "tls12": (tls_handler(ctx(tls_max=pinned), Behaviour.TLS), "tls"),
        "sip": (tls_handler(ctx(Behaviour.SIP), Behaviour.SIP, banner="TANDBERG/4137 (X14.3.2)"), "sip"),
        "http": (tls_handler(ctx(Behaviour.HTTP), Behaviour.HTTP, banner="nginx\x1b[2J"), "http"),
        "http-garbage": (tls_handler(ctx(), Behaviour.RAW, answer=b"\x00not http\r\n\r\n"), "http"),
        "mtls13": (tls_handler(ctx(Behaviour.MTLS_ABORT), Behaviour.MTLS_ABORT), "tls"),
        "mtls12": (tls_handler(ctx(Behaviour.MTLS_ABORT, pinned), Behaviour.MTLS_ABORT), "tls"),
        "plain": (tls_handler(None, Behaviour.PLAIN, banner="220 smtp.example ESMTP\x07"), "tls"),
        "silent": (tls_handler(None, Behaviour.SILENT), "tls"),
        "closes": (_closes_at_once, "tls"),
        "resets": (_resets, "tls"),
    }
    return {name: (await serve(nursery, handler), kind) for name, (handler, kind) in handlers.items()}


async def _probe_all(ports: dict[str, tuple[int, str]], config: PoolConfig) -> dict[str, Observation]:
    probe = replace(
        config.probe,
        sip_ports=frozenset(p for p, kind in ports.values() if kind == "sip"),
        http_ports=frozenset(p for p, kind in ports.values() if kind == "http"),
    )
    config = replace(config, probe=probe)
    names = list(ports)
    send, receive = trio.open_memory_channel[Observation](len(names))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            targets = [endpoint("127.0.0.1", ports[name][0]) for name in names]
            nursery.start_soon(scan_endpoints, targets, config, send)
            async with receive:
                observed = [o async for o in receive]
    return {name: replace(o, duration_ms=None) for name, o in zip(names, observed, strict=True)}


async def test_both_drivers_observe_the_same_from_every_kind_of_server(nursery, pki, monkeypatch):
    ports = await _servers(nursery, pki)
    driven: list[int] = []
    start = SessionWatcher.start

    def counted(self: SessionWatcher[int], *args: object) -> None:
        driven.append(1)
        start(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(pool_module.SessionWatcher, "start", counted)
    probe = ProbeConfig(connect_timeout=SECONDS, timeout=SECONDS)
    watched = await _probe_all(ports, PoolConfig(concurrency=8, probe=probe))
    assert len(driven) == len(ports)  # every connected probe went through the one epoll
    tasks = await _probe_all(ports, PoolConfig(concurrency=8, probe=probe, max_per_host=64))
    assert len(driven) == len(ports)  # ... and none of these
    assert watched == tasks
    assert watched["tls13"].tls_version == "TLSv1.3" and watched["tls12"].tls_version == "TLSv1.2"
    assert watched["sip"].sip_server == "TANDBERG/4137 (X14.3.2)"
    assert watched["http"].http_server == "nginx\x1b[2J"
    assert watched["http-garbage"].error is not None and watched["http-garbage"].error.startswith(
        "HTTP probe"
    )
    assert watched["mtls13"].tls_alert and watched["mtls12"].tls_alert and watched["mtls12"].chain_der
    assert watched["plain"].status is Status.NO_TLS
    assert watched["silent"].status is Status.TIMEOUT
    assert watched["silent"].error == f"no answer to the ClientHello within {SECONDS:g}s"
    assert watched["closes"].status is Status.TLS_ERROR and watched["resets"].status is Status.TLS_ERROR


def test_the_session_says_each_step_and_each_phase_has_its_limit():
    """Driven by hand: a server that takes the ClientHello and never answers."""
    session = probe_session(
        Endpoint("a.example:443", "a.example", "127.0.0.1", 9), make_client_context(), ProbeConfig(timeout=3)
    )
    hello = session.send(None)
    assert isinstance(hello, Send) and hello.data[:1] == b"\x16" and hello.limit.seconds == 3
    read = session.send(SENT)
    assert isinstance(read, Receive) and read.limit is hello.limit  # one limit for the handshake
    assert isinstance(session.send(TIMED_OUT), ShutdownWrite)  # no close_notify before a handshake
    with pytest.raises(StopIteration) as done:
        session.send(FAILED)  # the peer is gone already: no drain
    observation = done.value.value
    assert (observation.status, observation.error) == (
        Status.TIMEOUT,
        "no answer to the ClientHello within 3s",
    )
    assert observation.connected and observation.duration_ms == 0  # the driver stamps it


def test_a_limit_starts_once():
    limit = Limit(2.0)
    assert limit.start(10.0) == 12.0 and limit.start(11.0) == 12.0


Bulk = Generator[Action, Answer, Observation]
BULK = 512 * 1024


def _bulk_session(data: bytes, limit: float) -> Bulk:
    """Send ``data`` in one action, then read to the end: what the peer said, as the error text."""
    answer = yield Send(data, Limit(limit))
    if answer is TIMED_OUT:
        return Observation(endpoint("127.0.0.1", 1), Status.TIMEOUT, "send timed out")
    read = Limit(limit)
    heard = b""
    while isinstance(answer := (yield Receive(read)), bytes) and answer:
        heard += answer
    return Observation(endpoint("127.0.0.1", 1), Status.OK, heard.decode())


def _connected(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # a send that cannot go at once
    sock.connect(("127.0.0.1", port))  # loopback: the kernel completes it before any accept
    sock.setblocking(False)
    return sock


async def _watch(sock: socket.socket, session: Bulk) -> Observation:
    watcher: SessionWatcher[str] = SessionWatcher()
    try:
        watcher.start(sock, session, "bulk", trio.current_time())
        watcher.end()
        [(key, observation)] = await watcher.finished()
        assert key == "bulk"
        assert await watcher.finished() == [] and len(watcher) == 0
        assert not any(watcher._timers.values())  # nothing waits on a deadline any more
    finally:
        watcher.close()
    return observation


async def test_a_send_the_socket_cannot_take_at_once_waits_until_it_is_writable(nursery):
    async def slow_reader(stream: trio.SocketStream) -> None:
        total = 0
        while total < BULK:
            await trio.sleep(0.002)
            total += len(await stream.receive_some(8192))
        await stream.send_all(f"got {total}".encode())
        await stream.aclose()

    port = await serve(nursery, slow_reader)
    with trio.fail_after(20):
        observation = await _watch(_connected(port), _bulk_session(b"x" * BULK, 15))
    assert (observation.status, observation.error) == (Status.OK, f"got {BULK}")
    assert observation.duration_ms is not None


async def test_a_send_to_a_peer_that_never_reads_ends_at_its_limit(nursery):
    async def never_reads(stream: trio.SocketStream) -> None:
        await trio.sleep(30)

    port = await serve(nursery, never_reads)
    started = trio.current_time()
    with trio.fail_after(10):
        observation = await _watch(_connected(port), _bulk_session(b"x" * 64 * 1024 * 1024, 0.3))
    assert (observation.status, observation.error) == (Status.TIMEOUT, "send timed out")
    assert 0.25 < trio.current_time() - started < 5


def _waits_for(limit: float) -> Bulk:
    """Read until the end or the limit: what ended it, as the error text."""
    answer = yield Receive(Limit(limit))
    return Observation(endpoint("127.0.0.1", 1), Status.OK, "timed out" if answer is TIMED_OUT else "read")


def _ends_at_once() -> Bulk:
    return Observation(endpoint("127.0.0.1", 1), Status.OK, "at once")
    yield Receive(Limit(1))  # never reached: a generator that returns before its first step


async def test_a_probe_that_ends_or_times_out_early_is_handed_back_while_others_wait(nursery):
    """``finished`` sleeps on the epoll until the earliest deadline; a probe that ends as it
    starts, or waits under a shorter limit, must not wait for the others' deadline."""

    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep(30)

    port = await serve(nursery, silent)
    watcher: SessionWatcher[str] = SessionWatcher()
    handed: list[tuple[str, str | None, float]] = []
    both = trio.Event()

    async def collect() -> None:
        while ended := await watcher.finished():
            handed.extend((key, o.error, trio.current_time()) for key, o in ended)
            if len(handed) >= 2:
                both.set()

    try:
        async with trio.open_nursery() as inner:
            started = trio.current_time()
            watcher.start(_connected(port), _waits_for(5), "long", started)
            inner.start_soon(collect)
            await trio.sleep(0.1)  # ``collect`` now sleeps until the long probe's deadline
            at_once = trio.current_time()
            watcher.start(_connected(port), _ends_at_once(), "at once", at_once)
            await trio.sleep(0.1)
            watcher.start(_connected(port), _waits_for(0.2), "short", trio.current_time())
            with trio.fail_after(3):
                await both.wait()
            inner.cancel_scope.cancel()
    finally:
        watcher.close()
    assert [(key, error) for key, error, _ in handed] == [("at once", "at once"), ("short", "timed out")]
    # Without a wake-up, "at once" would wait for the short probe's deadline (0.3 s later),
    # and the short one for the long one's (5 s).
    assert handed[0][2] - at_once < 0.15 and handed[1][2] - started < 1.5


async def test_the_goodbye_holds_no_openssl_state(nursery, pki, monkeypatch):
    """By the goodbye's FIN, the session has let go of its ClientHandshake (and its OpenSSL
    connection): a probe waiting for the peer's end holds a socket and little else."""
    made: list[weakref.ref[ClientHandshake]] = []

    class Watched(ClientHandshake):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(weakref.ref(self))

    monkeypatch.setattr(probe_session_module, "ClientHandshake", Watched)
    ctx = context_for(pki, lab_leaf(pki), [pki.private_ca])
    port = await serve(nursery, tls_handler(ctx, Behaviour.TLS))
    sock = trio.socket.socket()
    await sock.connect(("127.0.0.1", port))
    session = probe_session(endpoint("127.0.0.1", port), make_client_context(), ProbeConfig(timeout=5))
    answer: Answer = None
    with trio.fail_after(10), sock:
        while not isinstance(action := session.send(answer), ShutdownWrite):
            if isinstance(action, Send):
                await sock.send(action.data)
                answer = SENT
            else:
                answer = await sock.recv(65536)
        assert len(made) == 1 and made[0]() is None
        sock.shutdown(socket.SHUT_WR)
        answer = SENT
        while True:
            try:
                action = session.send(answer)
            except StopIteration as done:
                observation = done.value
                break
            answer = await sock.recv(65536)
    assert observation.status is Status.OK and observation.chain_der
