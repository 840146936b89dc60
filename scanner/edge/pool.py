"""The bounded connection pool: many probes in flight, results streamed in target order.

Theory of operation
-------------------
One producer walks the (lazy) endpoint iterator and starts one task per endpoint, after
taking a token from a semaphore of ``window`` tokens. A token comes back only when that
endpoint's results have been *emitted*, so at most ``window`` endpoints exist at once
(running, waiting, or finished and waiting for their turn): memory stays flat however long
the target list is, and the output comes out in the order of the targets, whatever order
the probes finish in. That order is what makes a sweep's output the same from run to run,
and lets the worker processes (``workers.py``) be merged without a sort.

Where nothing but the sockets in flight is capped (no ``max_per_host``, ``rate`` or
``retries``) and the OS has epoll, an endpoint with an address gets no task of its own: the
producer takes its socket token and starts the connect, one task watches every connect in
flight (``connect.ConnectWatcher``), and a connect that succeeds goes on as a probe session
that one more task drives with all the others (``sessions.SessionWatcher``). A refused probe
of a sweep then costs a socket, a connect and its Observation; a live one, no task either.

Inside a task, each address is probed under four limits, taken in this order:
``max_per_host`` (connections to one address at once), ``concurrency`` (sockets in flight,
a ``CapacityLimiter``: FIFO, so no task starves), and ``rate`` (new connections per second,
a token bucket). Timeouts are retried ``retries`` times with exponential backoff, without
holding a socket token while waiting.

The emitter sends each endpoint's observations into a bounded memory channel; when the
consumer (analysis and writers) is slow, the channel fills, the window is not replenished
and the producer stops expanding targets: back-pressure end to end.

Probe tasks turn every expected failure into a value (see ``net.probe``); only bugs and
cancellation escape, and with trio's strict exception groups a bug cancels the sweep
instead of being lost.
"""

from __future__ import annotations

import resource
import signal
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import trio
from OpenSSL import SSL

from scanner.edge.connect import ConnectWatcher, NotConnected
from scanner.edge.net import ProbeConfig, not_connected, probe, resolve
from scanner.edge.ratelimit import TokenBucket
from scanner.edge.sessions import SessionWatcher
from scanner.edge.sizing import DEFAULT_CONCURRENCY
from scanner.model import Endpoint, Observation, Status
from scanner.protocol.probe_session import probe_session
from scanner.protocol.tls import make_client_context

FDS_PER_PROBE = 1
FD_HEADROOM = 64  # files the process needs besides probe sockets
WINDOW_PER_SOCKET = 4  # endpoints started or waiting to be emitted, per socket in flight
MIN_WINDOW = 1024
START_BURST = 4  # probes started between two checkpoints of the producer
CONNECT_BURST = 16  # ... where each is only a connect for ``ConnectWatcher`` (no task, no handshake yet)
RETRY_BACKOFF_SECONDS = 0.5  # the first retry waits this long, each further one twice as long
MAX_BACKOFF_SECONDS = 8.0


@dataclass(frozen=True, slots=True)
class PoolConfig:
    concurrency: int = DEFAULT_CONCURRENCY
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    rate: float | None = None  # new connections per second; None: no cap
    max_per_host: int | None = None  # connections to one address at once; None: no cap
    retries: int = 0  # extra attempts after a timeout
    first_address_only: bool = False  # a name that resolves to several addresses: scan the first

    @property
    def window(self) -> int:
        return max(MIN_WINDOW, WINDOW_PER_SOCKET * self.concurrency)

    def share(self, count: int) -> PoolConfig:
        """This config's limits divided among ``count`` processes that sweep disjoint hosts."""
        if count == 1:
            return self
        return replace(
            self,
            concurrency=max(1, self.concurrency // count),
            rate=None if self.rate is None else self.rate / count,
        )


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


def backoff_seconds(attempt: int) -> float:
    """The wait before retry number ``attempt`` (1-based)."""
    return float(min(MAX_BACKOFF_SECONDS, RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1)))


class _Resolver:
    """Per-sweep cache of name lookups (names are few; addresses from ranges need none)."""

    def __init__(self, timeout: float, first_only: bool) -> None:
        self._timeout = timeout
        self._first_only = first_only
        self._cache: dict[str, list[str] | str] = {}

    async def addresses(self, endpoint: Endpoint) -> list[str] | str:
        if endpoint.ip is not None:
            return [endpoint.ip]
        cached = self._cache.get(endpoint.host)
        if cached is None:
            cached = await resolve(endpoint.host, endpoint.port, self._timeout)
            if self._first_only and not isinstance(cached, str):
                cached = cached[:1]
            self._cache[endpoint.host] = cached
        return cached


@dataclass(slots=True)
class _HostSlot:
    semaphore: trio.Semaphore
    users: int = 0


