"""The built-in lab: a simulated Expressway estate in trouble, served on loopback.

``ekuscan lab``, ``make demo``, the docker-compose setup, the tests and the benchmarks all
use this module, so what the demo shows is what the tests check.

A PKI is generated at start with ``cryptography`` (dates relative to the current time):
a lab "public" root (written out so ``--public-roots`` can name it) with a serverAuth+
clientAuth issuing CA and a serverAuth-only "Gen-Y" issuing CA, and a lab private root
with an issuing CA without EKU. Each simulated host gets one loopback address (127.0.2.1,
127.0.2.2, ...) and the Expressway ports; servers are pyOpenSSL connections over memory
BIOs, pumped by trio, all in one thread.

Where only 127.0.0.1 exists (macOS), every host shares it and gets its own block of ports;
where ports below 1024 need privileges we lack, 443 is served on 10443. The targets the
lab prints say where everything really is.
"""

from __future__ import annotations

import contextlib
import csv
import enum
import errno
import io
import ipaddress
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL

from scanner.model import Role, Status, Verdict
from scanner.protocol.headers import header_block_complete
from scanner.protocol.sip import MAX_RESPONSE_BYTES

DEFAULT_BASE = "127.0.2.0"
LAB_DOMAIN = "lab.ekuscan.test"  # .test is reserved (RFC 2606): never a real name
CONNECTION_DEADLINE = 20.0  # a lab connection never lives longer than this
SILENT_HOLD = 15.0  # how long the silent service holds a connection before closing it
UNPRIVILEGED_OFFSET = 10000  # 443 -> 10443 when we may not bind low ports
SINGLE_ADDRESS_PORT_BASE = 20000  # single-address mode: host i, service j -> 20000 + 100 i + j

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


# --- the PKI ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ZZ"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def issue(
    cn: str,
    org: str,
    *,
    issuer: Issued | None,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    eku: Sequence[x509.ObjectIdentifier] | None,
    dns_names: Sequence[str] = (),
    key: ec.EllipticCurvePrivateKey | None = None,
    raw_eku: bytes | None = None,
) -> Issued:
    """One certificate. ``eku=None`` leaves the EKU extension out; ``raw_eku`` writes a
    malformed one (for the unparseable-certificate case)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = _name(cn, org)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if raw_eku is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.oid.ExtensionOID.EXTENDED_KEY_USAGE, raw_eku), critical=False
        )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    signing_key = issuer.key if issuer is not None else key
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


@dataclass(frozen=True)
class LabPKI:
    now: datetime
    public_root: Issued
    public_ca: Issued  # serverAuth + clientAuth, like DigiCert G2 or HydrantID O1 today
    public_geny_ca: Issued  # serverAuth only, like Let's Encrypt YR1/YE1
    private_root: Issued
    private_ca: Issued  # no EKU, as private CAs usually are

    @classmethod
    def generate(cls, now: datetime) -> LabPKI:
        now = now.replace(microsecond=0)  # certificates hold whole seconds
        day = timedelta(days=1)
        public_root = issue(
            "EKUSCAN LAB Public Root R1",
            "EKUSCAN LAB Public Trust",
            issuer=None,
            not_before=now - 900 * day,
            not_after=now + 7000 * day,
            ca=True,
            eku=None,
        )
        public_ca = issue(
            "EKUSCAN LAB Public TLS CA 2024",
            "EKUSCAN LAB Public Trust",
            issuer=public_root,
            not_before=now - 800 * day,
            not_after=now + 1500 * day,
            ca=True,
            eku=[SERVER_AUTH, CLIENT_AUTH],
        )
        geny = issue(
            "EKUSCAN LAB Public TLS YR1",
            "EKUSCAN LAB Public Trust",
            issuer=public_root,
            not_before=now - 300 * day,
            not_after=now + 1000 * day,
            ca=True,
            eku=[SERVER_AUTH],
        )
        private_root = issue(
            "Example Corp Private Root",
            "Example Corp",
            issuer=None,
            not_before=now - 900 * day,
            not_after=now + 5000 * day,
            ca=True,
            eku=None,
        )
        private_ca = issue(
            "Example Corp UC Issuing CA",
            "Example Corp",
            issuer=private_root,
            not_before=now - 800 * day,
            not_after=now + 3000 * day,
            ca=True,
            eku=None,
        )
        return cls(now, public_root, public_ca, geny, private_root, private_ca)

    def leaf(self, host: str, kind: LeafKind) -> tuple[Issued, tuple[Issued, ...]]:
        """A host's certificate and the chain it sends after it."""
        day = timedelta(days=1)
        names = [f"{host}.{LAB_DOMAIN}"]
        both = [SERVER_AUTH, CLIENT_AUTH]
        nb = self.now - 60 * day
        if kind is LeafKind.PUBLIC_SERVER_ONLY:
            return issue(
                names[0],
                "Example Corp",
                issuer=self.public_ca,
                not_before=nb,
                not_after=self.now + 140 * day,
                ca=False,
                eku=[SERVER_AUTH],
                dns_names=names,
            ), (self.public_ca,)
        if kind is LeafKind.PUBLIC_BOTH_EXPIRING:
            return issue(
                names[0],
                "Example Corp",
                issuer=self.public_ca,
                not_before=self.now - 300 * day,
                not_after=self.now + 75 * day,
                ca=False,
                eku=both,
                dns_names=names,
            ), (self.public_ca,)
        if kind is LeafKind.PRIVATE_BOTH:
            return issue(
                names[0],
                "Example Corp",
                issuer=self.private_ca,
                not_before=nb,
                not_after=self.now + 700 * day,
                ca=False,
                eku=both,
                dns_names=names,
            ), (self.private_ca, self.private_root)
        if kind is LeafKind.PUBLIC_GENY:
            return issue(
                names[0],
                "Example Corp",
                issuer=self.public_geny_ca,
                not_before=nb,
                not_after=self.now + 150 * day,
                ca=False,
                eku=both,
                dns_names=names,
            ), (self.public_geny_ca,)
        if kind is LeafKind.PRIVATE_EXPIRED:
            return issue(
                names[0],
                "Example Corp",
                issuer=self.private_ca,
                not_before=self.now - 400 * day,
                not_after=self.now - 10 * day,
                ca=False,
                eku=both,
                dns_names=names,
            ), (self.private_ca,)
        raise ValueError(kind)


