"""The built-in lab: a simulated Expressway estate in trouble, served on loopback.

``ekuscan lab``, ``make demo``, the docker-compose setup, the tests and the benchmarks all
use this package, so what the demo shows is what the tests check. ``pki`` makes the
certificates, ``fleet`` says which hosts exist and where they listen, ``servers`` serves them;
this module re-exports their public names.

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

from scanner.lab.fleet import (
    CUBE_BANNER,
    CUCM_BANNER,
    DEFAULT_BASE,
    ESTATE,
    EXPRESSWAY_C_BANNER,
    EXPRESSWAY_C_NEWER_BANNER,
    EXPRESSWAY_E_BANNER,
    EXPRESSWAY_X155_BANNER,
    SINGLE_ADDRESS_PORT_BASE,
    T12,
    UNPRIVILEGED_OFFSET,
    Behaviour,
    BoundService,
    LabHost,
    LabPlan,
    LabService,
    plan,
    targets_csv,
)
from scanner.lab.pki import CLIENT_AUTH, LAB_DOMAIN, SERVER_AUTH, Issued, LabPKI, LeafKind, issue
from scanner.lab.servers import (
    CONNECTION_DEADLINE,
    SILENT_HOLD,
    BackgroundLab,
    handle_connection,
    make_plan,
    serve_lab,
    server_context,
    sip_answer,
    verifying_context,
)

__all__ = [
    "CLIENT_AUTH",
    "CONNECTION_DEADLINE",
    "CUBE_BANNER",
    "CUCM_BANNER",
    "DEFAULT_BASE",
    "ESTATE",
    "EXPRESSWAY_C_BANNER",
    "EXPRESSWAY_C_NEWER_BANNER",
    "EXPRESSWAY_E_BANNER",
    "EXPRESSWAY_X155_BANNER",
    "LAB_DOMAIN",
    "SERVER_AUTH",
    "SILENT_HOLD",
    "SINGLE_ADDRESS_PORT_BASE",
    "T12",
    "UNPRIVILEGED_OFFSET",
    "BackgroundLab",
    "Behaviour",
    "BoundService",
    "Issued",
    "LabHost",
    "LabPKI",
    "LabPlan",
    "LabService",
    "LeafKind",
    "handle_connection",
    "issue",
    "make_plan",
    "plan",
    "serve_lab",
    "server_context",
    "sip_answer",
    "targets_csv",
    "verifying_context",
]
