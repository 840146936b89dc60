"""Watching a client connection only from the server's certificate request on.

What the probe needs to see beyond pyOpenSSL's answers: that the server asked for a
certificate (it may ask without naming a CA), and after that its first alert (the verdict
on our certificate) and a TLS 1.3 session ticket (it took our Finished). OpenSSL's info
callback sees all of it, but it runs at every state change, 14 times in a plain TLS 1.3
handshake, each time through Python. On the context that cost 0.14-0.21 ms of client CPU
per handshake on the bench machine (1,000 loopback handshakes against nginx: 1.18-1.30 ms
with it, 1.00-1.20 ms without), some 15% of a handshake, for servers that mostly never ask.

So the context gets a certificate callback instead (``SSL_CTX_set_cert_cb``). On a client,
OpenSSL calls it only when the server sent a CertificateRequest, as it prepares our
Certificate message, with or without a certificate to send. That one call reports the
request and puts the info callback on that connection alone (``SSL_set_info_callback``),
for the rest of it: the alert and the ticket come later. An alert before a request is not
needed: a preflight whose server never asked says so before looking at alerts.

Both are cffi callbacks of cryptography's bindings, the ones pyOpenSSL itself uses. They
find the ``Connection`` the way pyOpenSSL's own callbacks do, through its
``_reverse_mapping``; the context's ``SSL_CTX`` is its ``_context``. Where any of these is
missing (another pyOpenSSL), ``watch_requests`` says so and the caller puts its info
callback on the whole context, as before: slower, the same facts.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from OpenSSL import SSL

InfoCallback = Callable[[SSL.Connection, int, int], None]
RequestCallback = Callable[[SSL.Connection], None]

CERT_CALLBACK_OK: Final = 1  # what a certificate callback returns to let the handshake go on


@dataclass(frozen=True, slots=True)
class _Hooks:
    on_request: RequestCallback
    on_info: InfoCallback


def _bindings() -> tuple[Any, Any] | None:
    try:
        from OpenSSL._util import ffi, lib
    except ImportError:
        return None
    needed = ("SSL_CTX_set_cert_cb", "SSL_set_info_callback")
    if not all(hasattr(lib, name) for name in needed):
        return None
    if not isinstance(getattr(SSL.Connection, "_reverse_mapping", None), weakref.WeakValueDictionary):
        return None
    return ffi, lib


_BINDINGS: Final = _bindings()
# Keeps each context's hooks (and the cffi handle OpenSSL holds a pointer to) alive as long as
# the context; and, for a connection under watch, which hooks its info callback calls.
_CONTEXT_HOOKS: weakref.WeakKeyDictionary[SSL.Context, tuple[_Hooks, Any]] = weakref.WeakKeyDictionary()
_WATCHED: weakref.WeakKeyDictionary[SSL.Connection, _Hooks] = weakref.WeakKeyDictionary()


def _connection(ssl: Any) -> SSL.Connection | None:
    found: SSL.Connection | None = SSL.Connection._reverse_mapping.get(ssl)
    return found


if _BINDINGS is not None:
    _ffi, _lib = _BINDINGS

    # A Python error inside one of these is printed by cffi and the declared default returned
    # (``error=``), so the handshake goes on: a watcher never breaks a probe.
    @_ffi.callback("void (*)(const SSL *, int, int)")  # type: ignore[untyped-decorator]
    def _info(ssl: Any, where: int, ret: int) -> None:
        connection = _connection(ssl)
        hooks = _WATCHED.get(connection) if connection is not None else None
        if connection is not None and hooks is not None:
            hooks.on_info(connection, where, ret)

    @_ffi.callback("int (*)(SSL *, void *)", error=CERT_CALLBACK_OK)  # type: ignore[untyped-decorator]
    def _certificate_requested(ssl: Any, arg: Any) -> int:
        connection = _connection(ssl)
        if connection is not None:
            hooks: _Hooks = _ffi.from_handle(arg)
            _WATCHED[connection] = hooks
            _lib.SSL_set_info_callback(ssl, _info)
            hooks.on_request(connection)
        return CERT_CALLBACK_OK


def watch_requests(tls_context: SSL.Context, on_request: RequestCallback, on_info: InfoCallback) -> bool:
    """Call ``on_request(connection)`` when a server asks one of ``tls_context``'s connections for
    a certificate, and from then on ``on_info(connection, where, ret)`` at each state change of
    that connection, as OpenSSL's info callback. False: not possible with this pyOpenSSL (the
    caller then watches every connection with ``set_info_callback``). Call before making
    connections: OpenSSL copies the callback into each one as it is made."""
    raw = getattr(tls_context, "_context", None)
    if _BINDINGS is None or raw is None:
        return False
    hooks = _Hooks(on_request, on_info)
    handle = _ffi.new_handle(hooks)
    _CONTEXT_HOOKS[tls_context] = (hooks, handle)
    _lib.SSL_CTX_set_cert_cb(raw, _certificate_requested, handle)
    return True