class LeafKind(enum.Enum):
    PUBLIC_SERVER_ONLY = "public serverAuth-only"
    PUBLIC_BOTH_EXPIRING = "public serverAuth+clientAuth, expires in 75 days"
    PRIVATE_BOTH = "private CA, serverAuth+clientAuth"
    PUBLIC_GENY = "public leaf with both EKUs under a serverAuth-only intermediate"
    PRIVATE_EXPIRED = "private CA, expired 10 days ago"


# --- the estate ---------------------------------------------------------------------------


class Behaviour(enum.Enum):
    TLS = "tls"  # handshake, then wait for the client to close
    SIP = "sip"  # handshake, answer one SIP OPTIONS with 200 OK and a Server banner
    HTTP = "http"  # handshake, answer one HTTP request with a Server header
    MTLS_ABORT = "mtls-abort"  # demand a client certificate, abort without one
    PLAIN = "plain"  # speak plain text, not TLS
    SILENT = "silent"  # accept, never answer
    RAW = "raw"  # handshake, then answer one request with the service's raw bytes (tests)


@dataclass(frozen=True)
class LabService:
    port: int
    behaviour: Behaviour
    tls_max: int | None = None  # SSL.TLS1_2_VERSION pins TLS 1.2
    banner: str = ""  # SIP Server / HTTP Server header / plain-text greeting
    answer: bytes = b""  # RAW: sent as is after the request, then the connection is closed
    expect_status: Status = Status.OK
    expect_verdict: Verdict = Verdict.OK


@dataclass(frozen=True)
class LabHost:
    name: str
    role: Role  # what the host is; the targets CSV says so only if role_in_csv
    leaf: LeafKind | None
    services: tuple[LabService, ...]
    about: str
    role_in_csv: bool = True  # False: the scan must infer the role from banners and listeners
    pair: str = ""  # CSV label shared by a C/E pair (their releases are compared); default: name

    @property
    def label(self) -> str:
        return self.pair or self.name


T12 = SSL.TLS1_2_VERSION
EXPRESSWAY_E_BANNER = "TANDBERG/4137 (X14.3.2)"  # an affected release (FN74362)
EXPRESSWAY_C_BANNER = "TANDBERG/4137 (X14.3.2)"
EXPRESSWAY_C_NEWER_BANNER = "TANDBERG/4137 (X15.3.2)"  # upgraded without its E: a mismatch
EXPRESSWAY_X155_BANNER = "TANDBERG/4139 (X15.5.1)"  # fixed: separate client certificate store
CUCM_BANNER = "Cisco-CUCM14.0"
CUBE_BANNER = "Cisco-SIPGateway/IOS-17.6.5"

