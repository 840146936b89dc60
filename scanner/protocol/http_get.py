"""HTTP/1.1 GET of one small resource (an AIA caIssuers certificate), sans-I/O: URL, request, answer.

The edge (``edge/issuers.py``) sends ``build_get(url)`` over a plain TCP connection, reads until
``answer_complete`` says the answer is whole (its Content-Length is there, or the last chunk of
a chunked body, or the server closed the connection), never more than its size cap, and calls
``parse_answer``. Only ``http://`` URLs: that is what AIA caIssuers uses (RFC 5280 4.2.2.1), and
a certificate needs no secrecy; following an ``https://`` redirect would need a second TLS
stack whose trust we would have to decide.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from scanner.protocol.http import USER_AGENT, HttpParseError, HttpResponse, parse_response

MAX_HEADER_BYTES = 16384
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_END_OF_HEADERS = b"\r\n\r\n"


class UrlError(ValueError):
    """Not an http:// URL we can fetch; the message says why."""


@dataclass(frozen=True, slots=True)
class HttpUrl:
    text: str  # as given
    host: str  # a name, or an address (IPv6 without brackets)
    port: int
    target: str  # the path and query, "/" at least

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"

    def resolve(self, reference: str) -> HttpUrl:
        """A Location header's URL, relative to this one."""
        return parse_http_url(urljoin(self.text, reference.strip()))


def parse_http_url(text: str) -> HttpUrl:
    """``http://host[:port]/path``; raises UrlError for anything else (https, user info, no host)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"not a URL: {text[:200]!r} ({exc})") from None
    if parts.scheme.lower() != "http":
        raise UrlError(f"only http:// issuer URLs are fetched, not {text[:200]!r}")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise UrlError(f"not a plain http://host/ URL: {text[:200]!r}")
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not host.isascii() or any(c.isspace() for c in host):
            raise UrlError(f"not a host name: {host[:100]!r}") from None
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if any(c.isspace() or not c.isprintable() for c in target):
        raise UrlError(f"the path of {text[:200]!r} holds spaces or control characters")
    return HttpUrl(text.strip(), host, port or 80, target)


def build_get(url: HttpUrl) -> bytes:
    """``GET`` with the headers HTTP/1.1 requires, asking the server to close afterwards."""
    return (
        f"GET {url.target} HTTP/1.1\r\nHost: {url.authority}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: application/pkix-cert, application/pkcs7-mime, */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    head: HttpResponse
    body: bytes

    @property
    def status(self) -> int:
        return self.head.status

    @property
    def location(self) -> str | None:
        return self.head.header("location") if self.status in REDIRECT_STATUSES else None


def _split(data: bytes) -> tuple[bytes, bytes] | None:
    end = data.find(_END_OF_HEADERS, 0, MAX_HEADER_BYTES + len(_END_OF_HEADERS))
    if end < 0:
        return None
    return data[:end], data[end + len(_END_OF_HEADERS) :]


def answer_complete(data: bytes) -> bool:
    """True once ``data`` holds a whole answer without waiting for the server to close."""
    split = _split(data)
    if split is None:
        return False
    head, body = split
    try:
        response = parse_response(head + _END_OF_HEADERS)
        length = _content_length(response)
    except HttpParseError:
        return True  # nothing more will make it an HTTP answer: stop reading, parse_answer says why
    if _chunked(response):
        try:
            _dechunk(body)
        except HttpParseError:
            return False
        return True
    return length is not None and len(body) >= length


def parse_answer(data: bytes, closed: bool) -> HttpAnswer:
    """The answer's status, headers and body; ``closed``: the server ended the connection after
    ``data``. Raises HttpParseError when it is not a whole HTTP answer."""
    split = _split(data)
    if split is None:
        raise HttpParseError("the answer has no complete header block")
    head, body = split
    response = parse_response(head + _END_OF_HEADERS)
    if _chunked(response):
        return HttpAnswer(response, _dechunk(body))
    length = _content_length(response)
    if length is not None:
        if len(body) < length:
            raise HttpParseError(f"the body ended after {len(body)} of {length} bytes")
        return HttpAnswer(response, body[:length])
    if not closed:
        raise HttpParseError("the body has no length and the connection did not end")
    return HttpAnswer(response, body)


def _content_length(response: HttpResponse) -> int | None:
    value = response.header("content-length")
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise HttpParseError(f"bad Content-Length {value[:40]!r}")
    return int(value)


def _chunked(response: HttpResponse) -> bool:
    return "chunked" in (response.header("transfer-encoding") or "").lower()


def _dechunk(body: bytes) -> bytes:
    """A chunked body (RFC 9112 7.1) decoded; HttpParseError when it is cut short or malformed."""
    out = bytearray()
    position = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise HttpParseError("a chunk size line is cut short")
        size_text = body[position:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise HttpParseError(f"bad chunk size {size_text[:20]!r}") from None
        if size < 0:
            raise HttpParseError("negative chunk size")
        start = line_end + 2
        if size == 0:
            return bytes(out)
        if len(body) < start + size + 2:
            raise HttpParseError("a chunk is cut short")
        out += body[start : start + size]
        position = start + size + 2
