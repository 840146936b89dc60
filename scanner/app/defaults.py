"""The defaults and bounds that the commands' options show in ``--help``, without the commands' code.

Typer reads every command's option declarations whenever ``ekuscan`` starts, ``--version``
included: a default fetched from ``app.scan`` or ``app.listen`` would load trio, OpenSSL and the
analysis first (about a quarter of a second of CPU). The modules that use these import them
from here too, so a default is written once.
"""

from __future__ import annotations

from scanner.edge.sizing import DEFAULT_CONCURRENCY, MAX_WORKERS

DEFAULT_LISTEN_PORT = 5061  # SIP over TLS: where Expressway zones and CUCM trunks dial
DEFAULT_LISTEN_DURATION_S = 600.0
DEFAULT_LISTEN_TIMEOUT_S = 10.0
DEFAULT_MAX_AGE_DAYS = 7.0  # report: endpoints not seen for longer are listed as stale

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_LISTEN_DURATION_S",
    "DEFAULT_LISTEN_PORT",
    "DEFAULT_LISTEN_TIMEOUT_S",
    "DEFAULT_MAX_AGE_DAYS",
    "MAX_WORKERS",
]