ESTATE: tuple[LabHost, ...] = (
    LabHost(
        "expe-public",
        Role.EXPRESSWAY_E,
        LeafKind.PUBLIC_SERVER_ONLY,
        (
            LabService(5061, Behaviour.SIP, banner=EXPRESSWAY_E_BANNER, expect_verdict=Verdict.BREAKS),
            LabService(7001, Behaviour.MTLS_ABORT, expect_verdict=Verdict.BREAKS),
            LabService(8443, Behaviour.HTTP, banner="CE_E", expect_verdict=Verdict.BREAKS),
            LabService(443, Behaviour.HTTP, banner="Apache", expect_verdict=Verdict.BREAKS),
        ),
        "Expressway-E renewed with a public serverAuth-only certificate: its client links break now",
        role_in_csv=False,
        pair="pair-public",
    ),
    LabHost(
        "expc-public",
        Role.EXPRESSWAY_C,
        LeafKind.PUBLIC_BOTH_EXPIRING,
        (
            LabService(5061, Behaviour.SIP, banner=EXPRESSWAY_C_BANNER, expect_verdict=Verdict.AT_RISK),
            LabService(443, Behaviour.HTTP, banner="Apache", expect_verdict=Verdict.AT_RISK),
        ),
        "Expressway-C with a public serverAuth+clientAuth certificate: the renewal will drop clientAuth",
        pair="pair-public",
    ),
    LabHost(
        "expe-private",
        Role.EXPRESSWAY_E,
        LeafKind.PRIVATE_BOTH,
        (
            LabService(5061, Behaviour.SIP, banner=EXPRESSWAY_E_BANNER),
            LabService(7001, Behaviour.MTLS_ABORT, tls_max=T12),
        ),
        "Expressway-E on a private CA: fine; its traversal port demands a client certificate (TLS 1.2)",
        pair="pair-private",
    ),
    LabHost(
        "expc-private",
        Role.EXPRESSWAY_C,
        LeafKind.PRIVATE_BOTH,
        (
            LabService(5061, Behaviour.SIP, banner=EXPRESSWAY_C_NEWER_BANNER),
            LabService(443, Behaviour.HTTP, banner="Apache"),
        ),
        "Expressway-C on a private CA: fine, but upgraded to X15.3.2 while its E runs X14.3.2",
        pair="pair-private",
    ),
    LabHost(
        "expc-geny",
        Role.EXPRESSWAY_C,
        LeafKind.PUBLIC_GENY,
        (LabService(5061, Behaviour.SIP, banner=EXPRESSWAY_C_BANNER, expect_verdict=Verdict.BREAKS),),
        "Expressway-C whose leaf has clientAuth under a serverAuth-only intermediate: client links break",
    ),
    LabHost(
        "expe-expired",
        Role.EXPRESSWAY_E,
        LeafKind.PRIVATE_EXPIRED,
        (LabService(443, Behaviour.HTTP, banner="Apache", expect_verdict=Verdict.BREAKS),),
        "a certificate that expired ten days ago",
    ),
    LabHost(
        "expe-x155",
        Role.EXPRESSWAY_E,
        LeafKind.PUBLIC_SERVER_ONLY,
        (
            LabService(5061, Behaviour.SIP, banner=EXPRESSWAY_X155_BANNER),
            LabService(7001, Behaviour.MTLS_ABORT, expect_verdict=Verdict.AT_RISK),
            LabService(8443, Behaviour.HTTP, banner="CE_E"),
        ),
        "Expressway-E on X15.5 with a public serverAuth-only certificate: fine as a server; its client "
        "certificate is in a separate store; its traversal zone trusts a public root",
        role_in_csv=False,
    ),
    LabHost(
        "cucm",
        Role.CUCM,
        LeafKind.PUBLIC_SERVER_ONLY,
        (LabService(5061, Behaviour.SIP, banner=CUCM_BANNER, expect_verdict=Verdict.BREAKS),),
        "CUCM whose CallManager certificate was renewed public serverAuth-only: its outbound trunks break",
        role_in_csv=False,
    ),
    LabHost(
        "cube",
        Role.CUBE,
        LeafKind.PUBLIC_BOTH_EXPIRING,
        (LabService(5061, Behaviour.SIP, banner=CUBE_BANNER, expect_verdict=Verdict.AT_RISK),),
        "CUBE with a public serverAuth+clientAuth certificate expiring in 75 days",
        role_in_csv=False,
    ),
    LabHost(
        "plaintext",
        Role.SERVER,
        None,
        (
            LabService(
                5061,
                Behaviour.PLAIN,
                banner="SIP/2.0 400 Bad Request\r\n\r\n",
                expect_status=Status.NO_TLS,
                expect_verdict=Verdict.UNKNOWN,
            ),
        ),
        "a port that answers in plain text",
    ),
    LabHost(
        "silent",
        Role.SERVER,
        None,
        (LabService(7001, Behaviour.SILENT, expect_status=Status.TIMEOUT, expect_verdict=Verdict.UNKNOWN),),
        "a port that accepts connections and never answers",
    ),
)


