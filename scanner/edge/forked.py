"""Worker processes forked from the scanning process once its imports and inputs are loaded, before trio runs.

A spawned worker is a fresh interpreter: it imports the scanner and reloads the root bundle,
about a quarter of a second of CPU before its first probe. A forked one starts with all of
that in place (shared copy-on-write), so a second process pays for itself on a few hundred
endpoints. Forking is only safe in a process that runs one thread, and only before
``trio.run`` (trio's I/O manager and wake-up fd would be shared with the child): the caller
forks first, then enters trio and drives the children through ``ForkedProcess``, which looks
to the parent's code like a ``trio.Process``. Where forking is not safe (another thread runs,
no ``os.fork``, or ``EKUSCAN_WORKER_START=spawn``) ``can_fork`` says so and the caller spawns.

A child never returns into the parent's code: it runs its body and leaves with ``os._exit``,
so no buffer, ``finally`` or ``atexit`` hook of the parent's runs twice (the output file, the
history store's connection). It closes every pipe end that is not its own, so that closing a
worker's input (or the parent's death) is seen by that worker as the end of its input.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable

import trio

START_METHOD_ENV = "EKUSCAN_WORKER_START"  # "spawn": fresh interpreters even where forking is safe
PR_SET_NAME = 15  # prctl(2): the name ps and /proc/PID/comm show
POLL_SECONDS = 0.01  # waiting for a child where no pidfd can be had

ChildBody = Callable[[int, int, int], None]  # (index, fd to read, fd to write) -> returns when done


def can_fork() -> bool:
    """Whether workers may be forked from this process now."""
    if not hasattr(os, "fork") or os.environ.get(START_METHOD_ENV) == "spawn":
        return False
    return _thread_count() == 1


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))  # every OS thread, not only threading's
    except OSError:
        return threading.active_count()


class ForkedProcess:
    """A forked worker as the parent sees it: its two pipe ends as trio streams, wait and kill."""

    def __init__(self, pid: int, to_child: int, from_child: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        # The streams are made on first use, inside trio (which alone may close them); a pipe
        # never used is closed by ``close``.
        self._fds = {"stdin": to_child, "stdout": from_child}
        self._streams: dict[str, trio.lowlevel.FdStream] = {}

    def _stream(self, which: str) -> trio.lowlevel.FdStream:
        stream = self._streams.get(which)
        if stream is None:
            stream = self._streams[which] = trio.lowlevel.FdStream(self._fds[which])
        return stream

    @property
    def stdin(self) -> trio.lowlevel.FdStream:
        return self._stream("stdin")

    @property
    def stdout(self) -> trio.lowlevel.FdStream:
        return self._stream("stdout")

    def _reap(self, flags: int) -> bool:
        if self.returncode is not None:
            return True
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:  # reaped elsewhere: the code is lost, not the process
            self.returncode = -1
            return True
        if pid == 0:
            return False
        self.returncode = os.waitstatus_to_exitcode(status)
        return True

    async def wait(self) -> int:
        if not self._reap(os.WNOHANG):
            await _exited(self.pid)
            while True:  # the pidfd said so, or there is none: poll
                if self._reap(os.WNOHANG):
                    break
                await trio.sleep(POLL_SECONDS)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Outside trio: close the pipes never used, kill the child if it still runs, reap it."""
        for which, fd in self._fds.items():
            if which not in self._streams:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fds.clear()  # and none is opened as a stream any more
        self.kill()
        self._reap(0)


async def _exited(pid: int) -> None:
    """Until the child ``pid`` exits (a pidfd on Linux, else a short poll by the caller)."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return
    try:
        await trio.lowlevel.wait_readable(pidfd)
    finally:
        os.close(pidfd)


def fork_children(count: int, body: ChildBody, name: str) -> list[ForkedProcess]:
    """Fork children 1..count-1 (0 is the caller's own share); each runs ``body`` and exits."""
    children: list[ForkedProcess] = []
    inherited: list[int] = []  # the parent's ends of earlier children's pipes
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        for index in range(1, count):
            child_in, to_child = os.pipe()
            from_child, child_out = os.pipe()
            pid = os.fork()
            if pid == 0:
                _child(index, body, child_in, child_out, [to_child, from_child, *inherited], name)
            os.close(child_in)
            os.close(child_out)
            inherited += [to_child, from_child]
            children.append(ForkedProcess(pid, to_child, from_child))
    except BaseException:
        for child in children:
            child.close()
        raise
    return children


def _child(index: int, body: ChildBody, read_fd: int, write_fd: int, foreign: list[int], name: str) -> None:
    code = 1
    try:
        os.setsid()  # out of the terminal's process group: Ctrl-C is the parent's to handle
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for fd in foreign:
            os.close(fd)
        _set_name(f"{name}{index}")
        body(index, read_fd, write_fd)
        code = 0
    finally:
        os._exit(code)


def _set_name(name: str) -> None:
    """What ps shows for the worker (its command line stays the parent's); best effort."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
