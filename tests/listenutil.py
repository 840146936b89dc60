"""Helpers for the ``ekuscan listen`` tests: the command in a subprocess, and real TLS clients of it.

Everything talks to 127.0.0.1 only, on the port the kernel gave the listener (``--port 0``).
"""

from __future__ import annotations

import json
import queue
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from OpenSSL import SSL

from scanner.lab import Issued
from tests.conftest import REPO

LOOPBACK = "127.0.0.1"
OPENSSL = shutil.which("openssl")
_PORT = re.compile(r"ekuscan: info: listening address=\S+ port=(\d+)")


@dataclass
class ListenProcess:
    """``ekuscan listen --address ADDRESS --port PORT ARGS`` in a subprocess; ``port`` once it listens."""

    args: Sequence[str]
    address: str = LOOPBACK
    port: int = 0  # 0: the kernel's choice; then the port it listens on
    process: subprocess.Popen[str] | None = None
    stderr_lines: list[str] = field(default_factory=list)
    _lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _out: queue.Queue[str | None] = field(default_factory=queue.Queue)
    _readers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> ListenProcess:
        command = [sys.executable, "-m", "scanner", "listen", "--address", self.address]
        command += ["--port", str(self.port), *self.args]
        self.process = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        # Both pipes are read as the process writes them: a listener blocked on a full pipe
        # would stall every client.
        assert self.process.stdout is not None and self.process.stderr is not None
        for pipe, lines in ((self.process.stderr, self._lines), (self.process.stdout, self._out)):
            reader = threading.Thread(target=_read_lines, args=(pipe, lines), daemon=True)
            reader.start()
            self._readers.append(reader)
        match = self.wait_for(_PORT, 30)
        self.port = int(match.group(1))
        return self

    def wait_for(self, pattern: re.Pattern[str], seconds: float) -> re.Match[str]:
        """The first stderr line from now on that matches (every line is kept in ``stderr_lines``)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no {pattern.pattern!r} on stderr in {seconds}s: {self.stderr_lines}"
                ) from None
            if line is None:
                raise AssertionError(f"listen ended before {pattern.pattern!r}: {self.stderr_lines}")
            line = line.rstrip("\n")
            self.stderr_lines.append(line)
            if match := pattern.search(line):
                return match

    def wait_clients(self, count: int, seconds: float = 30) -> None:
        for _ in range(count):
            self.wait_for(re.compile(r"ekuscan: info: client "), seconds)

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stdout_line(self, seconds: float) -> str:
        """The next line the process writes to stdout (while it runs: streaming)."""
        line = self._out.get(timeout=seconds)
        assert line is not None, "stdout ended"
        return line

    def finish(self, seconds: float = 60) -> tuple[int, str]:
        """Wait for the exit; returns the exit code and the stdout not yet read (stderr lines are
        in ``stderr_lines``)."""
        assert self.process is not None
        code = self.process.wait(seconds)
        while (line := self._lines.get(timeout=10)) is not None:
            self.stderr_lines.append(line.rstrip("\n"))
        out = []
        while (chunk := self._out.get(timeout=10)) is not None:
            out.append(chunk)
        return code, "".join(out)

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for reader in self._readers:
            reader.join(10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def _read_lines(pipe: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in pipe:
        lines.put(line)
    lines.put(None)


def endpoints_of(stdout: str) -> list[dict[str, object]]:
    """The endpoints of a JSON inventory or of JSONL lines."""
    text = stdout.strip()
    if text.startswith("{\n"):
        return list(json.loads(text)["endpoints"])
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def client_context(identity: Issued | None = None, chain: Sequence[Issued] = (), tls_max: int | None = None):
    tls_context = SSL.Context(SSL.TLS_METHOD)
    tls_context.set_verify(SSL.VERIFY_NONE)
    if identity is not None:
        tls_context.use_certificate(identity.cert)
        tls_context.use_privatekey(identity.key)
        for extra in chain:
            tls_context.add_extra_chain_cert(extra.cert)
    if tls_max is not None:
        tls_context.set_max_proto_version(tls_max)
    return tls_context


def pyopenssl_client(
    port: int,
    identity: Issued | None = None,
    chain: Sequence[Issued] = (),
    *,
    request: bytes = b"",
    tls_max: int | None = None,
    timeout: float = 20,
) -> bytes:
    """A blocking pyOpenSSL client: handshake (presenting ``identity``), send ``request``, read the
    answer's header block; returns it (b"" without a request)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        conn = SSL.Connection(client_context(identity, chain, tls_max), sock)
        conn.set_connect_state()
        blocking(sock, conn.do_handshake, timeout)
        answer = b""
        if request:
            conn.sendall(request)
            while b"\r\n\r\n" not in answer:
                try:
                    answer += blocking(sock, lambda: conn.recv(65536), timeout)
                except (SSL.ZeroReturnError, SSL.SysCallError):
                    break
        try:
            conn.shutdown()
        except SSL.Error:
            pass
        return answer


T = TypeVar("T")


def blocking(sock: socket.socket, call: Callable[[], T], timeout: float) -> T:
    """``call`` again while OpenSSL wants the socket (a socket with a timeout is non-blocking
    underneath), for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except SSL.WantReadError:
            wait = ([sock], [])
        except SSL.WantWriteError:
            wait = ([], [sock])
        left = deadline - time.monotonic()
        if left <= 0 or not any(select.select(*wait, [], left)[:2]):
            raise TimeoutError(f"the listener did not answer within {timeout}s")


def s_client(
    port: int, *args: str, stdin: bytes = b"", seconds: float = 20
) -> subprocess.CompletedProcess[bytes]:
    """Debian's ``openssl s_client`` against the listener (``-cert``/``-key`` among ``args``)."""
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, "s_client", "-connect", f"{LOOPBACK}:{port}", "-quiet", *args],
        input=stdin,
        capture_output=True,
        timeout=seconds,
        check=False,
    )


def write_pem(path: Path, *items: Issued, key: bool = False) -> Path:
    from cryptography.hazmat.primitives import serialization

    data = b"".join(item.pem for item in items)
    if key:
        data = items[0].key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    path.write_bytes(data)
    return path


def sip_options(user_agent: str) -> bytes:
    lines = [
        "OPTIONS sip:ekuscan-listen.invalid:5061;transport=tls SIP/2.0",
        "Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKlisten1;rport",
        "Max-Forwards: 70",
        "From: <sip:ping@127.0.0.1>;tag=a1",
        "To: <sip:ekuscan-listen.invalid>",
        "Call-ID: listen-test-1@127.0.0.1",
        "CSeq: 42 OPTIONS",
        f"User-Agent: {user_agent}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
