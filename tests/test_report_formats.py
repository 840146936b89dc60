"""-f prometheus checked by prometheus_client's own parser; -f html rendered by a real headless Chromium."""

from __future__ import annotations

import html
import html.parser
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from scanner.core.analysis import analyze
from scanner.edge.spool import DiskSpool
from scanner.lab import ESTATE
from scanner.model import Endpoint, Verdict
from scanner.report.inventory import HostReport, Inventory
from scanner.report.safety import visible
from scanner.writers import OutputFormat, RunInfo, make_writer
from scanner.writers.html import CHART_ROWS, timeline_svg
from tests import test_cli
from tests.conftest import context
from tests.factories import NOW, bytes_kept_per_item, make_chain, observation
from tests.test_cli import ekuscan, lab_target

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # we are root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no outside connections of its own
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
)

lab_files = test_cli.lab_files  # the lab's targets CSV and public root (a fixture)


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_textfile_parses_and_carries_every_endpoint(lab, lab_files, tmp_path):
    targets, root = lab_files
    out = tmp_path / "ekuscan.prom"
    result = ekuscan(
        "scan",
        *test_cli.lab_scan_args(targets, root),
        "--timeout",
        "1.5",
        "-o",
        str(out),
    )  # the .prom extension picks the format
    assert result.returncode == 1, result.stderr
    assert not [p for p in tmp_path.iterdir() if p != out]  # the atomic write left no temporary file
    metrics = families(out.read_text())
    verdicts = metrics["ekuscan_endpoint_verdict"].samples
    endpoints = {(s.labels["host"], s.labels["port"]) for s in verdicts}
    assert len(endpoints) == sum(len(h.services) for h in ESTATE)
    current = [s for s in verdicts if s.value == 1]
    assert len(current) == len(endpoints)  # exactly one verdict per endpoint
    assert {s.labels["verdict"] for s in current} == {"breaks", "at-risk", "ok", "unknown"}
    breaks = [s for s in metrics["ekuscan_link_breaks"].samples if s.value == 1]
    assert breaks and all({"host", "ip", "port", "role", "link", "uses"} <= s.labels.keys() for s in breaks)
    assert all(s.value > 1.7e9 for s in metrics["ekuscan_cert_not_after_seconds"].samples)
    assert metrics["ekuscan_breaks_on_seconds"].samples
    hosts = {s.labels["verdict"]: s.value for s in metrics["ekuscan_hosts"].samples}
    designed = Counter(h.expected_verdict.value for h in ESTATE)
    assert hosts == {v.value: designed[v.value] for v in Verdict}  # the lab's hosts, as designed
    assert metrics["ekuscan_scan_duration_seconds"].samples[0].value > 0
    assert metrics["ekuscan_probes"].samples[0].value == len(endpoints)
    info = {s.labels["host"]: s.labels for s in metrics["ekuscan_host_info"].samples}
    x155 = next(b.address for b in lab.services if b.host.name == "expe-x155")
    assert (info[x155]["role"], info[x155]["role_source"], info[x155]["version"]) == (
        "expressway-e",
        "inferred",
        "X15.5.1",
    )
    horizons = {s.labels["horizon"]: s.value for s in metrics["ekuscan_links_broken_by"].samples}
    assert set(horizons) == {"now", "30d", "90d", "last_public_clientauth_day"}
    assert horizons["now"] <= horizons["30d"] <= horizons["90d"] <= horizons["last_public_clientauth_day"]


def test_prometheus_on_stdout_and_unwritable_file(lab, lab_files, tmp_path):
    _, root = lab_files
    target = lab_target(lab, "expc-public", 443)
    result = ekuscan("scan", target, "--public-roots", str(root), "-f", "prometheus")
    assert result.returncode == 0
    (sample,) = [s for s in families(result.stdout)["ekuscan_endpoint_verdict"].samples if s.value == 1]
    assert sample.labels["verdict"] == "at-risk" and sample.labels["role"] == "expressway"
    failed = ekuscan("scan", target, "--public-roots", str(root), "-o", str(tmp_path / "no" / "x.prom"))
    assert failed.returncode == 3 and "cannot write" in failed.stderr and "Traceback" not in failed.stderr


