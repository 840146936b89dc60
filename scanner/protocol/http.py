"""HTTP HEAD: the request we send after a TLS handshake on an HTTPS port, and the parser of its answer.

Pure code. On 8443 the Expressway-E MRA listener answers with ``Server: CE_E`` (domain.md Q2b); the
``Server`` header of any HTTPS port goes into the inventory. Like the SIP parser, it reads the
header block only (``headers.py``), which the driver caps at ``MAX_RESPONSE_BYTES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.protocol.headers import find_header, head_lines

DEFAULT_HTTP_PORTS = frozenset({443, 8443})
MAX_RESPONSE_BYTES = 16384
USER_AGENT = "ekuscan"


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value), in order

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case)."""
        return find_header(self.headers, name)


class HttpParseError(ValueError):
    """The bytes are not an HTTP response."""


def build_head(host: str) -> bytes:
    """``HEAD /`` with the headers HTTP/1.1 requires, asking the server to close afterwards."""
    authority = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return (
        f"HEAD / HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii", "replace")


def parse_response(data: bytes) -> HttpResponse:
    """Parse the status line and headers; raises HttpParseError on anything else."""
    lines = head_lines(data, MAX_RESPONSE_BYTES, "iso-8859-1")
    parts = lines[0].strip().split(" ", 2)
    code = parts[1] if len(parts) > 1 else ""
    if not parts[0].startswith("HTTP/") or not (code.isascii() and code.isdigit() and len(code) == 3):
        raise HttpParseError(f"not an HTTP response: {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip() and name == name.strip():  # RFC 9112: no space before the colon
            headers.append((name.lower(), value.strip()))
    return HttpResponse(int(code), tuple(headers))
