"""One self-contained HTML report: summary, per-host table, endpoint table, a timeline of breaks_on.

No external asset of any kind (no script, font, stylesheet or image is fetched): the styles are
inline and the chart is SVG drawn here, so the file opens offline and can be mailed as is.
Every value from the network or a file is escaped for its context by ``report.safety``
(``html_text`` for text, ``html_attribute`` for attribute values), so nothing a server sends
becomes an element or an attribute; what is not escaped is ekuscan's own markup, numbers and enums.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TextIO

from scanner.model import EndpointReport, RoleSource, Verdict
from scanner.report.document import common_name, iso, preflight_text, trust_text
from scanner.report.inventory import EndpointSortKey, HostReport, Inventory, endpoint_sort_key
from scanner.report.safety import html_attribute, html_text
from scanner.report.sink import RunInfo, Writer
from scanner.report.spooling import MemorySpool, Spool, SpoolFactory
from scanner.writers.table import timeline_line

COLOURS = {
    Verdict.BREAKS: "#c62828",
    Verdict.AT_RISK: "#ef6c00",
    Verdict.OK: "#2e7d32",
    Verdict.UNKNOWN: "#757575",
}
CHART_ROWS = 60  # hosts drawn on the timeline; the table lists them all
CHART_WIDTH = 960
ROW_HEIGHT = 18
LABEL_WIDTH = 260
AXIS_HEIGHT = 38

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#212121}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#616161}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #e0e0e0;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:22px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #eeeeee;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#fafafa;position:sticky;top:0}
.v{font-weight:600;white-space:nowrap}.nw{white-space:nowrap}
.v-breaks{color:#c62828}.v-at-risk{color:#ef6c00}.v-ok{color:#2e7d32}.v-unknown{color:#757575}
.why{color:#424242;font-size:13px}
svg text{font:12px system-ui,sans-serif;fill:#212121}
.note{color:#616161;font-size:13px}
"""


_e = html_text  # text content
_a = html_attribute  # a value inside a double-quoted attribute


class HtmlWriter(Writer):
    """The page is written as it is made: endpoint rows are rendered on arrival and spooled, the
    hosts are read back from the inventory one at a time, so memory does not grow with the sweep."""

    def __init__(self, out: TextIO, run: RunInfo, *, spool: SpoolFactory = MemorySpool) -> None:
        super().__init__(out, run, spool=spool)
        self._rows: Spool[EndpointSortKey, bytes] = self.new_spool()
        self._seen: Counter[str] = Counter()  # a report from the store: endpoints each scanner saw last
        self._stale: Counter[str] = Counter()

    def add(self, report: EndpointReport) -> None:
        if report.sighting is not None:
            self._seen[report.sighting.scanner] += 1
            self._stale[report.sighting.scanner] += report.sighting.stale
        ep, leaf, obs = report.endpoint, report.leaf, report.observation
        address = f"[{ep.ip}]" if ep.ip and ":" in ep.ip else ep.ip
        where = f"{address}:{ep.port}" if address else str(ep.port)
        eku = (",".join(leaf.eku) if leaf.eku is not None else "(none)") if leaf else ""
        breaks_on = report.breaks_on.date().isoformat() if report.breaks_on else ""
        row = (
            "<tr>"
            f"<td>{_e(ep.host)}</td><td>{_e(where)}</td><td>{_e(obs.status.value)}</td>"
            f"<td>{_e(trust_text(report.trust) if leaf else '')}</td>"
            f"<td>{_e(common_name(leaf.subject) if leaf else '')}</td><td>{_e(eku)}</td>"
            f"<td>{_e(leaf.not_after.date().isoformat() if leaf else '')}</td>"
            f'<td class="v v-{report.verdict.value}">{_e(report.verdict.value)}</td>'
            f'<td class="nw">{_e(breaks_on)}</td><td>{_e(preflight_text(report))}</td></tr>'
        )
        self._rows.add(endpoint_sort_key(report), row.encode())

    def finish(self, inventory: Inventory, duration_s: float) -> None:
        summary = inventory.summary()
        run = self.run
        write = self.out.write
        parts = [
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width,initial-scale=1">',
            f"<title>ekuscan report {_e(run.evaluated_at.date().isoformat())}</title>",
            f"<style>{STYLE}</style></head><body>",
            "<h1>ekuscan: which mutual-TLS links break, and when</h1>",
            f'<p class="meta">{"reported from the history store" if run.scanners else "scanned"} '
            f"{_e(iso(run.started_at))}, judged as of {_e(iso(run.evaluated_at))}, "
            f"{duration_s:.1f} s, ekuscan {_e(run.tool_version)}</p>",
            '<section id="summary"><h2>Summary</h2><div class="cards">',
        ]
        cards = [
            ("hosts", summary.hosts, ""),
            ("endpoints", summary.endpoints, ""),
            ("probes", summary.probes, ""),
            *((f"hosts {v.value}", summary.hosts_by_verdict[v.value], f"v-{v.value}") for v in Verdict),
        ]
        for title, count, cls in cards:
            parts.append(f'<div class="card"><b class="{cls}">{count}</b>{_e(title)}</div>')
        parts.append("</div>")
        if summary.earliest_breaks_on is not None:
            parts.append(f"<p>Earliest break: <b>{_e(summary.earliest_breaks_on.date().isoformat())}</b></p>")
        if summary.timeline is not None:
            parts.append(f'<p id="timeline-summary">{_e(timeline_line(summary.timeline))}</p>')
        parts.extend(f'<p class="estate">{_e(f.code)}: {_e(f.message)}</p>' for f in summary.findings)
        parts.append("</section>")
        if run.scanners:
            parts.append(self._freshness())
        parts.append('<section id="timeline"><h2>Timeline of breaks_on</h2>')
        dated_count = 0

        def dated() -> Iterator[HostReport]:
            nonlocal dated_count
            for host in inventory.each_host():
                if host.breaks_on is not None:
                    dated_count += 1
                    yield host

        drawn = heapq.nsmallest(CHART_ROWS, dated(), key=lambda h: _lane_order(h, run.evaluated_at))
        if drawn:
            parts.append(timeline_svg(drawn, run.evaluated_at))
            if dated_count > CHART_ROWS:
                parts.append(
                    f'<p class="note">The {CHART_ROWS} earliest of {dated_count} hosts with a date are '
                    "drawn; the table lists them all.</p>"
                )
        else:
            parts.append('<p class="note">No host has a known date of failure.</p>')
        parts.append("</section>")
        write("\n".join(parts) + "\n")
        write(_table_head("hosts", "Hosts", HOST_COLUMNS))
        for host in inventory.each_host():
            write(_host_row(host))
        write(_TABLE_END + "\n")
        write(_table_head("endpoints", "Endpoints", ENDPOINT_COLUMNS))
        for _, row in self._rows.ordered():
            write(row.decode())
        self._rows.close()
        write(_TABLE_END + "\n")
        write("</body></html>\n")
        self.out.flush()

    def _freshness(self) -> str:
        """A report from the history store: each scanner's latest run, and what it contributes."""
        rows = [
            f'<tr class="scanner" data-scanner="{_a(s.scanner)}" data-status="{_a(s.last_status)}">'
            f'<td>{_e(s.scanner)}</td><td class="nw">{_e(iso(s.last_run_at))}</td>'
            f"<td>{_e(s.last_status)}</td><td>{s.last_endpoints}</td>"
            f'<td class="nw">{_e(iso(s.complete_at) or "never")}</td>'
            f"<td>{self._seen[s.scanner]}</td><td>{self._stale[s.scanner]}</td></tr>"
            for s in self.run.scanners
        ]
        return _table_head("scanners", "Scanners", FRESHNESS_COLUMNS) + "".join(rows) + _TABLE_END


