"""How OpenSSL's names and errors read as text: RFC 4514 names, one-line error descriptions."""

from __future__ import annotations

from OpenSSL import SSL

from scanner.core.certs import rfc4514_text


def name_text(components: list[tuple[bytes, bytes]]) -> str:
    """A name's components as RFC 4514 text: most specific first, the reverse of the DER sequence."""
    return rfc4514_text(
        (k.decode("ascii", "replace"), v.decode("utf-8", "replace")) for k, v in reversed(components)
    )


def alert_text(exc: SSL.Error) -> str:
    """A one-line description of an OpenSSL error (the alert the peer sent, usually)."""
    items = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    parts = [str(item[-1]) for item in items if isinstance(item, tuple) and item]
    return "; ".join(parts) or type(exc).__name__