class _HostSlots:
    """At most ``per_host`` connections to one address; entries live only while in use."""

    def __init__(self, per_host: int | None) -> None:
        self._per_host = per_host
        self._slots: dict[str, _HostSlot] = {}

    @asynccontextmanager
    async def hold(self, ip: str) -> AsyncIterator[None]:
        if self._per_host is None:
            yield
            return
        slot = self._slots.get(ip)
        if slot is None:
            slot = self._slots[ip] = _HostSlot(trio.Semaphore(self._per_host))
        slot.users += 1
        try:
            async with slot.semaphore:
                yield
        finally:
            slot.users -= 1
            if not slot.users:
                del self._slots[ip]


class _Prober:
    """Probes one address under the pool's limits, retrying timeouts."""

    def __init__(self, config: PoolConfig, tls_context: SSL.Context) -> None:
        self.config = config
        self.tls_context = tls_context
        self.sockets = trio.CapacityLimiter(config.concurrency)
        self.hosts = _HostSlots(config.max_per_host)
        self.bucket = None if config.rate is None else TokenBucket(config.rate)

    @property
    def plain(self) -> bool:
        """No cap but the sockets in flight, and no retries."""
        return self.config.max_per_host is None and self.bucket is None and not self.config.retries

    async def take_socket(self, borrower: object) -> None:
        """A socket token for ``borrower``, given back with ``sockets.release_on_behalf_of``."""
        try:
            self.sockets.acquire_on_behalf_of_nowait(borrower)
        except trio.WouldBlock:
            await self.sockets.acquire_on_behalf_of(borrower)

    async def one_address(self, endpoint: Endpoint, ip: str) -> Observation:
        if self.plain:
            async with self.sockets:  # the plain case, without the objects the caps need
                return await probe(endpoint, ip, self.tls_context, self.config.probe)
        attempts = self.config.retries + 1
        async with self.hosts.hold(ip):
            for attempt in range(1, attempts + 1):
                async with self.sockets:
                    if self.bucket is not None:
                        await self.bucket.take()
                    observation = await probe(endpoint, ip, self.tls_context, self.config.probe)
                if observation.status is not Status.TIMEOUT or attempt == attempts:
                    break
                await trio.sleep(backoff_seconds(attempt))
        if attempts > 1 and observation.status is Status.TIMEOUT:
            observation = replace(observation, error=f"{observation.error} ({attempts} attempts)")
        return observation


async def _probe_endpoint(
    prober: _Prober, resolver: _Resolver, endpoint: Endpoint
) -> tuple[Observation, ...]:
    """One observation per address of ``endpoint`` (a name may resolve to several)."""
    addresses = await resolver.addresses(endpoint)
    if isinstance(addresses, str):
        return (Observation(endpoint, Status.DNS_ERROR, addresses),)
    if len(addresses) == 1:
        return (await prober.one_address(endpoint, addresses[0]),)
    by_address: dict[str, Observation] = {}

    async def probe_into(ip: str) -> None:
        by_address[ip] = await prober.one_address(endpoint, ip)

    async with trio.open_nursery() as inner:
        for ip in addresses:
            inner.start_soon(probe_into, ip)
    return tuple(by_address[ip] for ip in addresses)


WatchedKey = tuple[int, Endpoint, float]  # a watched connect's seq, endpoint and start (trio time)


class _WatchedProbes:
    """The plain case (``_Prober.plain``, Linux): no task per probe. The producer starts an
    address's connect and one task watches all of them (``ConnectWatcher``); a connect that
    succeeds goes on as a probe session that another task drives, with every other session,
    over one epoll (``SessionWatcher``). A refused probe costs a socket, a connect and its
    Observation; a live one costs its syscalls and its session."""

    def __init__(
        self, prober: _Prober, finished: dict[int, tuple[Observation, ...]], wakeup: trio.lowlevel.ParkingLot
    ) -> None:
        self.prober, self.finished, self.wakeup = prober, finished, wakeup
        self.watcher: ConnectWatcher[WatchedKey] = ConnectWatcher(prober.config.probe.connect_timeout)
        self.sessions: SessionWatcher[int] = SessionWatcher()

    @property
    def handshakes(self) -> int:
        """Probes past their connect whose TLS (or goodbye) is still running."""
        return len(self.sessions)

    async def start(self, seq: int, endpoint: Endpoint, ip: str) -> None:
        await self.prober.take_socket(seq)
        self.watcher.start(ip, endpoint.port, (seq, endpoint, trio.current_time()))

    async def run(self, nursery: trio.Nursery) -> None:
        """Until ``watcher.end()`` and the last probe: each ended connect to its observation, or to
        its session."""
        nursery.start_soon(self._run_sessions)
        prober = self.prober
        try:
            while ended := await self.watcher.finished():
                for (seq, endpoint, started), connected in ended:
                    if isinstance(connected, NotConnected):
                        prober.sockets.release_on_behalf_of(seq)
                        self.finished[seq] = (not_connected(endpoint, connected, started),)
                    else:
                        session = probe_session(endpoint, prober.tls_context, prober.config.probe)
                        self.sessions.start(connected, session, seq, started)
                self.wakeup.unpark_all()
        finally:
            self.sessions.end()

    async def _run_sessions(self) -> None:
        while ended := await self.sessions.finished():
            for seq, observation in ended:
                self.prober.sockets.release_on_behalf_of(seq)
                self.finished[seq] = (observation,)
            self.wakeup.unpark_all()

    def close(self) -> None:
        self.watcher.close()
        self.sessions.close()


