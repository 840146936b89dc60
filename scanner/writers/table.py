"""The human view: endpoints grouped by host, what breaks and why, in 120 columns.

Every value that came from a server or a file passes ``report.safety.visible`` where it enters
the text (escaped first, then cut to its column), and colour is painted on escaped text only: so
the only control sequences in the table are ekuscan's own SGR colours.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TextIO

from tabulate import tabulate

from scanner.model import EndpointReport, Product, RoleSource, TrustBasis, Verdict
from scanner.report.document import common_name, preflight_text, trust_text
from scanner.report.inventory import (
    EndpointSortKey,
    HostCert,
    HostReport,
    Inventory,
    Summary,
    Timeline,
    endpoint_sort_key,
)
from scanner.report.ordering import is_key_of_host
from scanner.report.safety import visible
from scanner.report.sink import RunInfo, Writer
from scanner.report.spooling import MemorySpool, Spool, SpoolFactory

WIDTH = 120
_COLOURS = {Verdict.BREAKS: "31;1", Verdict.AT_RISK: "33;1", Verdict.OK: "32", Verdict.UNKNOWN: "2"}
_PRODUCT_NAMES = {
    Product.EXPRESSWAY: "Expressway",
    Product.EXPRESSWAY_E: "Expressway-E",
    Product.CONDUCTOR: "TelePresence Conductor",
    Product.CUCM: "CUCM",
    Product.CUBE: "CUBE",
    Product.TELEPRESENCE_ENDPOINT: "TelePresence endpoint",
}
_COLUMN_LIMITS = {"leaf": 24, "eku": 13, "note": 22, "port": 22}  # with the fixed columns: 117 wide


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TableWriter(Writer):
    """Hosts in order, each with its endpoint rows and its links.

    The rows are rendered as they arrive and spooled to disk (a ``Spool``), so a sweep
    of ten thousand live endpoints holds their sort keys, not their reports.
    """

    def __init__(
        self, out: TextIO, run: RunInfo, *, color: bool = False, spool: SpoolFactory = MemorySpool
    ) -> None:
        super().__init__(out, run, spool=spool)
        self.color = color
        self._rows: Spool[EndpointSortKey, bytes] = self.new_spool()
        self._sightings: Counter[str] = Counter()  # a report from the store: stale, vanished, ...

    def add(self, report: EndpointReport) -> None:
        sighting = report.sighting
        if sighting is not None:
            self._sightings.update(
                {"endpoints": 1, "stale": sighting.stale, "vanished": sighting.vanished}
                | {"recorded": not sighting.rejudged}
            )
        self._rows.add(endpoint_sort_key(report), json.dumps(self._row(report)).encode())

    def _paint(self, verdict: Verdict, text: str | None = None) -> str:
        text = text if text is not None else verdict.value
        return f"\x1b[{_COLOURS[verdict]}m{text}\x1b[0m" if self.color else text

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        rows = self._rows.ordered()  # by host, in the inventory's host order
        pending: tuple[EndpointSortKey, bytes] | None = next(rows, None)
        for host in inventory.each_host():
            cells: list[list[str]] = []
            while pending is not None and is_key_of_host(pending[0], host.host):
                cells.append(json.loads(pending[1]))
                pending = next(rows, None)
            self.out.write(self._host_block(host, cells))
            self.out.write("\n")
        self._rows.close()
        summary = inventory.summary()
        for finding in summary.findings:
            self.out.write(_wrap(f"estate: {visible(finding.code)}: {visible(finding.message)}") + "\n")
        self.out.write(summary_line(summary, self.run, duration_s) + "\n")
        if summary.timeline is not None:
            self.out.write(timeline_line(summary.timeline) + "\n")
        if self._sightings:
            self.out.write(sightings_line(self._sightings, len(self.run.scanners)) + "\n")

    def _host_block(self, host: HostReport, rows: list[list[str]]) -> str:
        when = f", breaks on {host.breaks_on.date().isoformat()}" if host.breaks_on else ""
        role = (
            host.role.value
            if host.role_source is RoleSource.GIVEN
            else f"{host.role.value} ({host.role_source})"
        )
        software = ""
        if host.software is not None:
            version = f" {host.software.version}" if host.software.version else ""
            software = visible(
                f"  {_PRODUCT_NAMES.get(host.software.product, host.software.product)}{version}"
            )
        label = f"  [{visible(host.label)}]" if host.label and host.label != host.host else ""
        header = (
            f"{visible(host.host)}{label}  role {role}{software}  verdict {self._paint(host.verdict)}{when}"
        )
        lines = [header if len(header) <= WIDTH else _wrap(header)]
        addresses = [visible(a) for a in host.addresses if a != host.host]
        if addresses:
            lines.append(_wrap("  addresses: " + ", ".join(addresses)))
        by_service = host.certificates_by_service
        if by_service:  # CUCM: a certificate per service, each link judged on its service's
            lines.append("  certificates by service:")
            for service, certs in by_service.items():
                text = "; ".join(_cert_text(cert) for cert in certs)
                lines.append(_wrap(f"    {visible(service)}: {text}"))
        if host.certificate_mismatch:
            lines.append("  note: this host presents different certificates on different ports:")
            lines.extend(_wrap(f"    {_cert_text(cert)}") for cert in host.certificates)
        several_addresses = len(host.addresses) > 1  # a name on IPv4 and IPv6: say which row is which
        table = tabulate(
            [[row[1] if several_addresses else row[0], *row[2:-1]] for row in rows],
            headers=["port", "status", "trust", "leaf", "eku", "expires", "verdict", "note"],
            tablefmt="simple",
            disable_numparse=True,
        )
        lines.extend("  " + line for line in table.splitlines())
        lines.extend(row[-1] for row in rows if row[-1])  # the preflight (--client-cert), per endpoint
        for verdict in (Verdict.BREAKS, Verdict.AT_RISK, Verdict.UNKNOWN):
            groups: dict[tuple[str | None, str], list[str]] = {}
            for link in host.links:
                if link.verdict is verdict:
                    names = groups.setdefault((link.condition, visible(link.reason)), [])
                    names.append(f"{visible(link.name)} ({link.uses.value})")
            for (condition, reason), names in groups.items():
                if verdict is Verdict.UNKNOWN and reason.startswith("no certificate"):
                    continue  # a silent port: the status column says it already
                when = (
                    f", if {visible(condition)}" if condition else ""
                )  # "breaks, if B2B federation is used"
                text = f"  {verdict.value}{when}: {', '.join(names)}: {reason}"
                lines.append(self._paint(verdict, _wrap(text)))
        fine = [
            f"{visible(link.name)} ({link.uses.value})" for link in host.links if link.verdict is Verdict.OK
        ]
        if fine:
            lines.append(self._paint(Verdict.OK, _wrap(f"  ok: {', '.join(fine)}")))
        return "\n".join(lines) + "\n"

    def _row(self, report: EndpointReport) -> list[str]:
        """The cells of one endpoint's row, led by two forms of its port (alone, and with the
        address) and followed by its preflight line (empty without one)."""
        obs, leaf = report.observation, report.leaf
        if leaf is not None:
            eku = visible(",".join(_short(e) for e in leaf.eku)) if leaf.eku is not None else "(none)"
            leaf_name, not_after = visible(common_name(leaf.subject)), leaf.not_after.date().isoformat()
        else:
            eku = leaf_name = not_after = ""
            if report.chain:
                leaf_name = "(unparseable)"
        notes = _sighting_notes(report)
        if obs.status.value != "ok" and obs.error:
            notes.append(visible(obs.error))
        if report.trust.basis is not TrustBasis.PRESENTED:
            # The chain as sent does not reach a root: say what the trust column rests on.
            notes.append(
                "chain completed" if report.trust.basis is TrustBasis.COMPLETED else "public by CT SCTs"
            )
        if obs.client_cert_requested:
            notes.append("asks client cert")
        if obs.sip_server:
            notes.append(visible(obs.sip_server))
        ep = obs.endpoint
        port = str(ep.port)
        with_address = port
        if ep.ip:
            with_address = _cut(
                visible(f"[{ep.ip}]:{ep.port}" if ":" in ep.ip else f"{ep.ip}:{ep.port}"),
                _COLUMN_LIMITS["port"],
            )
        return [
            port,
            with_address,
            obs.status.value,
            trust_text(report.trust, brief=True) if leaf else "",
            _cut(leaf_name, _COLUMN_LIMITS["leaf"]),
            _cut(eku, _COLUMN_LIMITS["eku"]),
            not_after,
            self._paint(report.verdict),
            _cut("; ".join(notes), _COLUMN_LIMITS["note"]),
            _wrap(f"  {visible(line)}") if (line := preflight_text(report)) else "",
        ]


def _sighting_notes(report: EndpointReport) -> list[str]:
    """A report from the store: what the verdict rests on, first in the note column."""
    sighting = report.sighting
    if sighting is None:
        return []
    notes = [f"stale {sighting.age.days}d"] if sighting.stale else []
    if sighting.vanished:
        notes.append("vanished")
    if not sighting.rejudged:
        notes.append("as recorded")
    return notes


def sightings_line(counts: Counter[str], scanners: int) -> str:
    """A report from the store: where its endpoints came from and how much of it is old."""
    return _wrap(
        f"from the history store: {_count(counts['endpoints'], 'endpoint')} last seen by "
        f"{_count(scanners, 'scanner')}; {counts['stale']} stale, {counts['vanished']} vanished "
        f"from their scanner's latest complete run, {counts['recorded']} not re-judged (recorded "
        "before the store kept certificates: shown as recorded)"
    )


def _cert_text(cert: HostCert) -> str:
    ports = ", ".join(str(p) for p in cert.ports)
    return f"{visible(common_name(cert.subject))} ({cert.trust.value}) on {ports}"


def _short(eku: str) -> str:
    return {"serverAuth": "server", "clientAuth": "client", "anyExtendedKeyUsage": "any"}.get(eku, eku)


def _wrap(text: str) -> str:
    """Fold a long line at spaces to WIDTH, keeping its indent and indenting what follows."""
    indent = text[: len(text) - len(text.lstrip(" "))]
    lines, current = [], indent
    for word in text.split():
        if current.strip() and len(current) + 1 + len(word) > WIDTH:
            lines.append(current)
            current = indent + "    " + word
        else:
            current = f"{current} {word}" if current.strip() else current + word
    lines.append(current)
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summary_line(summary: Summary, run: RunInfo, duration_s: float) -> str:
    hv = summary.hosts_by_verdict
    earliest = summary.earliest_breaks_on
    text = (
        f"{_count(summary.hosts, 'host')}, {_count(summary.endpoints, 'endpoint')}, "
        f"{_count(summary.probes, 'probe')} in {duration_s:.1f}s "
        f"at {run.evaluated_at.date().isoformat()}: "
        f"{hv['breaks']} break, {hv['at-risk']} at risk, {hv['ok']} ok, {hv['unknown']} unknown"
        + (f"; earliest break {earliest.date().isoformat()}" if earliest else "")
    )
    return _wrap(text)


def timeline_line(timeline: Timeline) -> str:
    """What is broken by when: now, in 30 and 90 days, and by the last public clientAuth day."""
    (today, now_count), *later = timeline.broken
    parts = [f"links broken now: {now_count}"]
    parts += [f"by {day} ({(day - today).days} days): {count}" for day, count in later]
    if timeline.last_public_clientauth_day is not None:
        parts.append(
            f"by {timeline.last_public_clientauth_day} (the last day a public certificate can carry "
            f"clientAuth): {timeline.by_last_public_clientauth_day}"
        )
    return _wrap("; ".join(parts))
