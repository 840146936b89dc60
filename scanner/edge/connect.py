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
import socket
from dataclasses import dataclass

import trio

from scanner.model import Status


@dataclass(frozen=True, slots=True)
class NotConnected:
    status: Status
    error: str


REFUSED = NotConnected(Status.CLOSED, "connection refused")


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
                return NotConnected(Status.TIMEOUT, f"connect timed out after {limit_seconds:g}s")
    except OSError as exc:  # an address the OS will not take (a bad IPv6 scope, ...)
        _close(raw)
        return NotConnected(Status.UNREACHABLE, os_error_text(exc))
    except BaseException:
        _close(raw)
        raise
    if code == 0:
        return trio.socket.from_stdlib_socket(raw)
    _close(raw)
    if code == errno.ECONNREFUSED:
        return REFUSED
    return NotConnected(Status.UNREACHABLE, os_error_text(OSError(code, os.strerror(code))))
