"""The header-block code SIP and HTTP share: where a bounded header block ends, its lines, a header's value.

SIP (RFC 3261 section 7) and HTTP/1.1 (RFC 9112 section 2.1) messages have the same shape: a start
line, header lines, an empty line, then a body we never need. The driver reads until
``header_block_complete`` or a size cap; the parsers then take ``head_lines`` of at most that many
bytes, so a hostile peer's answer costs a bounded amount of memory and work whatever it sends.
Any line ending is accepted (CRLF as the RFCs say, or bare LF as some servers send).
"""

from __future__ import annotations

from collections.abc import Sequence

_TERMINATORS = (b"\r\n\r\n", b"\n\n")


def header_block_complete(data: bytes) -> bool:
    """True once ``data`` holds the empty line that ends the header block (the body is never needed)."""
    return b"\r\n\r\n" in data or b"\n\n" in data


def head_lines(data: bytes, limit: int, encoding: str = "utf-8") -> list[str]:
    """The lines of the header block, start line first, found within the first ``limit`` bytes.

    A block cut short by the limit or by the peer hanging up gives the lines that did arrive, the
    last one possibly partial. Undecodable bytes are replaced, never fatal.
    """
    head = data[:limit]
    for terminator in _TERMINATORS:
        if terminator in head:
            head = head.split(terminator, 1)[0]
            break
    return head.decode(encoding, "replace").replace("\r\n", "\n").split("\n")


def find_header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The value of the first header called ``name`` (any case) in ``(lower-case name, value)`` pairs."""
    name = name.lower()
    return next((v for k, v in headers if k == name), None)