@pytest.fixture(scope="module")
def report_file(lab_files, tmp_path_factory):
    targets, root = lab_files
    out = tmp_path_factory.mktemp("html") / "report.html"
    result = ekuscan(
        "scan",
        *test_cli.lab_scan_args(targets, root),
        "--timeout",
        "1.5",
        "-o",
        str(out),
    )
    assert result.returncode == 1, result.stderr
    return out


def test_html_report_is_self_contained(report_file):
    text = report_file.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text.lower()
    # nothing to fetch: no src/href attributes, no url(...) in the styles, no @import
    assert not re.search(r"\b(src|href)\s*=", text, re.I)
    assert "url(" not in text and "@import" not in text
    assert text.count('<tr class="host"') == len(ESTATE)
    # what issue 3 adds: inferred roles with product and release, the timeline, estate findings
    assert "expressway-e <small>(inferred)</small><br><small>expressway-e X15.5.1</small>" in text
    assert 'id="timeline-summary">links broken now:' in text
    assert '<p class="estate">EXPRESSWAY_VERSION_MISMATCH:' in text


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is needed in CI (.ci/run installs Debian's chromium) and is missing")
    pytest.skip("no Chromium to render the HTML report (install Debian's chromium package)")


# Added to a copy of the report by the test only: measures what the browser laid out.
PROBE = """<script>
window.addEventListener('load', () => {
  const box = e => {
    const r = e.getBoundingClientRect();
    return [Math.round(r.width), Math.round(r.height)];
  };
  const out = {
    chart: box(document.getElementById('timeline-chart')),
    lanes: [...document.querySelectorAll('#timeline-chart g.lane')].map(g => [g.dataset.host, box(g)]),
    rows: [...document.querySelectorAll('tr.host')].map(
      r => [r.dataset.host, box(r), r.cells.length, r.dataset.breaksOn]),
  };
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium(args, tmp_path, timeout=90):
    profile = Path(tempfile.mkdtemp(dir=tmp_path, prefix="profile-"))
    return subprocess.run(
        [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=tmp_path,
    )


def test_html_report_renders_in_a_real_browser(lab, report_file, tmp_path):
    probed = tmp_path / "probed.html"
    probed.write_text(report_file.read_text().replace("</body>", PROBE + "</body>"))
    result = chromium(["--virtual-time-budget=5000", "--dump-dom", probed.as_uri()], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, result.stdout[-2000:]
    layout = json.loads(html.unescape(match.group(1)))
    width, height = layout["chart"]
    assert width >= 900 and height > 60
    lanes = dict(layout["lanes"])
    rows = {host: (box, cells) for host, box, cells, _ in layout["rows"]}
    dated = {host: day for host, _, _, day in layout["rows"] if day}
    assert set(rows) == {s.address for s in lab.services}  # every host has its row
    for host, ((w, h), cells) in rows.items():
        assert w > 500 and h >= 15 and cells == 7, (host, w, h, cells)
    assert dated and set(lanes) == set(dated)  # one lane for each host with a date
    assert all(w > 0 and h > 0 for w, h in lanes.values())
    shot = tmp_path / "report.png"
    result = chromium(["--window-size=1200,1600", f"--screenshot={shot}", report_file.as_uri()], tmp_path)
    assert (
        result.returncode == 0
        and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        and shot.stat().st_size > 20_000
    )


# --- the writers without a network ---------------------------------------------------------------


def test_html_escapes_what_the_network_says():
    hostile = '<script>alert("x")</script>'
    root, inter, leaf = make_chain("serverAuth", "none", leaf_cn=f"{hostile}.example.test")
    report = analyze(observation(leaf, inter, root, host="192.0.2.7"), context())
    ep = Endpoint(target="x", host=f"{hostile}.example.test", ip="192.0.2.7", port=5061)
    report = replace(report, observation=replace(report.observation, endpoint=ep, sip_server=hostile))
    out = io.StringIO()
    writer = make_writer(OutputFormat.HTML, out, RunInfo("test", NOW, NOW))
    inventory = Inventory()
    inventory.add(report)
    writer.add(report)
    writer.finish(inventory, 1.0)
    text = out.getvalue()
    assert "<script" not in text and "&lt;script&gt;" in text


@pytest.fixture(scope="module")
def one_host() -> HostReport:
    root, inter, leaf = make_chain("both", "none", leaf_cn="expc.example.test")
    inventory = Inventory()
    inventory.add(analyze(observation(leaf, inter, root, host="192.0.2.7"), context()))
    (host,) = list(inventory.each_host())
    return host


moments = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(st.lists(moments, min_size=1, max_size=80), moments)
def test_timeline_draws_any_dates(one_host, dates, now):
    hosts = [replace(one_host, host=f"h{n}", breaks_on=d) for n, d in enumerate(dates)]
    svg = timeline_svg(hosts, now)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('<g class="lane"') == min(len(dates), CHART_ROWS)
    assert "nan" not in svg.lower() and "inf" not in svg.lower()


@pytest.fixture(scope="module")
def one_report():
    root, inter, leaf = make_chain("serverAuth", "none", leaf_cn="expe.example.test")
    return analyze(observation(leaf, inter, root, host="192.0.2.7", port=7001), context())


def render(fmt, reports):
    out = io.StringIO()
    writer = make_writer(fmt, out, RunInfo("test", NOW, NOW))
    inventory = Inventory()
    for report in reports:
        if inventory.add(report):
            writer.add(report)
    writer.finish(inventory, 1.0)
    return out.getvalue()


def with_host(report, host):
    ep = Endpoint(target=host, host=host, ip="192.0.2.7", port=7001)
    return replace(report, observation=replace(report.observation, endpoint=ep))


host_names = st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=5, unique=True)


@settings(max_examples=60, deadline=None)
@given(host_names)
def test_prometheus_labels_survive_any_host_text(one_report, hosts):
    text = render(OutputFormat.PROMETHEUS, [with_host(one_report, h) for h in hosts])
    samples = families(text)["ekuscan_endpoint_verdict"].samples
    assert {s.labels["host"] for s in samples} == set(hosts)
    assert {(s.labels["host"], s.labels["verdict"]) for s in samples if s.value == 1} == {
        (h, "breaks") for h in hosts
    }


class _Rows(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hosts, self.scripts = [], 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "tr" and attributes.get("class") == "host":
            self.hosts.append(attributes["data-host"])
        self.scripts += tag == "script"


@settings(max_examples=60, deadline=None)
@given(host_names)
def test_html_rows_survive_any_host_text(one_report, hosts):
    """Each host keeps its row, its ``data-host`` in the form people see (controls as escapes)."""
    parser = _Rows()
    parser.feed(render(OutputFormat.HTML, [with_host(one_report, h) for h in hosts]))
    assert sorted(parser.hosts) == sorted(visible(h) for h in hosts) and parser.scripts == 0


def test_html_writer_does_not_hold_endpoints(one_report):
    """Rows are rendered on arrival and spooled; the page is written as it is made."""
    writer = make_writer(OutputFormat.HTML, io.StringIO(), RunInfo("test", NOW, NOW), spool=DiskSpool)
    sample = [with_host(one_report, f"10.0.{i // 250}.{i % 250}") for i in range(1000)]
    kept = bytes_kept_per_item(writer.add, sample)
    assert kept < 600, f"{kept:.0f} bytes per endpoint"


def test_prometheus_writer_does_not_hold_a_gauge_per_series(one_report):
    """About 75 series per endpoint: as prometheus_client gauges that was 95 KiB per endpoint."""
    writer = make_writer(OutputFormat.PROMETHEUS, io.StringIO(), RunInfo("test", NOW, NOW), spool=DiskSpool)
    sample = [with_host(one_report, f"10.0.{i // 250}.{i % 250}") for i in range(1000)]
    kept = bytes_kept_per_item(writer.add, sample)
    assert kept < 600, f"{kept:.0f} bytes per endpoint"


def test_prometheus_gives_an_endpoint_listed_twice_one_series(one_report):
    again = replace(one_report, links=one_report.links[:1])  # the later report of the same endpoint wins
    text = render(OutputFormat.PROMETHEUS, [one_report, with_host(one_report, "b.example.test"), again])
    parsed = families(text)
    verdicts = parsed["ekuscan_endpoint_verdict"].samples
    assert len(verdicts) == 2 * len(Verdict)
    assert len({tuple(sorted(s.labels.items())) for s in verdicts}) == len(verdicts)
    links = {(s.labels["host"], s.labels["link"]) for s in parsed["ekuscan_link_breaks"].samples}
    assert {link for host, link in links if host == "192.0.2.7"} == {one_report.links[0].name}
    assert len(one_report.links) > 1
