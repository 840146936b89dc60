"""CSV: one row per endpoint, streamed, for spreadsheets."""

from __future__ import annotations

import csv
from typing import TextIO

from scanner.model import EndpointReport
from scanner.report.document import iso
from scanner.report.inventory import Inventory
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
    # added with issue 9: "link/uses: condition" for links whose verdict depends on configuration
    "link_conditions",
    "services",
)


class CsvWriter(Writer):
    def __init__(self, out: TextIO, run: RunInfo, *, spool: SpoolFactory = MemorySpool) -> None:
        super().__init__(out, run, spool=spool)
        self._csv = csv.writer(out, lineterminator="\n")
        self._csv.writerow(COLUMNS)

    def add(self, report: EndpointReport) -> None:
        obs, leaf = report.observation, report.leaf
        ep = obs.endpoint
        self._csv.writerow(
            (
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
                ";".join(
                    f"{link.name}/{link.uses.value}"
                    for link in report.links
                    if link.verdict.value == "breaks"
                ),
                ";".join(f.code for f in report.findings),
                report.role_source.value,
                report.software.product.value if report.software else "",
                str(report.software.version) if report.software and report.software.version else "",
                obs.http_server or "",
                ";".join(
                    f"{link.name}/{link.uses.value}"
                    for link in report.links
                    if link.verdict.value == "at-risk"
                ),
                ";".join(
                    f"{link.name}/{link.uses.value}: {link.condition}"
                    for link in report.links
                    if link.condition
                ),
                ";".join(report.services),
            )
        )

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        self.out.flush()
