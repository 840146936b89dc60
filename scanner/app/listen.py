"""``ekuscan listen``: a TLS server that catches the certificate a peer really presents as a client.

``run_listen`` checks the request, binds the port (a usage error if it cannot), then serves
until ``--duration`` passes, ``--max-clients`` connected, or Ctrl-C/SIGTERM stop it. Every
connection is one endpoint (direction ``inbound``: the peer's address and source port),
judged the moment it ends with the same engine as ``inspect --as client``: only the client
links of the role, the chain being the client certificate itself (on X15.5 that is what the
separate client store holds). The writers, the inventory and ``--db`` are the scan's own.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import trio
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from OpenSSL import SSL

from scanner.app.defaults import DEFAULT_LISTEN_DURATION_S, DEFAULT_LISTEN_PORT, DEFAULT_LISTEN_TIMEOUT_S
from scanner.app.errors import UsageFailure
from scanner.app.inputs import analysis_context, load_policy, read_intermediates, read_roots, scanner_name
from scanner.app.output import ReportStream, reporting
from scanner.app.recording import Clock, finish_history, history_run, keep_recording
from scanner.app.scan import Stop
from scanner.core.analysis import AnalysisContext, analyze_host
from scanner.core.certs import NoCertificateError, split_certificates
from scanner.edge import runlog
from scanner.edge.files import intermediate_pool
from scanner.edge.listener import ListenConfig, ListenError, bind, local_address, serve_clients
from scanner.edge.pool import ScanTerminated, run_stoppable
from scanner.model import Endpoint, Observation, Role, Use, Verdict
from scanner.protocol.tls_server import ListenContextError, make_listen_context
from scanner.writers import OutputFormat

if TYPE_CHECKING:
    from scanner.store.session import RunSession

GENERATED_NAME = "ekuscan-listen.invalid"  # .invalid (RFC 2606): a name no peer can expect
GENERATED_VALIDITY = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class ListenRequest:
    """Everything ``ekuscan listen`` was asked, as given (checked by ``run_listen``)."""

    address: str = "127.0.0.1"
    port: int = DEFAULT_LISTEN_PORT
    cert: Path | None = None  # --cert PEM: the server certificate (its chain may follow it)
    key: Path | None = None  # --key PEM
    sip: bool = False  # answer one SIP OPTIONS with 200 and keep the peer's User-Agent
    ca_names: Path | None = None  # --ca-names PEM: the CAs the CertificateRequest names
    role: Role | None = None  # the role whose client links judge each chain
    duration: float = DEFAULT_LISTEN_DURATION_S
    max_clients: int | None = None
    timeout: float = DEFAULT_LISTEN_TIMEOUT_S  # per connection: the handshake, and the SIP request
    fmt: OutputFormat | None = None
    output: Path | None = None
    db: str | None = None
    scanner_name: str | None = None
    wait: bool = False
    quiet: bool = False
    policy_file: Path | None = None
    public_roots: Path | None = None
    intermediates: Path | None = None
    at: str | None = None
    warn_days: int | None = None


@dataclass(frozen=True, slots=True)
class ListenOutcome:
    worst: Verdict  # the worst verdict of any client
    stopped: Stop | None  # None: the duration passed or --max-clients came
    clients: int  # connections judged


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """The certificate the listener serves: given (--cert/--key) or generated at start."""

    certificate: x509.Certificate
    key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...] = ()
    generated: bool = False


def run_listen(request: ListenRequest, now: datetime, clock: Clock) -> ListenOutcome:
    """Listen, judge, write, record; ``now`` is when the run started, ``clock`` tells the time later."""
    _check(request)
    identity = server_identity(request.cert, request.key, now)
    ca_names = _read_certificates("--ca-names", request.ca_names) if request.ca_names else ()
    try:
        tls_context = make_listen_context(identity.certificate, identity.key, identity.chain, ca_names)
    except ListenContextError as exc:
        raise UsageFailure(f"--cert/--key: {exc}") from None
    analysis = _analysis(request, now)
    scanner = scanner_name(request.scanner_name)
    log = runlog.Log(quiet=request.quiet)
    try:
        sock = bind(request.address, request.port)
    except ListenError as exc:
        raise UsageFailure(str(exc)) from None
    try:
        address, port = local_address(sock)
        _announce(log, identity, address, port, request)
        template = Endpoint(
            target=_where(address, port), host=address, ip=address, port=port, role=request.role
        )
        config = ListenConfig(request.duration, request.max_clients, request.timeout, request.sip)
        with history_run(
            request.db, scanner, request.wait, now, analysis.now, clock, log, kind="listen"
        ) as session:
            with reporting(analysis, request.fmt, request.output, now, session=session) as stream:
                stopped = _serve(sock, tls_context, config, template, analysis, stream, log, session)
            if session is not None:
                from scanner.store import RunStatus

                status = {
                    None: RunStatus.COMPLETE,
                    Stop.INTERRUPTED: RunStatus.INTERRUPTED,
                    Stop.TERMINATED: RunStatus.TERMINATED,
                }[stopped]
                finish_history(
                    session, status, stream.inventory, clock, log, only_changes=False, changes_as_json=False
                )
    finally:
        sock.close()
    clients = stream.inventory.summary().endpoints
    if stopped is not None and not request.quiet:
        print("ekuscan: stopped; the output holds the clients caught so far", file=sys.stderr)
    return ListenOutcome(stream.inventory.worst_verdict(), stopped, clients)


def _check(request: ListenRequest) -> None:
    if (request.cert is None) != (request.key is None):
        raise UsageFailure("--cert and --key go together: give both, or neither for a generated certificate")
    if request.role is Role.SERVER:
        raise UsageFailure(
            "--role server: a plain TLS server has no client links to judge; choose expressway-c, "
            "expressway-e, expressway, cucm or cube"
        )
    if not 0 <= request.port <= 65535:
        raise UsageFailure(f"--port: {request.port} is not a TCP port (0-65535)")


def _analysis(request: ListenRequest, now: datetime) -> AnalysisContext:
    """The scan's analysis context, judging every chain as a client certificate."""
    policy = load_policy(request.policy_file)
    pool = intermediate_pool(read_intermediates(request.intermediates))
    analysis = analysis_context(
        read_roots(request.public_roots), request.at, request.warn_days, policy, now, pool
    )
    return dataclasses.replace(analysis, judged_as=Use.CLIENT)


