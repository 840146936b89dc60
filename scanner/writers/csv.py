"""CSV: one row per endpoint, streamed, for spreadsheets.

Rows are written by ``report.safety.CsvRows``: a cell that starts with ``=``, ``+``, ``-``, ``@``,
tab or carriage return gets a leading ``'`` (OWASP), so a spreadsheet shows a banner or a subject
as text rather than running it as a formula. The values are otherwise as in the JSON.
"""

from __future__ import annotations

from typing import TextIO

from scanner.model import EndpointReport
from scanner.report.document import iso
from scanner.report.inventory import Inventory
from scanner.report.safety import CsvRows
from scanner.report.sink import RunInfo, Writer
from scanner.report.spooling import MemorySpool, SpoolFactory

COLUMNS = (
    "host",
    "ip",
    "port",
    "role",
    "label",
    "sni",
    "status",
    "error",
    "tls_version",
    "client_cert_requested",
    "sip_server",
    "trust",
    "leaf_subject",
    "leaf_issuer",
    "leaf_eku",
    "leaf_not_after",
    "leaf_sha256",
    "verdict",
    "breaks_on",
    "breaking_links",
    "findings",
    # added with issue 3; new columns go at the end so that scripts reading by position keep working
    "role_source",
    "product",
    "software_version",
    "http_server",
    "at_risk_links",
    # added with issue 9
    "root_programs",
    "link_conditions",
    "services",
)


class CsvWriter(Writer):
    def __init__(self, out: TextIO, run: RunInfo, *, spool: SpoolFactory = MemorySpool) -> None:
        super().__init__(out, run, spool=spool)
        self._csv = CsvRows(out)
        self._csv.writerow(COLUMNS)

    def add(self, report: EndpointReport) -> None:
        self._csv.writerow(_cells(report))

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        self.out.flush()


def _cells(report: EndpointReport) -> tuple[object, ...]:
    """One endpoint's values, in COLUMNS order."""
    obs, leaf = report.observation, report.leaf
    ep = obs.endpoint
    return (
        ep.host,
        ep.ip or "",
        ep.port,
        report.role.value,
        ep.label,
        ep.sni or "",
        obs.status.value,
        obs.error or "",
        obs.tls_version or "",
        "yes" if obs.client_cert_requested else "no",
        obs.sip_server or "",
        report.trust.trust.value,
        leaf.subject if leaf else "",
        leaf.issuer if leaf else "",
        ";".join(leaf.eku) if leaf and leaf.eku is not None else ("(none)" if leaf else ""),
        iso(leaf.not_after) if leaf else "",
        leaf.sha256 if leaf else "",
        report.verdict.value,
        iso(report.breaks_on) or "",
        ";".join(f"{link.name}/{link.uses.value}" for link in report.links if link.verdict.value == "breaks"),
        ";".join(f.code for f in report.findings),
        report.role_source.value,
        report.software.product.value if report.software else "",
        str(report.software.version) if report.software and report.software.version else "",
        obs.http_server or "",
        ";".join(
            f"{link.name}/{link.uses.value}" for link in report.links if link.verdict.value == "at-risk"
        ),
        ";".join(p.value for p in report.trust.root_programs),
        ";".join(
            f"{link.name}/{link.uses.value}: {link.condition}" for link in report.links if link.condition
        ),
        ";".join(report.services),
    )
