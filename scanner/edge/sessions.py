"""Every connected probe of a plain sweep, driven by one task through an epoll of its own.

``net.probe_connected`` gives each probe a trio task, a ``SocketStream`` and a cancel scope per
action, and each of its waits registers with trio's epoll and passes through the scheduler. A
live endpoint of a plain sweep (``pool._WatchedProbes``) comes here instead, as the connected
plain socket ``ConnectWatcher`` handed back: the watcher runs its ``probe_session`` up to the
first action that must wait, registers the socket once with its own epoll, and from then on
one task, woken when any socket is ready or the earliest deadline passes, reads or writes
what each ready socket waits for and sends the outcome into that probe's session. A probe
costs its syscalls and its session's steps, nothing per wait.

The answers are those of ``net._drive``: a send that fails means the peer is gone (SENT, and
the next read sees the end), a read that fails is an EOF, and an action still waiting at its
phase's deadline is answered TIMED_OUT; so are actions whose deadline has passed before they
start, as trio's cancel scope would have refused them. Time is trio's clock, read once per
wake-up.

Linux only (``select.epoll``), like ``ConnectWatcher``.
"""

from __future__ import annotations

import select
import socket
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import trio

from scanner.model import Observation
from scanner.protocol.probe_session import (
    FAILED,
    RECEIVE_CHUNK,
    SENT,
    TIMED_OUT,
    Answer,
    Limit,
    Receive,
    Send,
    Session,
)

Key = TypeVar("Key")  # what the caller tells its probes apart by

_IDLE, _READING, _WRITING = 0, select.EPOLLIN, select.EPOLLOUT  # what a probe waits for


@dataclass(slots=True)
class _Probe(Generic[Key]):
    sock: socket.socket
    fd: int
    session: Session
    key: Key
    started: float  # trio time of the connect's start, for the duration
    waiting: int = _IDLE
    registered: int = 0  # the events the epoll watches for this socket; 0: not registered
    unsent: bytes = b""  # what a partial send left, sent when the socket is writable
    limit: Limit | None = None  # the limit of the phase it waits in; its entry in the timers


