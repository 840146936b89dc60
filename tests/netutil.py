"""Loopback servers for live tests: real sockets, real TLS, only on 127.0.0.0/8 and ::1."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import trio
from cryptography import x509
from OpenSSL import SSL

from scanner.edge.net import ProbeConfig
from scanner.edge.pool import PoolConfig, scan_ordered
from scanner.lab import Behaviour, Issued, LabPKI, LabService, handle_connection, issue, server_context
from scanner.model import Endpoint, Observation

Handler = Callable[[trio.SocketStream], Awaitable[None]]


async def scan_endpoints(
    endpoints: Iterable[Endpoint],
    config: PoolConfig,
    results: trio.MemorySendChannel[Observation],
    tls_context: SSL.Context | None = None,
) -> None:
    """Probe every endpoint and send each observation, in target order; closes ``results``."""
    send, receive = trio.open_memory_channel[tuple[int, tuple[Observation, ...]]](0)
    async with results, trio.open_nursery() as nursery:
        nursery.start_soon(scan_ordered, enumerate(endpoints), config, send, tls_context)
        async with receive:
            async for _, observations in receive:
                for observation in observations:
                    await results.send(observation)


async def serve(nursery: trio.Nursery, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> int:
    """Start a server on loopback; returns the port it listens on."""
    assert host.startswith("127.") or host == "::1", "tests serve on loopback only"
    listeners = await trio.open_tcp_listeners(port, host=host)
    nursery.start_soon(trio.serve_listeners, handler, listeners)
    return int(listeners[0].socket.getsockname()[1])


def tls_handler(
    ctx: SSL.Context | None, behaviour: Behaviour, banner: str = "", answer: bytes = b""
) -> Handler:
    service = LabService(0, behaviour, banner=banner, answer=answer)

    async def handler(stream: trio.SocketStream) -> None:
        await handle_connection(stream, ctx, service)

    return handler


def context_for(
    pki: LabPKI,
    leaf: Issued,
    chain: Iterable[Issued] = (),
    *,
    behaviour: Behaviour = Behaviour.TLS,
    tls_max: int | None = None,
    tls_min: int | None = None,
) -> SSL.Context:
    ctx = server_context(leaf, tuple(chain), pki, LabService(0, behaviour, tls_max=tls_max))
    if tls_min is not None:
        ctx.set_min_proto_version(tls_min)
    return ctx


def lab_leaf(
    pki: LabPKI,
    cn: str = "live.lab.ekuscan.test",
    *,
    eku: list[x509.ObjectIdentifier] | None = None,
    raw_eku: bytes | None = None,
) -> Issued:
    """A leaf under the lab's private issuing CA, valid for a year either side of the lab's now."""
    year = timedelta(days=365)
    return issue(
        cn,
        "Example Corp",
        issuer=pki.private_ca,
        not_before=pki.now - year,
        not_after=pki.now + year,
        ca=False,
        eku=eku,
        dns_names=[cn],
        raw_eku=raw_eku,
    )


async def scan(
    endpoints: Iterable[Endpoint],
    *,
    seconds: float = 2.0,
    concurrency: int = 64,
    sip_ports: Iterable[int] | None = None,
    http_ports: Iterable[int] | None = None,
) -> list[Observation]:
    """Run the real pool over endpoints and collect every observation."""
    probe = ProbeConfig(connect_timeout=seconds, timeout=seconds)
    if sip_ports is not None:
        probe = replace(probe, sip_ports=frozenset(sip_ports))
    if http_ports is not None:
        probe = replace(probe, http_ports=frozenset(http_ports))
    config = PoolConfig(concurrency=concurrency, probe=probe)
    send, receive = trio.open_memory_channel[Observation](concurrency)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(scan_endpoints, endpoints, config, send)
            async with receive:
                return [observation async for observation in receive]


def endpoint(host: str, port: int, **kw: object) -> Endpoint:
    ip = host if host[0].isdigit() or ":" in host else None
    return Endpoint(target=f"{host}:{port}", host=host, ip=ip, port=port, **kw)  # type: ignore[arg-type]


@contextmanager
def background_tls_servers(addresses: Iterable[tuple[str, int]]) -> Iterator[None]:
    """TLS servers (the lab's plain TLS behaviour) on loopback, in a thread, for synchronous tests."""
    from datetime import UTC, datetime

    pki = LabPKI.generate(datetime.now(UTC))
    ctx = context_for(pki, lab_leaf(pki), [pki.private_ca])
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def main() -> None:
        with trio.CancelScope() as scope:
            holder["scope"], holder["token"] = scope, trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                for host, port in addresses:
                    await serve(nursery, tls_handler(ctx, Behaviour.TLS), host=host, port=port)
                ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    assert ready.wait(30), "the TLS servers did not start"
    try:
        yield
    finally:
        token = holder["token"]
        scope = holder["scope"]
        assert isinstance(token, trio.lowlevel.TrioToken) and isinstance(scope, trio.CancelScope)
        token.run_sync_soon(scope.cancel)
        thread.join(10)