# --- binding and serving ------------------------------------------------------------------


@dataclass(frozen=True)
class BoundService:
    host: LabHost
    service: LabService
    address: str
    port: int  # where it really listens

    @property
    def target(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"

    @property
    def sni(self) -> str:
        return f"{self.host.name}.{LAB_DOMAIN}"


@dataclass
class LabPlan:
    """Where each service will listen, decided before binding."""

    pki: LabPKI
    services: list[BoundService] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan(
    pki: LabPKI,
    base: str = DEFAULT_BASE,
    *,
    single_address: bool = False,
    privileged: bool = True,
    estate: Sequence[LabHost] = ESTATE,
) -> LabPlan:
    """Addresses and ports for the estate: one address per host from ``base`` + 1."""
    lab = LabPlan(pki)
    base_ip = ipaddress.ip_address(base)
    for i, host in enumerate(estate):
        for j, service in enumerate(host.services):
            if single_address:
                address, port = str(base_ip), SINGLE_ADDRESS_PORT_BASE + 100 * i + j
            else:
                address, port = str(base_ip + i + 1), service.port
                if port < 1024 and not privileged:
                    port += UNPRIVILEGED_OFFSET
            lab.services.append(BoundService(host, service, address, port))
    if single_address:
        lab.notes.append(
            f"only {base_ip} is usable here: every host shares it, on ports {SINGLE_ADDRESS_PORT_BASE} and up"
        )
    elif not privileged and any(s.service.port < 1024 for s in lab.services):
        lab.notes.append(
            f"no privilege to bind ports below 1024: they are served at port + {UNPRIVILEGED_OFFSET}"
        )
    return lab


def server_context(leaf: Issued, chain: Sequence[Issued], pki: LabPKI, service: LabService) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.use_certificate(leaf.cert)
    ctx.use_privatekey(leaf.key)
    for extra in chain:
        ctx.add_extra_chain_cert(extra.cert)
    if service.tls_max is not None:
        ctx.set_max_proto_version(service.tls_max)
    if service.behaviour is Behaviour.MTLS_ABORT:
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *_: True)
        # Name the CA whose client certificates the traversal zone accepts, as Expressway does:
        # the root of the host's own hierarchy (a public one there is itself a finding).
        private = any(extra is pki.private_ca for extra in chain)
        ctx.add_client_ca((pki.private_root if private else pki.public_root).cert)
    return ctx


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


async def handle_connection(stream: trio.SocketStream, ctx: SSL.Context | None, service: LabService) -> None:
    """Serve one connection the way the service behaves; never longer than the deadline."""
    with trio.move_on_after(CONNECTION_DEADLINE):
        try:
            await _serve(stream, ctx, service)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, SSL.Error):
            pass  # the scanner hung up (a close_notify before a request is a hang-up too): its right
    with trio.CancelScope(shield=True), trio.move_on_after(1):
        await stream.aclose()


async def _serve(stream: trio.SocketStream, ctx: SSL.Context | None, service: LabService) -> None:
    if service.behaviour is Behaviour.SILENT:
        with trio.move_on_after(SILENT_HOLD):
            while await stream.receive_some(65536):
                pass
        return
    if service.behaviour is Behaviour.PLAIN:
        await stream.send_all(service.banner.encode())
        return
    assert ctx is not None
    conn = SSL.Connection(ctx, None)
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
        leaves: dict[str, tuple[Issued, tuple[Issued, ...]]] = {}
        for bound in lab.services:
            ctx = None
            if bound.host.leaf is not None:
                # One certificate per host, on all its ports, as an Expressway has.
                if bound.host.name not in leaves:
                    leaves[bound.host.name] = lab.pki.leaf(bound.host.name, bound.host.leaf)
                leaf, chain = leaves[bound.host.name]
                ctx = server_context(leaf, chain, lab.pki, bound.service)
            listeners = await trio.open_tcp_listeners(bound.port, host=bound.address)

            async def handler(
                stream: trio.SocketStream, ctx: SSL.Context | None = ctx, service: LabService = bound.service
            ) -> None:
                await handle_connection(stream, ctx, service)

            nursery.start_soon(trio.serve_listeners, handler, listeners)
        task_status.started(lab.services)


def targets_csv(services: Sequence[BoundService]) -> str:
    """The lab's endpoints as a target CSV for ``ekuscan scan -i``."""
    out = io.StringIO()
    out.write("# ekuscan built-in lab targets (generated by `ekuscan lab --write-targets`)\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["target", "ports", "role", "sni", "label"])
    for bound in services:
        role = bound.host.role.value if bound.host.role_in_csv else ""
        writer.writerow([bound.address, bound.port, role, bound.sni, bound.host.label])
    return out.getvalue()


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
