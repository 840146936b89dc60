"""CSV: one row per endpoint, streamed, for spreadsheets.

Rows are written by ``report.safety.CsvRows``: a cell that starts with ``=``, ``+``, ``-``, ``@``,
tab or carriage return gets a leading ``'`` (OWASP), so a spreadsheet shows a banner or a subject
as text rather than running it as a formula. The values are otherwise as in the JSON.
"""

from __future__ import annotations

import io
from typing import TextIO

from scanner.model import EndpointReport, Sighting
from scanner.report.document import iso
from scanner.report.inventory import EndpointSortKey, Inventory
from scanner.report.safety import CsvRows
from scanner.report.sink import Renderer, RunInfo, Writer
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
    # added with issues 11 and 12: who spoke first (listen), the --client-cert preflight, and,
    # in a report from the history store, where and when the endpoint was seen (else empty)
    "direction",
    "client_auth_test",
    "client_auth_alert",
    "seen_at",
    "scanner",
    "run_id",
    "age_days",
    "stale",
    "vanished",
    "rejudged",
)


class CsvWriter(Writer):
    def __init__(self, out: TextIO, run: RunInfo, *, spool: SpoolFactory = MemorySpool) -> None:
        super().__init__(out, run, spool=spool)
        self._csv = CsvRows(out)
        self._csv.writerow(COLUMNS)

    def add(self, report: EndpointReport) -> None:
        self._csv.writerow(_cells(report))

    def renderer(self) -> Renderer:
        return csv_endpoint

    def add_rendered(self, key: EndpointSortKey, rendered: bytes) -> None:
        self.out.write(rendered.decode())

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        self.out.flush()


def csv_endpoint(report: EndpointReport) -> bytes:
    """The endpoint's row, its newline included (``CsvWriter.renderer``)."""
    line = io.StringIO()
    CsvRows(line).writerow(_cells(report))
    return line.getvalue().encode()


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


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
        obs.direction.value,
        obs.client_auth_test.outcome.value if obs.client_auth_test else "",
        (obs.client_auth_test.alert or "") if obs.client_auth_test else "",
        *_sighting_cells(report.sighting),
    )


def _sighting_cells(sighting: Sighting | None) -> tuple[object, ...]:
    if sighting is None:
        return ("",) * 7
    return (
        iso(sighting.seen_at),
        sighting.scanner,
        sighting.run_id,
        round(sighting.age.total_seconds() / 86400, 1),
        _yes_no(sighting.stale),
        _yes_no(sighting.vanished),
        _yes_no(sighting.rejudged),
    )
