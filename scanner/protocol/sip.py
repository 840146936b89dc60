"""SIP OPTIONS: the request we send after a TLS handshake on a SIP port, and the parser of its answer.

Pure code (RFC 3261 sections 7, 8.1.1 and 11). The parser is deliberately forgiving in what it
accepts (folded headers, compact forms, any line ending) and strict in what it costs: it looks at
the header block only (``headers.py``, shared with HTTP), which the driver caps at
``MAX_RESPONSE_BYTES``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from scanner.protocol.headers import find_header, head_lines

DEFAULT_SIP_PORTS = frozenset({5061, 5062, 7001})
MAX_RESPONSE_BYTES = 16384
USER_AGENT = "ekuscan"


@dataclass(frozen=True, slots=True)
class SipResponse:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]  # (lower-case name, value), in order

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case; compact forms are already expanded)."""
        return find_header(self.headers, name)

    @property
    def server(self) -> str | None:
        """The product banner: Server in a response, User-Agent if a peer sent that instead."""
        return self.header("server") or self.header("user-agent")


_COMPACT = {"f": "from", "t": "to", "i": "call-id", "v": "via", "l": "content-length", "m": "contact"}


def build_options(host: str, port: int, local_host: str = "ekuscan.invalid", local_port: int = 5061) -> bytes:
    """An OPTIONS request with the mandatory headers (RFC 3261 8.1.1)."""
    target = f"[{host}]" if ":" in host and not host.startswith("[") else host
    branch = "z9hG4bK" + secrets.token_hex(8)  # the RFC 3261 magic cookie, then a unique part
    tag = secrets.token_hex(6)
    call_id = secrets.token_hex(12)
    lines = [
        f"OPTIONS sip:{target}:{port};transport=tls SIP/2.0",
        f"Via: SIP/2.0/TLS {local_host}:{local_port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:ekuscan@{local_host}>;tag={tag}",
        f"To: <sip:{target}>",
        f"Call-ID: {call_id}@{local_host}",
        "CSeq: 1 OPTIONS",
        f"Contact: <sip:ekuscan@{local_host}:{local_port};transport=tls>",
        "Accept: application/sdp",
        f"User-Agent: {USER_AGENT}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


class SipParseError(ValueError):
    """The bytes are not a SIP response."""


def parse_response(data: bytes) -> SipResponse:
    """Parse a SIP response's status line and headers; raises SipParseError on garbage."""
    lines = head_lines(data, MAX_RESPONSE_BYTES)
    status_line = lines[0].strip()
    parts = status_line.split(" ", 2)
    code = parts[1] if len(parts) > 1 else ""
    # isascii(): str.isdigit() is also true for "²" or "٣", which int() refuses or misreads
    if not parts[0].startswith("SIP/") or not (code.isascii() and code.isdigit() and len(code) == 3):
        raise SipParseError(f"not a SIP response: {status_line[:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation of the previous header
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            continue
        key = name.strip().lower()
        headers.append((_COMPACT.get(key, key), value.strip()))
    return SipResponse(
        status=int(parts[1]), reason=parts[2].strip() if len(parts) > 2 else "", headers=tuple(headers)
    )
