"""The bounded connection pool: many probes in flight, results streamed to one consumer.

Theory of operation
-------------------
One producer walks the (lazy) endpoint iterator. Before starting a probe task it takes a
token from a ``CapacityLimiter`` of ``concurrency`` tokens, so at most that many sockets
are open and at most that many tasks exist: memory stays flat however long the target
list is. Each task sends its ``Observation`` into a bounded memory channel and returns its
token. The consumer (the CLI's analysis and writers) reads the channel in the main task;
when it is slow, the channel fills, tasks wait to send, tokens are not returned, and the
producer stops expanding targets: back-pressure end to end.

Probe tasks turn every expected failure into a value (see ``net.probe``); only bugs and
cancellation escape, and with trio's strict exception groups a bug cancels the sweep
instead of being lost.
"""

from __future__ import annotations

import resource
import signal
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import trio
from OpenSSL import SSL

from scanner.handshake import make_client_context
from scanner.models import Endpoint, Observation, Status
from scanner.net import ProbeConfig, probe, resolve

DEFAULT_CONCURRENCY = 256
FDS_PER_PROBE = 1
FD_HEADROOM = 64  # files the process needs besides probe sockets


@dataclass(frozen=True, slots=True)
class PoolConfig:
    concurrency: int = DEFAULT_CONCURRENCY
    probe: ProbeConfig = field(default_factory=ProbeConfig)


def ensure_fd_limit(concurrency: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards what the concurrency needs; return the usable concurrency."""
    need = concurrency * FDS_PER_PROBE + FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return concurrency
    return max(1, min(concurrency, (soft - FD_HEADROOM) // FDS_PER_PROBE))


class _Resolver:
    """Per-sweep cache of name lookups (names are few; addresses from ranges need none)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._cache: dict[str, list[str] | str] = {}

    async def addresses(self, endpoint: Endpoint) -> list[str] | str:
        if endpoint.ip is not None:
            return [endpoint.ip]
        cached = self._cache.get(endpoint.host)
        if cached is None:
            cached = await resolve(endpoint.host, endpoint.port, self._timeout)
            self._cache[endpoint.host] = cached
        return cached


async def scan_endpoints(
    endpoints: Iterable[Endpoint],
    config: PoolConfig,
    results: trio.MemorySendChannel[Observation],
    ssl_ctx: SSL.Context | None = None,
) -> None:
    """Probe every endpoint, at most ``config.concurrency`` at a time; closes ``results``."""
    ctx = ssl_ctx or make_client_context()
    limiter = trio.CapacityLimiter(config.concurrency)
    resolver = _Resolver(config.probe.connect_timeout)

    async def one(endpoint: Endpoint, token: object) -> None:
        try:
            addresses = await resolver.addresses(endpoint)
            if isinstance(addresses, str):
                await results.send(Observation(endpoint, Status.DNS_ERROR, addresses))
                return
            for ip in addresses:
                await results.send(await probe(endpoint, ip, ctx, config.probe))
        finally:
            limiter.release_on_behalf_of(token)

    async with results, trio.open_nursery() as nursery:
        for endpoint in endpoints:
            token = object()
            await limiter.acquire_on_behalf_of(token)
            nursery.start_soon(one, endpoint, token)


class ScanTerminated(Exception):
    """SIGTERM stopped the scan; what was consumed before it is complete and consistent."""


def run_scan(
    endpoints: Iterable[Endpoint], config: PoolConfig, consume: Callable[[Observation], None]
) -> None:
    """Run a whole scan in trio, handing each Observation to ``consume`` as it arrives.

    SIGTERM (cron's timeout, systemd stopping a unit) cancels the probes in flight and raises
    ScanTerminated, so the caller can still write what was found; Ctrl-C raises
    KeyboardInterrupt for the same purpose.
    """
    terminated = False

    async def watch_sigterm(scope: trio.CancelScope) -> None:
        nonlocal terminated
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                terminated = True
                scope.cancel()
                return

    async def main() -> None:
        send, receive = trio.open_memory_channel[Observation](config.concurrency)
        async with trio.open_nursery() as nursery:
            if threading.current_thread() is threading.main_thread():  # signals go to the main thread
                nursery.start_soon(watch_sigterm, nursery.cancel_scope)
            nursery.start_soon(scan_endpoints, endpoints, config, send)
            async with receive:
                async for observation in receive:
                    consume(observation)
            nursery.cancel_scope.cancel()  # the scan is complete: stop the watcher

    run_trio(main)
    if terminated:
        raise ScanTerminated


def run_trio(main: Callable[[], Awaitable[None]]) -> None:
    """``trio.run`` that lets Ctrl-C out as a plain KeyboardInterrupt.

    Ctrl-C lands in whichever task was running, so it can arrive wrapped in an exception group.
    """
    try:
        trio.run(main)
    except BaseExceptionGroup as group:
        if group.subgroup(KeyboardInterrupt) is not None:
            raise KeyboardInterrupt from None
        raise
