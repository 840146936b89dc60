"""``ekuscan listen``: its options, turned into a ``ListenRequest`` for ``app.listen.run_listen``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scanner.app.defaults import DEFAULT_LISTEN_DURATION_S, DEFAULT_LISTEN_PORT, DEFAULT_LISTEN_TIMEOUT_S
from scanner.cli.options import (
    AtOption,
    DbOption,
    FailOnOption,
    FormatOption,
    IntermediatesOption,
    OutputOption,
    PolicyOption,
    RootsOption,
    WarnOption,
)
from scanner.cli.root import ExitCode, FailOn, exit_code_for
from scanner.model import Role

if TYPE_CHECKING:
    from scanner.app.listen import ListenOutcome

AddressOption = Annotated[
    str,
    typer.Option(
        "--address",
        metavar="ADDRESS",
        help="Address to listen on (loopback unless you say otherwise, e.g. 0.0.0.0 or the jump host's).",
    ),
]
PortOption = Annotated[
    int,
    typer.Option(
        "--port",
        min=0,
        max=65535,
        metavar="PORT",
        help="TCP port (below 1024 needs privileges; 0: any free).",
    ),
]
CertOption = Annotated[
    Path | None,
    typer.Option(
        "--cert",
        metavar="PEM",
        help="Server certificate to present (its chain may follow it in the file) [default: one generated "
        "at start, which peers that verify the server reject].",
        show_default=False,
    ),
]
KeyOption = Annotated[
    Path | None,
    typer.Option("--key", metavar="PEM", help="Its private key (unencrypted PEM).", show_default=False),
]
SipOption = Annotated[
    bool,
    typer.Option("--sip", help="Answer one SIP OPTIONS with 200 OK and record the peer's User-Agent."),
]
CaNamesOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-names",
        metavar="PEM",
        help="CA certificates to name in the certificate request [default: none, so a client presents "
        "whatever certificate it has].",
        show_default=False,
    ),
]
ListenRoleOption = Annotated[
    Role | None,
    typer.Option(
        "--role",
        help="Whose client certificate to expect: expressway-c, expressway-e, expressway (C or E), cucm "
        "or cube; its client links judge each chain. Default: from the SIP banner, else expressway.",
        show_default=False,
    ),
]
DurationOption = Annotated[
    float, typer.Option("--duration", min=0.1, metavar="SECONDS", help="Stop accepting after this long.")
]
MaxClientsOption = Annotated[
    int | None,
    typer.Option(
        "--max-clients",
        min=1,
        metavar="N",
        help="Stop after N connections [default: no cap].",
        show_default=False,
    ),
]
ListenTimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.05,
        max=600,
        metavar="SECONDS",
        help="Time a client has for the TLS handshake, and for its SIP request.",
    ),
]
ListenScannerOption = Annotated[
    str | None,
    typer.Option(
        "--scanner-name",
        "--scanner",
        envvar="EKUSCAN_SCANNER",
        metavar="NAME",
        help="Name of this scanner in --db [default: this machine's host name].",
        show_default=False,
    ),
]
ListenWaitOption = Annotated[
    bool, typer.Option("--wait", help="When another run holds the --db lock, wait for it to end.")
]
ListenQuietOption = Annotated[
    bool, typer.Option("-q", "--quiet", help="No informational lines on stderr; errors still print.")
]


def _now() -> datetime:
    return datetime.now(UTC)


def listen(
    address: AddressOption = "127.0.0.1",
    port: PortOption = DEFAULT_LISTEN_PORT,
    cert: CertOption = None,
    key: KeyOption = None,
    sip: SipOption = False,
    ca_names: CaNamesOption = None,
    role: ListenRoleOption = None,
    duration: DurationOption = DEFAULT_LISTEN_DURATION_S,
    max_clients: MaxClientsOption = None,
    timeout: ListenTimeoutOption = DEFAULT_LISTEN_TIMEOUT_S,
    fmt: FormatOption = None,
    output: OutputOption = None,
    fail_on: FailOnOption = FailOn.BREAKS,
    db: DbOption = None,
    scanner_name: ListenScannerOption = None,
    wait: ListenWaitOption = False,
    quiet: ListenQuietOption = False,
    policy_file: PolicyOption = None,
    public_roots: RootsOption = None,
    intermediates: IntermediatesOption = None,
    at: AtOption = None,
    warn_days: WarnOption = None,
) -> int:
    """Serve TLS and judge the certificate each connecting peer presents as a client.

    Point an Expressway zone or a CUCM SIP trunk at this host to see the certificate it really
    sends: X15.5's separate client store, or a CUCM trunk's CallManager certificate. Each
    connection is one endpoint (direction inbound), judged on the role's client links, as
    'ekuscan inspect --as client' judges a file. Ctrl-C or SIGTERM write what was caught.

    Example: ekuscan listen --address 0.0.0.0 --port 5061 --sip --role expressway-c
    """
    from scanner.app.listen import ListenRequest, run_listen  # loaded when run, not for --help

    request = ListenRequest(
        address=address,
        port=port,
        cert=cert,
        key=key,
        sip=sip,
        ca_names=ca_names,
        role=role,
        duration=duration,
        max_clients=max_clients,
        timeout=timeout,
        fmt=fmt,
        output=output,
        db=db,
        scanner_name=scanner_name,
        wait=wait,
        quiet=quiet,
        policy_file=policy_file,
        public_roots=public_roots,
        intermediates=intermediates,
        at=at,
        warn_days=warn_days,
    )
    return _exit_code(run_listen(request, _now(), _now), fail_on)


def _exit_code(outcome: ListenOutcome, fail_on: FailOn) -> ExitCode:
    """A stopped session says how it was stopped; a finished one, whether a client reached --fail-on."""
    from scanner.app.scan import Stop

    if outcome.stopped is Stop.INTERRUPTED:
        return ExitCode.INTERRUPTED
    if outcome.stopped is Stop.TERMINATED:
        return ExitCode.TERMINATED
    return exit_code_for(outcome.worst, fail_on)
