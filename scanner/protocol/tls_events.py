"""The events of the sans-I/O TLS machines and what a handshake revealed: plain data.

Kept apart from the state machines, as h11 keeps its ``_events``: the client (``tls.py``) and
the server (``tls_server.py``) return them, the drivers and the tests read them. ``tls.py``
re-exports them, so a driver imports a machine and its events from one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class _NeedData(enum.Enum):
    NEED_DATA = "need-data"


NEED_DATA: Final = _NeedData.NEED_DATA


class FailureKind(enum.StrEnum):
    NOT_TLS = "not-tls"  # the first bytes from the server are not a TLS record
    EOF = "eof"  # the server closed before the handshake finished
    ALERT = "alert"  # the server sent an alert, or OpenSSL gave up on what it sent


@dataclass(frozen=True, slots=True)
class TLSFacts:
    """What the handshake revealed, whether or not it completed."""

    version: str | None
    cipher: str | None
    chain_der: tuple[bytes, ...]
    client_cert_requested: bool
    client_ca_names: tuple[str, ...]
    # The same names as DER, in the same order: what a name comparison with a chain needs
    # (OpenSSL compares encodings, not RFC 4514 text).
    client_ca_names_der: tuple[bytes, ...] = ()
    peer_alert: int | None = None  # the code of the first alert the peer sent (not close_notify)


@dataclass(frozen=True, slots=True)
class HandshakeDone:
    """The handshake completed: HANDSHAKING -> ESTABLISHED."""

    facts: TLSFacts


@dataclass(frozen=True, slots=True)
class HandshakeFailed:
    """The handshake ended without completing: -> FAILED, final."""

    kind: FailureKind
    detail: str
    facts: TLSFacts  # may still hold the chain (TLS 1.2 abort after CertificateRequest)
    banner: bytes = b""  # the first bytes a non-TLS peer sent


@dataclass(frozen=True, slots=True)
class ApplicationData:
    """Decrypted bytes from the peer, as many as have arrived (never empty)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class ConnectionEnded:
    """The peer ended an established connection: -> CLOSED, final."""

    alert: str | None  # OpenSSL's text for what ended it (the alert, usually), or None


Event = _NeedData | HandshakeDone | HandshakeFailed | ApplicationData | ConnectionEnded
