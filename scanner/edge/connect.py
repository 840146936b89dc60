"""A probe's TCP connect on a plain socket: a refused, unreachable or silent port costs no trio socket.

Most probes of a sweep find nothing listening. ``trio.socket`` would wrap each socket in an
object, resolve the numeric address through ``getaddrinfo`` and check the address family
before the connect; here the connect is a non-blocking ``connect_ex`` and a wait until the
socket is writable, and only a connected socket becomes a ``trio.socket`` (for the TLS that
follows). The outcomes and their texts are those of ``trio.socket``'s connect: refused, an
OS error by name, or the timeout.
"""

from __future__ import annotations

import errno
import os
import select
import socket
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

import trio

from scanner.model import Status


@dataclass(frozen=True, slots=True)
class NotConnected:
    status: Status
    error: str


REFUSED = NotConnected(Status.CLOSED, "connection refused")
Connected = trio.socket.SocketType | NotConnected  # what ``open_tcp`` ends with
RawConnected = socket.socket | NotConnected  # what a ``ConnectWatcher`` connect ends with
Key = TypeVar("Key")  # what the caller of ConnectWatcher tells its connects apart by


def os_error_text(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, "")
    return f"{exc.strerror or exc} ({name})" if name else str(exc)


def _close(raw: socket.socket) -> None:
    trio.lowlevel.notify_closing(raw)  # trio may still hold it registered from the wait
    raw.close()


async def open_tcp(ip: str, port: int, limit_seconds: float) -> trio.socket.SocketType | NotConnected:
    """Connect to ``ip``:``port`` within ``limit_seconds``; the socket, or why not."""
    raw = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
    try:
        raw.setblocking(False)
        code = raw.connect_ex((ip, port))
        if code in (errno.EINPROGRESS, errno.EAGAIN):
            with trio.move_on_after(limit_seconds):
                await trio.lowlevel.wait_writable(raw)
                code = raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code in (errno.EINPROGRESS, errno.EAGAIN):  # the wait was cut short
                _close(raw)
                return _timed_out(limit_seconds)
    except OSError as exc:  # an address the OS will not take (a bad IPv6 scope, ...)
        _close(raw)
        return NotConnected(Status.UNREACHABLE, os_error_text(exc))
    except BaseException:
        _close(raw)
        raise
    if code:
        trio.lowlevel.notify_closing(raw)
    return _ended(raw, code)


def _timed_out(limit_seconds: float) -> NotConnected:
    return NotConnected(Status.TIMEOUT, f"connect timed out after {limit_seconds:g}s")


def _ended(raw: socket.socket, code: int) -> Connected:
    """A connect that ended with ``code`` (``SO_ERROR``): the connected socket, or why not (closed)."""
    ended = _ended_raw(raw, code)
    return trio.socket.from_stdlib_socket(ended) if isinstance(ended, socket.socket) else ended


def _ended_raw(raw: socket.socket, code: int) -> RawConnected:
    """``_ended``, where a connected socket stays a plain, non-blocking one."""
    if code == 0:
        return raw
    raw.close()
    if code == errno.ECONNREFUSED:
        return REFUSED
    return NotConnected(Status.UNREACHABLE, os_error_text(OSError(code, os.strerror(code))))


@dataclass(slots=True)
class _Connecting(Generic[Key]):
    raw: socket.socket
    key: Key
    deadline: float


class ConnectWatcher(Generic[Key]):
    """Many connects in flight, watched by one task through an epoll of their own.

    ``open_tcp`` costs each probe a task, a cancel scope and two registrations with trio's
    epoll; a sweep of ranges is mostly refused probes, for which that is most of the work.
    Here a connect is a socket, ``connect_ex`` and one ``epoll.register``; the task that calls
    ``finished`` waits for the whole set at once (trio watches this epoll's descriptor), and
    a refused connect is closed as soon as it is seen, which also drops it from the epoll. Each
    connect keeps its own deadline, ``limit_seconds`` after it started; as every connect has
    the same limit, the oldest one in flight is always the next to expire.

    Linux only (``select.epoll``): elsewhere ``available()`` is False and probes use
    ``open_tcp``. The outcomes and their texts are ``open_tcp``'s; a connected socket comes back
    as the plain, non-blocking socket it is (``sessions.SessionWatcher`` takes it from there).
    """

    def __init__(self, limit_seconds: float) -> None:
        self._limit = limit_seconds
        self._epoll = select.epoll()
        self._connecting: OrderedDict[int, _Connecting[Key]] = OrderedDict()  # by fd, oldest first
        self._ready: list[tuple[Key, RawConnected]] = []  # ended at once, in ``start``
        self._idle = trio.lowlevel.ParkingLot()  # ``finished`` waits here while nothing is in flight
        self._ending = False  # no more starts: ``finished`` gives [] once nothing is in flight

    @staticmethod
    def available() -> bool:
        return hasattr(select, "epoll")

    def __len__(self) -> int:
        return len(self._connecting) + len(self._ready)

    def start(self, ip: str, port: int, key: Key) -> None:
        """Begin a connect to ``ip``:``port``; ``finished`` hands it back with ``key``."""
        raw = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
        try:
            raw.setblocking(False)
            code = raw.connect_ex((ip, port))
            if code in (errno.EINPROGRESS, errno.EAGAIN):
                fd = raw.fileno()
                self._epoll.register(fd, select.EPOLLOUT)
                self._connecting[fd] = _Connecting(raw, key, trio.current_time() + self._limit)
                if self._idle:
                    self._idle.unpark_all()
                return
        except OSError as exc:  # an address the OS will not take (a bad IPv6 scope, ...)
            raw.close()
            self._ready.append((key, NotConnected(Status.UNREACHABLE, os_error_text(exc))))
        except BaseException:
            raw.close()
            raise
        else:
            self._ready.append((key, _ended_raw(raw, code)))
        if self._idle:
            self._idle.unpark_all()

    def end(self) -> None:
        """No more connects will start: ``finished`` returns [] once every one has ended."""
        self._ending = True
        self._idle.unpark_all()

    async def finished(self) -> list[tuple[Key, RawConnected]]:
        """Wait until connects end: each ended one with its key (a socket, or why not).

        At least one, unless ``end`` was called and nothing is left: then [].
        """
        while not self._ready:
            if not self._connecting:
                if self._ending:
                    return []
                await self._idle.park()
                continue
            first = next(iter(self._connecting.values()))
            with trio.move_on_at(first.deadline):
                await trio.lowlevel.wait_readable(self._epoll.fileno())
            self._collect()
        ready, self._ready = self._ready, []
        return ready

    def _collect(self) -> None:
        for fd, _ in self._epoll.poll(0):
            connecting = self._connecting.pop(fd)
            code = connecting.raw.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                self._epoll.unregister(fd)  # the TLS that follows watches it elsewhere
            self._ready.append((connecting.key, _ended_raw(connecting.raw, code)))
        now = trio.current_time()
        while self._connecting:
            fd, connecting = next(iter(self._connecting.items()))
            if connecting.deadline > now:
                break
            del self._connecting[fd]
            connecting.raw.close()  # closing the only descriptor also drops it from the epoll
            self._ready.append((connecting.key, _timed_out(self._limit)))

    def close(self) -> None:
        """Close every connect still in flight, and the epoll (a sweep that is stopped)."""
        for connecting in self._connecting.values():
            connecting.raw.close()
        self._connecting.clear()
        for _, connected in self._ready:
            if not isinstance(connected, NotConnected):
                connected.close()
        self._ready.clear()
        self._epoll.close()
