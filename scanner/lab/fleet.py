"""The lab's simulated estate: its hosts, what each serves, and the address and port plan."""

from __future__ import annotations

import csv
import enum
import io
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from OpenSSL import SSL

from scanner.lab.pki import LAB_DOMAIN, LabPKI, LeafKind
from scanner.model import Role, Status, Verdict

DEFAULT_BASE = "127.0.2.0"
UNPRIVILEGED_OFFSET = 10000  # 443 -> 10443 when we may not bind low ports
SINGLE_ADDRESS_PORT_BASE = 20000  # single-address mode: host i, service j -> 20000 + 100 i + j


class Behaviour(enum.Enum):
    TLS = "tls"  # handshake, then wait for the client to close
    SIP = "sip"  # handshake, answer one SIP OPTIONS with 200 OK and a Server banner
    HTTP = "http"  # handshake, answer one HTTP request with a Server header
    MTLS_ABORT = "mtls-abort"  # demand a client certificate, abort without one
    PLAIN = "plain"  # speak plain text, not TLS
    SILENT = "silent"  # accept, never answer
    RAW = "raw"  # handshake, then answer one request with the service's raw bytes (tests)


class ClientCAs(enum.Enum):
    """Which CA a service that asks for client certificates names as the one it accepts."""

    HOST_ROOT = "host-root"  # the root of the host's own hierarchy, as Expressway's trusted list holds it
    OTHER_PRIVATE_ROOT = "other-private-root"  # the DMZ root, which issued no lab leaf: its C is refused


@dataclass(frozen=True)
class LabService:
    port: int
    behaviour: Behaviour
    tls_max: int | None = None  # SSL.TLS1_2_VERSION pins TLS 1.2
    banner: str = ""  # SIP Server / HTTP Server header / plain-text greeting
    answer: bytes = b""  # RAW: sent as is after the request, then the connection is closed
    expect_status: Status = Status.OK
    expect_verdict: Verdict = Verdict.OK
    leaf: LeafKind | None = None  # this service's own certificate (CUCM's Tomcat); None: the host's
    asks_client_cert: bool = False  # ask for a client certificate (naming the host's root), not demand one
    client_cas: ClientCAs = ClientCAs.HOST_ROOT  # the CA named in the CertificateRequest


@dataclass(frozen=True)
class LabHost:
    name: str
    role: Role  # what the host is; the targets CSV says so only if role_in_csv
    leaf: LeafKind | None
    services: tuple[LabService, ...]
    about: str
    role_in_csv: bool = True  # False: the scan must infer the role from banners and listeners
    pair: str = ""  # CSV label shared by a C/E pair (their releases are compared); default: name
    # The host's verdict where the estate changes it (a pairing that breaks): None, the worst of
    # its services' own verdicts.
    expect_host_verdict: Verdict | None = None

    @property
    def label(self) -> str:
        return self.pair or self.name

    @property
    def expected_verdict(self) -> Verdict:
        """The host's verdict in a scan of the whole lab."""
        if self.expect_host_verdict is not None:
            return self.expect_host_verdict
        return max((s.expect_verdict for s in self.services), key=lambda v: v.rank, default=Verdict.UNKNOWN)


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
        LeafKind.PRIVATE_BOTH,  # the CallManager certificate, on SIP TLS 5061
        (
            LabService(5061, Behaviour.SIP, banner=CUCM_BANNER),
            # Tomcat on 8443 only: 443 moves to 10443 without privileges, a port no CUCM link names.
            LabService(
                8443,
                Behaviour.HTTP,
                banner="Apache",
                leaf=LeafKind.PUBLIC_SERVER_ONLY,
                expect_verdict=Verdict.BREAKS,
            ),
        ),
        "CUCM with a certificate per service: CallManager (5061, its trunks' client certificate too) from a "
        "private CA, Tomcat (8443) renewed public serverAuth-only. The trunks work; only Tomcat's own client "
        "uses break, where they are used. Judged on the 8443 certificate, the trunks would break",
        role_in_csv=False,
    ),
    LabHost(
        "cube",
        Role.CUBE,
        LeafKind.PUBLIC_BOTH_EXPIRING,
        (
            LabService(
                5061, Behaviour.SIP, banner=CUBE_BANNER, asks_client_cert=True, expect_verdict=Verdict.AT_RISK
            ),
        ),
        "CUBE with a public serverAuth+clientAuth certificate expiring in 75 days; it asks trunk peers for "
        "certificates from a public root, which matters only where it checks their EKU (FN74350)",
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
    LabHost(
        "expc-alone",
        Role.EXPRESSWAY_C,
        LeafKind.PUBLIC_BOTH_LEAF_ONLY,
        (LabService(5061, Behaviour.SIP, banner=EXPRESSWAY_C_BANNER, expect_verdict=Verdict.AT_RISK),),
        "Expressway-C that sends its public serverAuth+clientAuth leaf alone (its intermediate was never "
        "uploaded): completed with the lab's intermediates (--intermediates), it is public and at risk",
    ),
    LabHost(
        "expe-dmz",
        Role.EXPRESSWAY_E,
        LeafKind.PRIVATE_BOTH,
        (
            LabService(5061, Behaviour.SIP, banner=EXPRESSWAY_E_BANNER),
            LabService(7001, Behaviour.MTLS_ABORT, client_cas=ClientCAs.OTHER_PRIVATE_ROOT),
        ),
        "Expressway-E whose traversal zone trusts only the DMZ root, not the CA that issued its C's "
        "certificate: each certificate is fine alone, the traversal zone fails on trust",
        pair="pair-dmz",
        expect_host_verdict=Verdict.BREAKS,
    ),
    LabHost(
        "expc-dmz",
        Role.EXPRESSWAY_C,
        LeafKind.PRIVATE_BOTH,
        (LabService(5061, Behaviour.SIP, banner=EXPRESSWAY_C_BANNER),),
        "Expressway-C on the private CA, paired with expe-dmz, which does not trust that CA",
        pair="pair-dmz",
        expect_host_verdict=Verdict.BREAKS,
    ),
)


# --- where each service listens -----------------------------------------------------------


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
