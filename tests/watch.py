"""Wait for what a child process says, not for a fixed time: stop tests signal a scan at a known point.

A test that sleeps "long enough" for a scan to reach some point fails on a loaded machine, where the
interpreter alone may take longer to start than the sleep. ``StreamWatcher`` reads a child's stream
on a thread and lets the test wait, bounded, for a pattern to appear in it. ``start_on_terminal``
gives a child a pseudo-terminal as stderr, because a scan draws its progress line
(``3/12 probes, ...``) only on a terminal: that line is how a test sees how far a scan has got.
"""

from __future__ import annotations

import codecs
import os
import pty
import re
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO


class StreamWatcher:
    """Collects one stream's text on a daemon thread; ``wait_for`` blocks until a pattern shows."""

    def __init__(self, read_chunk: Callable[[], bytes]) -> None:
        self._read_chunk = read_chunk
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    @classmethod
    def of_pipe(cls, stream: IO[bytes]) -> StreamWatcher:
        return cls(lambda: stream.read1(65536))  # type: ignore[attr-defined]

    @classmethod
    def of_fd(cls, fd: int) -> StreamWatcher:
        def read() -> bytes:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's other side is closed (the child ended)
                chunk = b""
            if not chunk:
                os.close(fd)
            return chunk

        return cls(read)

    def _collect(self) -> None:
        while chunk := self._read_chunk():
            with self._changed:
                self._text += self._decoder.decode(chunk)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, pattern: str, seconds: float, start: int = 0) -> re.Match[str] | None:
        """The first match of ``pattern`` at or after ``start`` within ``seconds``; None if none showed."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + seconds
        with self._changed:
            while not (found := regex.search(self._text, start)) and not self._ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return found

    def text(self, seconds: float = 10) -> str:
        """Everything the stream said, once it ended (or after ``seconds``)."""
        self._thread.join(seconds)
        with self._changed:
            return self._text


def start_on_terminal(
    argv: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], StreamWatcher]:
    """Start ``argv`` with a pseudo-terminal as stderr (stdout discarded); the watcher reads the terminal."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=terminal, env=env)
    finally:
        os.close(terminal)
    watcher = StreamWatcher.of_fd(controller)
    return proc, watcher


def progress_done(watcher: StreamWatcher, done: int, seconds: float) -> bool:
    """True once the progress line on the terminal says at least ``done`` probes are done."""
    deadline = time.monotonic() + seconds
    position = 0
    while (left := deadline - time.monotonic()) > 0:
        found = watcher.wait_for(r"(\d+)/~?\d+ probes", left, position)
        if found is None:
            return False
        if int(found.group(1)) >= done:
            return True
        position = found.end()  # the line is redrawn a few times a second: wait for a later one
    return False