FRESHNESS_COLUMNS = (
    "scanner",
    "last run",
    "status",
    "endpoints recorded",
    "last complete run",
    "endpoints in this report",
    "stale",
)
HOST_COLUMNS = ("host", "role", "verdict", "breaks on", "ports", "certificates", "why")
ENDPOINT_COLUMNS = (
    *("host", "address", "status", "trust", "leaf", "EKU", "expires", "verdict", "breaks on"),
    "client certificate test",  # --client-cert: what the server did with the candidate
)
_TABLE_END = "</tbody></table></section>"


def _table_head(section: str, title: str, columns: tuple[str, ...]) -> str:
    head = "".join(f"<th>{c}</th>" for c in columns)
    return f'<section id="{section}"><h2>{title}</h2><table><thead><tr>{head}</tr></thead><tbody>'


def _role_cell(host: HostReport) -> str:
    role = _e(host.role.value)
    if host.role_source is not RoleSource.GIVEN:
        role += f" <small>({_e(host.role_source.value)})</small>"
    if host.software is not None:
        version = f" {host.software.version}" if host.software.version else ""
        role += f"<br><small>{_e(host.software.product.value + version)}</small>"
    return role


def _host_row(h: HostReport) -> str:
    why: dict[str, list[str]] = {}
    for link in h.links:
        if link.verdict in (Verdict.BREAKS, Verdict.AT_RISK):
            when = f", if {link.condition}" if link.condition else ""
            why.setdefault(f"{link.verdict.value}{when}: {link.reason}", []).append(
                f"{link.name} ({link.uses.value})"
            )
    reasons = "<br>".join(f"{_e(', '.join(names))}: {_e(text)}" for text, names in why.items())
    certs = "<br>".join(
        f"{_e(': '.join((*c.services, common_name(c.subject))))} ({_e(c.trust.value)}, until "
        f"{_e(c.not_after.date().isoformat() if c.not_after else '?')})"
        for c in h.certificates
    )
    return (
        f'<tr class="host" data-host="{_a(h.host)}" data-verdict="{_a(h.verdict.value)}" '
        f'data-breaks-on="{_a(h.breaks_on.date().isoformat() if h.breaks_on else "")}">'
        f'<td>{_e(h.host)}</td><td class="nw">{_role_cell(h)}</td>'
        f'<td class="v v-{h.verdict.value}">{_e(h.verdict.value)}</td>'
        f'<td class="nw">{_e(h.breaks_on.date().isoformat() if h.breaks_on else "")}</td>'
        f"<td>{_e(', '.join(str(p) for p in h.ports))}</td><td>{certs}</td>"
        f'<td class="why">{reasons}</td></tr>'
    )


