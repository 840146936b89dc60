"""The SIP side of ``ekuscan listen --sip``: parse the one request a peer sends, and answer it (pure).

An Expressway zone or a CUCM SIP trunk pointed at the listener sends OPTIONS (its keep-alive
ping) as soon as TLS is up. We answer 200 OK, echoing the transaction headers as RFC 3261
section 8.2.6.2 asks, so the peer sees a live neighbour, and keep its banner: the
``User-Agent`` of the request (``Server`` where a peer sends that instead). Any other method
gets 405 with ``Allow: OPTIONS``: the listener takes no calls. Like the client side
(``sip.py``), only the header block is read, and the driver caps it at ``MAX_REQUEST_BYTES``.
"""

from __future__ import annotations

from dataclasses import dataclass

from scanner.protocol.headers import find_header, head_lines

MAX_REQUEST_BYTES = 16384
SERVER_BANNER = "ekuscan-listen"
_ECHOED = ("via", "from", "to", "call-id", "cseq")  # RFC 3261 8.2.6.2: copied into the response
_COMPACT = {"f": "from", "t": "to", "i": "call-id", "v": "via", "l": "content-length", "m": "contact"}


class SipRequestError(ValueError):
    """The bytes are not a SIP request."""


@dataclass(frozen=True, slots=True)
class SipRequest:
    method: str
    uri: str
    headers: tuple[tuple[str, str], ...]  # (lower-case name, compact forms expanded, value), in order

    def header(self, name: str) -> str | None:
        return find_header(self.headers, name)

    @property
    def banner(self) -> str | None:
        """The peer's product banner: User-Agent in a request, Server if it sent that instead."""
        return self.header("user-agent") or self.header("server")


def parse_request(data: bytes) -> SipRequest:
    """The request line and headers of a SIP request; raises SipRequestError on anything else."""
    lines = head_lines(data, MAX_REQUEST_BYTES)
    parts = lines[0].strip().split(" ")
    if len(parts) != 3 or parts[2] != "SIP/2.0" or not parts[0].isascii() or not parts[0].isalpha():
        raise SipRequestError(f"not a SIP request: {lines[0].strip()[:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation of the previous header
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if sep and name.strip():
            key = name.strip().lower()
            headers.append((_COMPACT.get(key, key), value.strip()))
    return SipRequest(parts[0].upper(), parts[1], tuple(headers))


def answer(request: SipRequest) -> bytes:
    """200 OK to OPTIONS, 405 to anything else; the transaction headers echoed, no body."""
    status = "200 OK" if request.method == "OPTIONS" else "405 Method Not Allowed"
    echoed = [f"{_display(name)}: {value}" for name, value in request.headers if name in _ECHOED]
    head = [
        f"SIP/2.0 {status}",
        *echoed,
        f"Server: {SERVER_BANNER}",
        "Allow: OPTIONS",
        "Accept: application/sdp",
        "Content-Length: 0",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8")


def _display(name: str) -> str:
    return "Call-ID" if name == "call-id" else "CSeq" if name == "cseq" else name.capitalize()
