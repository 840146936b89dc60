"""Loopback servers that present real public certificates, whose private keys nobody here holds.

A TLS server cannot finish a handshake without the key of its certificate, and the keys of the
real leaves in tests/data/realcerts are their owners'. The chain travels before any signature,
though: in TLS 1.2 the server's Certificate message follows its ServerHello, and the server
proves the key only in the ServerKeyExchange after it. This server writes ServerHello and
Certificate by hand (RFC 5246 7.4.1.3 and 7.4.2, with the chain it was given), then ends the
handshake with a handshake_failure alert, as a traversal port does that wants a client
certificate. The scanner's real OpenSSL client has parsed the chain by then and keeps it, so
the chain a test scans is exactly the real one, byte for byte.

Everything listens on loopback (127.0.0.1, or an address of tests/addresses.py), on ephemeral ports.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import trio
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.netutil import Handler, serve

HANDSHAKE, ALERT = 0x16, 0x15
TLS12 = b"\x03\x03"
SERVER_HELLO, CERTIFICATE = 2, 11
# TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 and TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: OpenSSL's
# client checks that the suite's authentication matches the certificate's key.
SUITE_FOR_RSA, SUITE_FOR_EC = 0xC02F, 0xC02B
HANDSHAKE_FAILURE_ALERT = bytes([ALERT]) + TLS12 + b"\x00\x02\x02\x28"
RENEGOTIATION_INFO = b"\xff\x01\x00\x01\x00"  # RFC 5746, the empty initial one


def _handshake_message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def server_flight(chain: Sequence[bytes]) -> bytes:
    """ServerHello and Certificate for ``chain`` (DER, leaf first) in one TLS 1.2 record."""
    key = x509.load_der_x509_certificate(chain[0]).public_key()
    if isinstance(key, rsa.RSAPublicKey):
        suite = SUITE_FOR_RSA
    elif isinstance(key, ec.EllipticCurvePublicKey):
        suite = SUITE_FOR_EC
    else:
        raise ValueError(f"no TLS 1.2 suite here for a {type(key).__name__}")
    hello = (
        TLS12
        + os.urandom(32)
        + b"\x00"  # no session id
        + struct.pack(">HB", suite, 0)  # the suite, no compression
        + struct.pack(">H", len(RENEGOTIATION_INFO))
        + RENEGOTIATION_INFO
    )
    certificates = b"".join(len(der).to_bytes(3, "big") + der for der in chain)
    body = _handshake_message(SERVER_HELLO, hello) + _handshake_message(
        CERTIFICATE, len(certificates).to_bytes(3, "big") + certificates
    )
    return bytes([HANDSHAKE]) + TLS12 + struct.pack(">H", len(body)) + body


def chain_only_handler(chain: Sequence[bytes]) -> Handler:
    """A handler that reads the ClientHello record, presents ``chain`` and aborts the handshake."""

    async def handler(stream: trio.SocketStream) -> None:
        with trio.move_on_after(10):
            try:
                received = b""
                while len(received) < 5 or len(received) < 5 + int.from_bytes(received[3:5], "big"):
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    received += data
                await stream.send_all(server_flight(chain) + HANDSHAKE_FAILURE_ALERT)
                with trio.move_on_after(2):  # let the client read the alert before we close
                    while await stream.receive_some(65536):
                        pass
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass
        await stream.aclose()

    return handler


@contextmanager
def background_servers(handlers: Sequence[Handler], hosts: Sequence[str] = ()) -> Iterator[list[int]]:
    """Each handler served on its own ephemeral port, of 127.0.0.1 or of the address ``hosts``
    gives it, in a thread; yields the ports."""
    ready = threading.Event()
    holder: dict[str, object] = {}
    ports: list[int] = []

    async def main() -> None:
        with trio.CancelScope() as scope:
            holder["scope"], holder["token"] = scope, trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                addresses = list(hosts) or ["127.0.0.1"] * len(handlers)
                ports.extend(
                    [await serve(nursery, h, host=a) for h, a in zip(handlers, addresses, strict=True)]
                )
                ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    assert ready.wait(30), "the servers did not start"
    try:
        yield ports
    finally:
        token, scope = holder["token"], holder["scope"]
        assert isinstance(token, trio.lowlevel.TrioToken) and isinstance(scope, trio.CancelScope)
        token.run_sync_soon(scope.cancel)
        thread.join(10)