def _lane_order(host: HostReport, now: datetime) -> tuple[datetime, str]:
    """The timeline's lanes: earliest breaks_on first."""
    return (host.breaks_on or now, host.host)


def _ticks(start: datetime, end: datetime) -> list[datetime]:
    """First days of months, quarters or years between start and end: at most about 12 ticks."""
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    step = 1 if months <= 12 else 3 if months <= 36 else 12 * max(1, -(-months // 144))
    index = start.year * 12 + start.month  # the month after start's, counted from year 0
    index += -index % step  # quarters start in Jan/Apr/Jul/Oct, years in January
    ticks: list[datetime] = []
    while len(ticks) < 24:
        year, month = divmod(index, 12)
        if year > 9999:
            break
        moment = datetime(year, month + 1, 1, tzinfo=UTC)
        if moment > end:
            break
        ticks.append(moment)
        index += step
    return ticks


def _shift(moment: datetime, days: int) -> datetime:
    """``moment`` moved by ``days``, held inside datetime's range (a certificate may say 9999-12-31)."""
    try:
        return moment + timedelta(days=days)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) if days > 0 else datetime.min.replace(tzinfo=UTC)


def timeline_svg(hosts: list[HostReport], now: datetime) -> str:
    """Inline SVG: one lane per host, a bar from today to its breaks_on, coloured by verdict."""
    drawn = sorted(hosts, key=lambda h: _lane_order(h, now))[:CHART_ROWS]
    dates = [h.breaks_on for h in drawn if h.breaks_on is not None]
    start = _shift(min([now, *dates]), -7)
    end = _shift(max([_shift(now, 30), *dates]), 7)
    span = (end - start).total_seconds()
    plot = CHART_WIDTH - LABEL_WIDTH - 20
    height = AXIS_HEIGHT + ROW_HEIGHT * len(drawn) + 8

    def x(moment: datetime) -> float:
        return round(LABEL_WIDTH + plot * (moment - start).total_seconds() / span, 1)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="timeline-chart" role="img" width="{CHART_WIDTH}" '
        f'height="{height}" viewBox="0 0 {CHART_WIDTH} {height}" aria-label="breaks_on timeline">',
        f'<rect x="0" y="0" width="{CHART_WIDTH}" height="{height}" fill="#ffffff"/>',
    ]
    for tick in _ticks(start, end):
        tx = x(tick)
        out.append(f'<line x1="{tx}" y1="{AXIS_HEIGHT - 6}" x2="{tx}" y2="{height}" stroke="#eeeeee"/>')
        out.append(f'<text x="{tx}" y="{AXIS_HEIGHT - 10}" text-anchor="middle">{tick:%Y-%m}</text>')
    today = x(now)
    out.append(
        f'<line x1="{today}" y1="{AXIS_HEIGHT - 6}" x2="{today}" y2="{height}" stroke="#1565c0" '
        'stroke-dasharray="4 3"/>'
    )
    out.append(f'<text x="{today}" y="12" text-anchor="middle" fill="#1565c0">today</text>')
    for n, h in enumerate(drawn):
        assert h.breaks_on is not None
        y = AXIS_HEIGHT + n * ROW_HEIGHT
        colour = COLOURS[h.verdict]
        when = x(h.breaks_on)
        left, right = sorted((today, when))
        label = h.host if len(h.host) <= 36 else h.host[:35] + "…"
        day = _e(h.breaks_on.date().isoformat())
        out.append(
            f'<g class="lane" data-host="{_a(h.host)}" data-breaks-on="{_a(h.breaks_on.date().isoformat())}">'
            f"<title>{_e(h.host)}: {_e(h.verdict.value)}, breaks on {day}</title>"
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 13}" text-anchor="end">{_e(label)}</text>'
            f'<rect x="{left}" y="{y + 5}" width="{max(round(right - left, 1), 1.0)}" height="8" '
            f'fill="{colour}" fill-opacity="0.35"/>'
            f'<circle cx="{when}" cy="{y + 9}" r="5" fill="{colour}"/>'
            + (  # the date beside the bar, on the side with room for it
                f'<text x="{right + 9}" y="{y + 13}">{day}</text>'
                if right < CHART_WIDTH - 90
                else f'<text x="{left - 9}" y="{y + 13}" text-anchor="end">{day}</text>'
            )
            + "</g>"
        )
    out.append("</svg>")
    return "".join(out)