class SessionWatcher(Generic[Key]):
    """Probe sessions over connected sockets; ``finished`` hands back each one's Observation.

    Deadlines: every limit of one length is started later than the ones before it, so probes
    waiting under limits of one length expire in the order they started waiting: one ordered
    dict per length (a handful: the timeout, the alert wait, the goodbye), oldest first, and a
    probe is in at most one of them.
    """

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._probes: dict[int, _Probe[Key]] = {}  # by fd
        self._timers: dict[float, OrderedDict[int, _Probe[Key]]] = {}  # by limit length; by fd
        self._done: list[tuple[Key, Observation]] = []
        self._idle = trio.lowlevel.ParkingLot()  # ``finished`` waits here while nothing runs
        self._sleep: trio.CancelScope | None = None  # ``finished``'s wait for the epoll, while it waits
        self._ending = False

    def __len__(self) -> int:
        return len(self._probes)

    def start(self, sock: socket.socket, session: Session, key: Key, started: float) -> None:
        """Drive ``session`` over ``sock`` (connected, non-blocking) from now on; the watcher owns
        and closes the socket."""
        fd = sock.fileno()
        probe = _Probe(sock, fd, session, key, started)
        self._probes[fd] = probe
        self._advance(probe, None, trio.current_time())
        if self._idle:
            self._idle.unpark_all()
        elif self._done and self._sleep is not None:
            self._sleep.cancel()  # it ended at once (the peer was gone): hand it back now

    def end(self) -> None:
        """No more probes will start: ``finished`` returns [] once every one has ended."""
        self._ending = True
        self._idle.unpark_all()

    async def finished(self) -> list[tuple[Key, Observation]]:
        """Wait until probes end: each ended one with its key. At least one, unless ``end`` was
        called and nothing is left: then []."""
        while not self._done:
            if not self._probes:
                if self._ending:
                    return []
                await self._idle.park()
                continue
            with trio.move_on_at(self._next_deadline()) as self._sleep:
                await trio.lowlevel.wait_readable(self._epoll.fileno())
            self._sleep = None
            self._collect()
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        """Close every probe's socket, and the epoll (a sweep that is stopped)."""
        for probe in self._probes.values():
            probe.session.close()
            probe.sock.close()
        self._probes.clear()
        self._timers.clear()
        self._epoll.close()

    def _next_deadline(self) -> float:
        firsts = [self._deadline(next(iter(t.values()))) for t in self._timers.values() if t]
        return min(firsts, default=float("inf"))

    @staticmethod
    def _deadline(probe: _Probe[Key]) -> float:
        assert probe.limit is not None and probe.limit.deadline is not None
        return probe.limit.deadline

    def _collect(self) -> None:
        now = trio.current_time()
        for fd, _ in self._epoll.poll(0):
            probe = self._probes.get(fd)
            if probe is None:
                continue
            if probe.waiting == _READING:
                try:
                    data = probe.sock.recv(RECEIVE_CHUNK)
                except BlockingIOError:
                    continue  # not ready after all
                except OSError:
                    data = b""  # a reset is an EOF as far as the handshake is concerned
                self._advance(probe, data, now)
            elif probe.waiting == _WRITING and self._sent(probe, probe.unsent):
                self._advance(probe, SENT, now)
        for timer in list(self._timers.values()):  # a timed-out probe's next phase may add one
            while timer:
                probe = next(iter(timer.values()))
                if self._deadline(probe) > now:
                    break
                self._advance(probe, TIMED_OUT, now)  # which takes it out of this timer

    def _sent(self, probe: _Probe[Key], data: bytes) -> bool:
        """Send ``data``: True once all of it is sent (or the peer is gone), else what is left
        waits for the socket to be writable."""
        try:
            sent = probe.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            return True  # the peer is gone; the next receive sees EOF and the session says so
        if sent == len(data):
            return True
        probe.unsent = data[sent:]
        return False

    def _advance(self, probe: _Probe[Key], answer: Answer, now: float) -> None:
        """Send ``answer`` into the session and do what it asks until it must wait, or ends."""
        probe.waiting = _IDLE
        session = probe.session
        while True:
            try:
                action = session.send(answer)
            except StopIteration as done:
                self._end(probe, done.value, now)
                return
            if isinstance(action, Send):
                if action.limit.start(now) <= now:
                    answer = TIMED_OUT  # as a cancel scope whose deadline passed refuses to start
                elif self._sent(probe, action.data):
                    answer = SENT
                else:
                    self._wait(probe, _WRITING, action.limit)
                    return
            elif isinstance(action, Receive):
                if action.limit.start(now) <= now:
                    answer = TIMED_OUT
                else:
                    self._wait(probe, _READING, action.limit)
                    return
            else:  # ShutdownWrite
                try:
                    probe.sock.shutdown(socket.SHUT_WR)
                    answer = SENT
                except OSError:
                    answer = FAILED

    def _wait(self, probe: _Probe[Key], events: int, limit: Limit) -> None:
        probe.waiting = events
        if probe.limit is not limit:
            self._untime(probe)
            probe.limit = limit
            timer = self._timers.get(limit.seconds)
            if timer is None:
                timer = self._timers[limit.seconds] = OrderedDict()
            timer[probe.fd] = probe
            sleep = self._sleep
            if sleep is not None and limit.deadline is not None and limit.deadline < sleep.deadline:
                sleep.deadline = limit.deadline  # a shorter limit than the one ``finished`` sleeps for
        if probe.registered != events:
            if probe.registered:
                self._epoll.modify(probe.fd, events)
            else:
                self._epoll.register(probe.fd, events)
            probe.registered = events

    def _untime(self, probe: _Probe[Key]) -> None:
        if probe.limit is not None:
            del self._timers[probe.limit.seconds][probe.fd]
            probe.limit = None

    def _end(self, probe: _Probe[Key], observation: Observation, now: float) -> None:
        self._untime(probe)
        del self._probes[probe.fd]
        probe.sock.close()  # closing the only descriptor also drops it from the epoll
        duration = round((now - probe.started) * 1000, 1)
        self._done.append((probe.key, replace(observation, duration_ms=duration)))