def server_identity(cert: Path | None, key: Path | None, now: datetime) -> ServerIdentity:
    """The given certificate (its chain may follow it in the file) and key, or a generated pair."""
    if cert is None or key is None:
        from scanner.lab.pki import SERVER_AUTH, issue  # the lab's issuer: loaded only when used

        generated = issue(
            GENERATED_NAME,
            "ekuscan listen (generated at start)",
            issuer=None,
            not_before=now - timedelta(days=1),
            not_after=now + GENERATED_VALIDITY,
            ca=False,
            eku=[SERVER_AUTH],
            dns_names=[GENERATED_NAME],
        )
        return ServerIdentity(generated.cert, generated.key, generated=True)
    certificates = _read_certificates("--cert", cert)
    try:
        private_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except OSError as exc:
        raise UsageFailure(f"--key: cannot read {key}: {exc.strerror or exc}") from None
    except TypeError:
        raise UsageFailure(f"--key: {key} is encrypted; give an unencrypted PEM key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise UsageFailure(f"--key: {key} is not a PEM private key") from None
    return ServerIdentity(certificates[0], private_key, certificates[1:])


def _read_certificates(option: str, path: Path) -> tuple[x509.Certificate, ...]:
    try:
        ders = split_certificates(path.read_bytes())
    except OSError as exc:
        raise UsageFailure(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
    except NoCertificateError:
        raise UsageFailure(f"{option}: {path} holds no PEM certificate") from None
    try:
        return tuple(x509.load_der_x509_certificate(der) for der in ders)
    except ValueError as exc:
        raise UsageFailure(f"{option}: a certificate in {path} cannot be parsed ({exc})") from None


def _where(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _announce(
    log: runlog.Log, identity: ServerIdentity, address: str, port: int, request: ListenRequest
) -> None:
    if identity.generated:
        log.warning(
            "listen-certificate-generated",
            subject=f"CN={GENERATED_NAME}",
            note="peers that verify the server certificate reject it; give --cert/--key one they trust "
            "to see those peers' client certificates",
        )
    log.info(
        "listening",
        address=address,
        port=port,
        sip="yes" if request.sip else "no",
        duration_s=f"{request.duration:g}",
        max_clients=request.max_clients,
    )


def _serve(
    sock: socket.socket,
    tls_context: SSL.Context,
    config: ListenConfig,
    template: Endpoint,
    analysis: AnalysisContext,
    stream: ReportStream,
    log: runlog.Log,
    session: RunSession | None,
) -> Stop | None:
    """Serve until the bounds are reached or a signal stops it; each client is judged as it ends."""

    def on_client(observation: Observation) -> None:
        report = analyze_host([observation], analysis)[0]
        stream.record(report)
        leaf = report.leaf
        log.info(
            "client",
            peer=_where(observation.endpoint.host, observation.endpoint.port),
            status=observation.status.value,
            leaf=leaf.subject if leaf is not None else None,
            sip_banner=observation.sip_server,
            verdict=report.verdict.value,
        )

    async def body() -> None:
        async with trio.open_nursery() as nursery:
            if session is not None:
                nursery.start_soon(keep_recording, session.recorder)
            await serve_clients(sock, tls_context, config, template, on_client)
            nursery.cancel_scope.cancel()

    try:
        run_stoppable(body, (BrokenPipeError,))
    except KeyboardInterrupt:
        return Stop.INTERRUPTED
    except ScanTerminated:
        return Stop.TERMINATED
    return None


__all__ = ["ListenOutcome", "ListenRequest", "run_listen", "server_identity"]