async def scan_ordered(
    items: Iterable[tuple[int, Endpoint]],
    config: PoolConfig,
    results: trio.MemorySendChannel[tuple[int, tuple[Observation, ...]]],
    tls_context: SSL.Context | None = None,
) -> None:
    """Probe every endpoint; send ``(seq, observations)`` in the order of ``items``; closes ``results``.

    An endpoint gives one observation per address (a name may resolve to several) and
    ``seq`` is whatever number the caller gave it.
    """
    prober = _Prober(config, tls_context or make_client_context(config.probe.client_credential))
    resolver = _Resolver(config.probe.connect_timeout, config.first_address_only)
    window = trio.Semaphore(config.window)
    issued: deque[int] = deque()
    finished: dict[int, tuple[Observation, ...]] = {}
    wakeup = trio.lowlevel.ParkingLot()
    producing = True
    watched = (
        _WatchedProbes(prober, finished, wakeup) if prober.plain and ConnectWatcher.available() else None
    )

    async def one(seq: int, endpoint: Endpoint) -> None:
        finished[seq] = await _probe_endpoint(prober, resolver, endpoint)
        wakeup.unpark_all()

    async def emit() -> None:
        while True:
            while issued and issued[0] in finished:
                seq = issued.popleft()
                ready = (seq, finished.pop(seq))
                try:  # the common case needs no trip through the scheduler
                    results.send_nowait(ready)
                except trio.WouldBlock:
                    await results.send(ready)
                window.release()
            if not producing and not issued:
                return
            await wakeup.park()

    try:
        async with results, trio.open_nursery() as nursery:
            nursery.start_soon(emit)
            if watched is not None:
                nursery.start_soon(watched.run, nursery)
            since_checkpoint = 0
            for seq, endpoint in items:
                ip = endpoint.ip if watched is not None else None
                # While the window has room, start probes a few at a time between checkpoints: one
                # checkpoint per probe costs a scheduler pass each; none lets every probe of the
                # window start at once, and a thousand handshakes in flight at once cost memory
                # (some 50 KiB each). Bare connects go 16 a pass while none is handshaking (as
                # fast for refused probes as 64); with handshakes running, 4: 1000 live loopback
                # endpoints peaked at 81 MiB with 64 connects a pass, at 54 MiB this way.
                since_checkpoint += 1
                burst = START_BURST if ip is None or watched is None or watched.handshakes else CONNECT_BURST
                if since_checkpoint >= burst:
                    since_checkpoint = 0
                    await trio.lowlevel.checkpoint()
                try:
                    window.acquire_nowait()
                except trio.WouldBlock:
                    await window.acquire()
                issued.append(seq)
                if ip is None:
                    nursery.start_soon(one, seq, endpoint)
                else:
                    assert watched is not None
                    await watched.start(seq, endpoint, ip)
            producing = False
            if watched is not None:
                watched.watcher.end()
            wakeup.unpark_all()
    finally:
        if watched is not None:
            watched.close()


class ScanTerminated(Exception):
    """SIGTERM stopped the scan; what was consumed before it is complete and consistent."""


def run_stoppable(body: Callable[[], Awaitable[None]], passthrough: tuple[type[Exception], ...] = ()) -> None:
    """Run ``body`` in trio until it returns, or until SIGTERM or Ctrl-C stop it.

    SIGTERM (cron's timeout, systemd stopping a unit) cancels ``body`` and raises
    ScanTerminated, so the caller can still write what was found; Ctrl-C raises
    KeyboardInterrupt for the same purpose. Either way ``body``'s cleanup has run.
    Exceptions of the ``passthrough`` types come out bare, not in an exception group.
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
        async with trio.open_nursery() as nursery:
            if threading.current_thread() is threading.main_thread():  # signals go to the main thread
                nursery.start_soon(watch_sigterm, nursery.cancel_scope)
            await body()
            nursery.cancel_scope.cancel()  # the scan is complete: stop the watcher

    run_trio(main, passthrough)
    if terminated:
        raise ScanTerminated


def run_trio(main: Callable[[], Awaitable[None]], passthrough: tuple[type[Exception], ...] = ()) -> None:
    """``trio.run`` that lets Ctrl-C out as a plain KeyboardInterrupt.

    Ctrl-C lands in whichever task was running, so it can arrive wrapped in an exception group;
    so do the ``passthrough`` exceptions (expected failures with a one-line message).
    """
    try:
        trio.run(main)
    except BaseExceptionGroup as group:
        if group.subgroup(KeyboardInterrupt) is not None:
            raise KeyboardInterrupt from None
        expected = group.subgroup(passthrough) if passthrough else None
        if expected is not None:
            raise _first_leaf(expected) from None
        raise


def _first_leaf(group: BaseExceptionGroup[Exception]) -> Exception:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first
