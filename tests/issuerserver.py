"""A loopback HTTP server that publishes issuer certificates, as a CA's AIA caIssuers URL does.

Tests give it answers by path (a status, headers and a body; or a redirect; or silence) and read
back how often each path was asked for: the fetcher must ask once per URL per run, and never when
``--fetch-issuers`` is off. It listens on an ephemeral port of 127.0.0.1 only.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    chunked: bool = False  # Transfer-Encoding: chunked instead of Content-Length
    no_length: bool = False  # neither: the body ends when the connection does
    delay: float = 0.0  # seconds before answering


@dataclass
class IssuerServer:
    host: str
    port: int
    answers: dict[str, Answer] = field(default_factory=dict)
    asked: Counter[str] = field(default_factory=Counter)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def publish(self, path: str, body: bytes, **kw: object) -> str:
        self.answers[path] = Answer(body=body, **kw)  # type: ignore[arg-type]
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.answers[path] = Answer(status=status, headers=(("Location", location),))
        return self.url(path)


def _handler_for(server: IssuerServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # the name http.server calls
            server.asked[self.path] += 1
            answer = server.answers.get(self.path, Answer(status=404, body=b"not here\n"))
            if answer.delay:
                time.sleep(answer.delay)
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            if answer.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            elif not answer.no_length:
                self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if answer.chunked:
                for start in range(0, len(answer.body), 700):
                    piece = answer.body[start : start + 700]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(answer.body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet tests

    return Handler


@contextmanager
def issuer_server() -> Iterator[IssuerServer]:
    """An IssuerServer on 127.0.0.1, serving from a thread until the block ends."""
    state = IssuerServer("127.0.0.1", 0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(state))
    httpd.daemon_threads = True
    state.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)
