"""The lab's servers: trio listeners that pump pyOpenSSL memory-BIO connections, and a background lab."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import trio
from OpenSSL import SSL, crypto

from scanner.lab.fleet import DEFAULT_BASE, Behaviour, BoundService, ClientCAs, LabPlan, LabService, plan
from scanner.lab.pki import Issued, LabPKI, LeafKind
from scanner.protocol.headers import header_block_complete
from scanner.protocol.sip import MAX_RESPONSE_BYTES

CONNECTION_DEADLINE = 20.0  # a lab connection never lives longer than this
SILENT_HOLD = 15.0  # how long the silent service holds a connection before closing it


def server_context(leaf: Issued, chain: Sequence[Issued], pki: LabPKI, service: LabService) -> SSL.Context:
    tls_context = SSL.Context(SSL.TLS_METHOD)
    tls_context.use_certificate(leaf.cert)
    tls_context.use_privatekey(leaf.key)
    for extra in chain:
        tls_context.add_extra_chain_cert(extra.cert)
    if service.tls_max is not None:
        tls_context.set_max_proto_version(service.tls_max)
    if service.behaviour is Behaviour.MTLS_ABORT or service.asks_client_cert:
        demand = SSL.VERIFY_FAIL_IF_NO_PEER_CERT if service.behaviour is Behaviour.MTLS_ABORT else 0
        tls_context.set_verify(SSL.VERIFY_PEER | demand, lambda *_: True)
        # Name the CA whose client certificates the traversal zone accepts, as Expressway does:
        # the root of the host's own hierarchy (a public one there is itself a finding), or
        # another CA's, for the E that does not trust its C's issuer.
        private = any(extra is pki.private_ca for extra in chain)
        named = pki.private_root if private else pki.public_root
        if service.client_cas is ClientCAs.OTHER_PRIVATE_ROOT:
            named = pki.other_private_root
        tls_context.add_client_ca(named.cert)
    return tls_context


def verifying_context(leaf: Issued, trusted: Issued | None, version: int | None = None) -> SSL.Context:
    """A server that asks every client for a certificate and verifies it as a verifying OpenSSL
    server does (an Expressway-E's traversal zone): trusting only ``trusted``, and OpenSSL's
    default purpose for a client, sslclient, so a serverAuth-only certificate gets
    unsupported_certificate. ``trusted=None``: it asks, but accepts anything (no verification).
    ``version`` (SSL.TLS1_2_VERSION, ...) pins the protocol version."""
    tls_context = SSL.Context(SSL.TLS_METHOD)
    tls_context.use_certificate(leaf.cert)
    tls_context.use_privatekey(leaf.key)
    if version is not None:
        tls_context.set_min_proto_version(version)
        tls_context.set_max_proto_version(version)
    if trusted is None:
        tls_context.set_verify(SSL.VERIFY_PEER, lambda *_: True)
        return tls_context
    store = tls_context.get_cert_store()
    assert store is not None  # a new context always has one
    store.add_cert(crypto.X509.from_cryptography(trusted.cert))
    tls_context.add_client_ca(trusted.cert)
    # The callback keeps OpenSSL's own verdict: ``ok`` is what the verification found.
    tls_context.set_verify(
        SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda _conn, _cert, _err, _depth, ok: bool(ok)
    )
    return tls_context


async def _send(stream: trio.SocketStream, conn: SSL.Connection) -> None:
    while True:
        try:
            data = conn.bio_read(65536)
        except SSL.WantReadError:
            return
        await stream.send_all(data)


async def _recv_into(stream: trio.SocketStream, conn: SSL.Connection) -> bool:
    data = await stream.receive_some(65536)
    if not data:
        return False
    conn.bio_write(data)
    return True


async def _read_request(stream: trio.SocketStream, conn: SSL.Connection) -> bytes:
    buffer = b""
    while len(buffer) < MAX_RESPONSE_BYTES and not header_block_complete(buffer):
        try:
            buffer += conn.recv(65536)
        except SSL.WantReadError:
            if not await _recv_into(stream, conn):
                break
    return buffer


def sip_answer(request: bytes, banner: str) -> bytes:
    """200 OK to an OPTIONS, echoing the transaction headers (RFC 3261 8.2.6.2)."""
    lines = request.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    echoed = [
        ln
        for ln in lines[1:]
        if ln.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")
    ]
    head = [
        "SIP/2.0 200 OK",
        *echoed,
        f"Server: {banner}",
        "Allow: INVITE,ACK,CANCEL,BYE,OPTIONS,INFO",
        "Content-Length: 0",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode()


async def handle_connection(
    stream: trio.SocketStream, tls_context: SSL.Context | None, service: LabService
) -> None:
    """Serve one connection the way the service behaves; never longer than the deadline."""
    with trio.move_on_after(CONNECTION_DEADLINE):
        try:
            await _serve(stream, tls_context, service)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, SSL.Error):
            pass  # the scanner hung up (a close_notify before a request is a hang-up too): its right
    with trio.CancelScope(shield=True), trio.move_on_after(1):
        await stream.aclose()


async def _serve(stream: trio.SocketStream, tls_context: SSL.Context | None, service: LabService) -> None:
    if service.behaviour is Behaviour.SILENT:
        with trio.move_on_after(SILENT_HOLD):
            while await stream.receive_some(65536):
                pass
        return
    if service.behaviour is Behaviour.PLAIN:
        await stream.send_all(service.banner.encode())
        return
    assert tls_context is not None
    conn = SSL.Connection(tls_context, None)
    conn.set_accept_state()
    while True:
        try:
            conn.do_handshake()
            break
        except SSL.WantReadError:
            await _send(stream, conn)
            if not await _recv_into(stream, conn):
                return
        except SSL.Error:
            await _send(stream, conn)  # the alert: handshake_failure, certificate_required, ...
            return
    await _send(stream, conn)
    if service.behaviour in (Behaviour.SIP, Behaviour.HTTP, Behaviour.RAW):
        request = await _read_request(stream, conn)
        if not request:
            return
        if service.behaviour is Behaviour.SIP:
            answer = sip_answer(request, service.banner)
        elif service.behaviour is Behaviour.HTTP:
            answer = f"HTTP/1.1 200 OK\r\nServer: {service.banner}\r\nContent-Length: 0\r\n\r\n".encode()
        else:
            answer = service.answer
        conn.sendall(answer)
        await _send(stream, conn)
        if service.behaviour is Behaviour.RAW:
            return
    with contextlib.suppress(SSL.Error):
        await _drain(stream, conn)


async def _drain(stream: trio.SocketStream, conn: SSL.Connection) -> None:
    """Wait for the client to finish (or the deadline), as a real server would."""
    while True:
        try:
            conn.recv(65536)
        except SSL.WantReadError:
            if not await _recv_into(stream, conn):
                return
        except SSL.ZeroReturnError:
            return


def _can_bind(address: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe_sock:
        try:
            probe_sock.bind((address, port))
        except OSError as exc:
            return exc.errno not in (errno.EADDRNOTAVAIL, errno.EACCES, errno.EPERM)
    return True


def make_plan(pki: LabPKI, base: str = DEFAULT_BASE) -> LabPlan:
    """A plan that fits this machine: many loopback addresses if we have them, else one."""
    base_ip = ipaddress.ip_address(base)
    single = not _can_bind(str(base_ip + 1), 0)
    privileged = _can_bind(str(base_ip if single else base_ip + 1), 443)
    return plan(
        pki,
        str(base_ip if not single else ipaddress.ip_address("127.0.0.1")),
        single_address=single,
        privileged=privileged,
    )


async def serve_lab(
    lab: LabPlan, *, task_status: trio.TaskStatus[list[BoundService]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Bind every service, report them, and serve until cancelled."""
    async with trio.open_nursery() as nursery:
        leaves: dict[tuple[str, LeafKind], tuple[Issued, tuple[Issued, ...]]] = {}
        for bound in lab.services:
            tls_context = None
            # One certificate per host on all its ports, as an Expressway has, unless a service
            # has its own (CUCM's Tomcat beside its CallManager certificate).
            kind = bound.service.leaf or bound.host.leaf
            if kind is not None:
                if (bound.host.name, kind) not in leaves:
                    leaves[(bound.host.name, kind)] = lab.pki.leaf(bound.host.name, kind)
                leaf, chain = leaves[(bound.host.name, kind)]
                tls_context = server_context(leaf, chain, lab.pki, bound.service)
            listeners = await trio.open_tcp_listeners(bound.port, host=bound.address)

            async def handler(
                stream: trio.SocketStream,
                tls_context: SSL.Context | None = tls_context,
                service: LabService = bound.service,
            ) -> None:
                await handle_connection(stream, tls_context, service)

            nursery.start_soon(trio.serve_listeners, handler, listeners)
        task_status.started(lab.services)


class BackgroundLab:
    """The lab in a background thread, for tests and benchmarks (a context manager)."""

    def __init__(self, base: str = DEFAULT_BASE, *, now: datetime | None = None) -> None:
        self.pki = LabPKI.generate(now or datetime.now(UTC))
        self.plan = make_plan(self.pki, base)
        self.services: list[BoundService] = []
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def __enter__(self) -> BackgroundLab:
        self._thread = threading.Thread(target=self._run, name="ekuscan-lab", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the lab did not start within 30 s")
        if self._error is not None:
            raise RuntimeError(f"the lab failed to start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            with trio.CancelScope() as scope:
                self._cancel = scope
                async with trio.open_nursery() as nursery:
                    self.services = await nursery.start(serve_lab, self.plan)
                    self._ready.set()

        try:
            trio.run(main)
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    def __exit__(self, *exc: object) -> None:
        if self._token is not None and self._cancel is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._cancel.cancel)
        if self._thread is not None:
            self._thread.join(10)

    def find(self, host: str, port: int) -> BoundService:
        return next(s for s in self.services if s.host.name == host and s.service.port == port)
