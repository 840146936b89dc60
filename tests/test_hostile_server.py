"""The real CLI against a hostile estate (tests/hostile.py), in every format: what a server sends never acts.

Terminal output is read through a real pty (so the table is chosen and coloured), HTML is
rendered by headless Chromium, CSV is parsed cell by cell, Prometheus by its own parser, JSON
compared value by value with what the servers sent. ``inspect`` is given files whose names are
as hostile as the certificates: a file's text, like a CSV's labels, is a stranger's text too.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import hashes
from prometheus_client.parser import text_string_to_metric_families

from scanner.core.certs import name_attributes
from scanner.report.safety import FORMULA_STARTS, visible
from scanner.writers.csv import COLUMNS
from scanner.writers.table import _COLOURS
from tests import hostile
from tests.hostile import HOST, HTTP_BANNER, LABEL, MARK, PLAIN_HOST, PLAIN_LABEL, SIP_BANNER, payload
from tests.test_cli import ekuscan
from tests.test_report_formats import chromium

NEVER_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
OWN_SGR = re.compile("|".join(re.escape(f"\x1b[{code}m") for code in [*_COLOURS.values(), "0"]))
# The progress line redraws itself with a carriage return (and erases itself with spaces).
PROGRESS = re.compile(r"\r(?:ekuscan: \d+/~?\d+ probes[^\r\n]*| *)")
# How each hostile part shows for people: escaped, never dropped.
SHOWN = ("\\x1b]0;owned\\x07", "\\x1b[2J", "\\x9b2J", "\\u202egnp.exe", "\\nINJECTED-")
# A file name as hostile as a certificate (Linux allows every byte but / and NUL).
HOSTILE_FILE = '=HYPERLINK("x")"\\\n' + MARK + "-file\x1b]0;file\x07<svg onload=alert(4)>\u202e.pem"


@pytest.fixture(scope="module")
def estate(tmp_path_factory) -> Iterator[SimpleNamespace]:
    directory = tmp_path_factory.mktemp("hostile")
    targets = directory / "targets.csv"
    targets.write_text(hostile.targets_csv())
    with hostile.running() as servers:
        root = directory / "root.pem"
        root.write_bytes(servers.pki.root.pem)
        chain = servers.pki.leaf.pem + servers.pki.ca.pem
        (directory / HOSTILE_FILE).write_bytes(chain)
        (directory / "benign.pem").write_bytes(chain)
        yield SimpleNamespace(directory=directory, targets=targets, root=root, servers=servers, cache={})


def scan_args(estate, *more: str) -> list[str]:
    return ["scan", "-i", str(estate.targets), "--public-roots", str(estate.root), "--timeout", "2", *more]


def scanned(estate, fmt: str) -> subprocess.CompletedProcess[str]:
    """One scan of the estate in ``fmt`` (through a pipe), run once per module."""
    if fmt not in estate.cache:
        result = ekuscan(*scan_args(estate, "-f", fmt))
        assert result.returncode == 1, result.stderr  # the estate breaks
        assert "Warning" not in result.stderr, result.stderr  # a long CN is a fact, not a Python warning
        estate.cache[fmt] = result
    return estate.cache[fmt]


def in_pty(args: list[str], cwd: Path | None = None) -> str:
    """Run ekuscan with stdout and stderr on a real terminal; what the terminal received.

    Output post-processing is off (no newline to CR-LF), so a carriage return in the output is
    one ekuscan or a server wrote.
    """
    primary, secondary = os.openpty()
    attrs = termios.tcgetattr(secondary)
    attrs[1] &= ~termios.OPOST
    termios.tcsetattr(secondary, termios.TCSANOW, attrs)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scanner", *args],
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        env=env,
        cwd=cwd,
    )
    os.close(secondary)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(30)
    os.close(primary)
    return b"".join(chunks).decode("utf-8")


def assert_safe_for_people(text: str) -> None:
    """No control character but ekuscan's own colours and progress line; no line a value started."""
    bare = PROGRESS.sub("", OWN_SGR.sub("", text))
    found = NEVER_RAW.search(bare)
    assert not found, (found.group(), bare[max(0, found.start() - 80) : found.end() + 80])
    assert "\r" not in bare
    assert not [line for line in bare.splitlines() if line.lstrip().startswith(MARK)]


# --- the terminal ------------------------------------------------------------------------------


def test_the_table_on_a_terminal_shows_escapes_not_effects(estate):
    text = in_pty(scan_args(estate))
    assert "\x1b[31;1mbreaks\x1b[0m" in text  # a terminal: the table, in colour
    assert_safe_for_people(text)
    for shown in SHOWN[:4]:
        assert shown in text, shown
    assert visible(LABEL) in text and "Warning" not in text


def test_the_table_through_a_pipe_is_the_same_without_colour(estate):
    result = scanned(estate, "table")
    assert "\x1b" not in result.stdout
    assert_safe_for_people(result.stdout + result.stderr)
    assert visible(LABEL) in result.stdout


def test_inspect_on_a_terminal_shows_a_hostile_file_and_certificate_as_text(estate):
    text = in_pty(["inspect", HOSTILE_FILE, "--public-roots", str(estate.root)], cwd=estate.directory)
    assert "\x1b[31;1m" in text
    assert_safe_for_people(text)
    assert "\\nINJECTED-file\\x1b]0;file\\x07<svg" in text


def test_errors_quoting_a_hostile_name_stay_one_escaped_line(estate):
    missing = "\x1b]0;owned\x07\u202emissing\n" + MARK + ".pem"
    for result in (
        ekuscan("inspect", missing),
        ekuscan("scan", "-i", missing),
    ):
        assert result.returncode == 2
        assert_safe_for_people(result.stderr)
        (line,) = result.stderr.splitlines()
        assert line.startswith("ekuscan: error: ") and "\\x1b]0;owned\\x07\\u202emissing" in line


# --- machine formats keep the values -------------------------------------------------------------


def by_port(endpoints) -> dict[int, dict]:
    return {e["port"]: e for e in endpoints}


def test_json_and_jsonl_keep_exactly_what_the_servers_sent(estate):
    document = scanned(estate, "json").stdout
    assert not NEVER_RAW.search(document)  # JSON's own escapes, even for C1 and bidi controls
    lines = scanned(estate, "jsonl").stdout.splitlines()
    assert not NEVER_RAW.search("".join(lines))
    pki = estate.servers.pki
    for endpoints in (json.loads(document)["endpoints"], [json.loads(line) for line in lines]):
        ports = by_port(endpoints)
        assert ports[5061]["sip_server"] == SIP_BANNER
        assert ports[8443]["http_server"] == HTTP_BANNER.encode().decode("iso-8859-1")  # as HTTP reads it
        assert ports[5061]["label"] == LABEL and ports[5062]["label"] == PLAIN_LABEL
        assert ports[5062]["status"] == "no-tls"
        for port in (5061, 7001, 8443):
            leaf, ca = ports[port]["chain"]
            assert leaf["sha256"] == pki.leaf.cert.fingerprint(hashes.SHA256()).hex().upper()
            assert name_attributes(leaf["subject"]) == {
                "O": payload("leaf-o"),
                "OU": payload("leaf-ou"),
                "CN": payload("leaf-cn"),
            }
            assert name_attributes(leaf["issuer"]) == name_attributes(ca["subject"])
            assert name_attributes(ca["subject"]) == {"O": payload("ca-o"), "CN": payload("ca-cn")}
            assert leaf["san"] == [f"DNS:{payload('leaf-san')}", "DNS:ok.example.test"]
        ca_names = [name_attributes(n) for n in ports[7001]["client_ca_names"]]
        assert ca_names == [
            {"O": payload("root-o"), "CN": payload("root-cn")},
            {"O": payload("ca-o"), "CN": payload("ca-cn")},
        ]
        requested = next(f for f in ports[7001]["findings"] if f["code"] == "CLIENT_CERT_REQUESTED")
        assert "; ".join(ports[7001]["client_ca_names"]) in requested["message"]


def test_csv_cells_never_start_a_formula(estate):
    rows = list(csv.reader(io.StringIO(scanned(estate, "csv").stdout, newline="")))
    assert rows[0] == list(COLUMNS) and len(rows) == 1 + 4  # one row per endpoint: no cell split a row
    for row in rows[1:]:
        assert len(row) == len(COLUMNS)
        for column, cell in zip(COLUMNS, row, strict=True):
            assert cell[:1] not in FORMULA_STARTS, (column, cell)
    cells = {row[COLUMNS.index("port")]: dict(zip(COLUMNS, row, strict=True)) for row in rows[1:]}
    assert cells["5061"]["sip_server"] == "'" + SIP_BANNER
    assert cells["8443"]["http_server"] == "'" + HTTP_BANNER.encode().decode("iso-8859-1")
    assert cells["5061"]["label"] == "'" + LABEL and cells["5062"]["label"] == "'" + PLAIN_LABEL
    assert name_attributes(cells["5061"]["leaf_subject"])["CN"] == payload("leaf-cn")  # "CN=...": no quote


def inspected(estate, name: str, fmt: str) -> subprocess.CompletedProcess[str]:
    """``ekuscan inspect NAME -f FMT`` in the estate's directory (the file name is the host)."""
    result = subprocess.run(
        [sys.executable, "-m", "scanner", "inspect", name, "-f", fmt, "--public-roots", str(estate.root)],
        capture_output=True,
        text=True,
        cwd=estate.directory,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr  # the leaf lacks clientAuth
    return result


def test_inspect_csv_neutralises_a_hostile_file_name(estate):
    (row,) = list(csv.DictReader(io.StringIO(inspected(estate, HOSTILE_FILE, "csv").stdout, newline="")))
    assert row["host"] == "'" + HOSTILE_FILE


def prometheus(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_prometheus_labels_with_quotes_backslashes_newlines_make_no_series(estate):
    scan = prometheus(scanned(estate, "prometheus").stdout)
    assert {s.labels["host"] for s in scan["ekuscan_endpoint_verdict"]} == {HOST, PLAIN_HOST}

    hostile_series = prometheus(inspected(estate, HOSTILE_FILE, "prometheus").stdout)
    benign_series = prometheus(inspected(estate, "benign.pem", "prometheus").stdout)
    assert {n: len(s) for n, s in hostile_series.items()} == {n: len(s) for n, s in benign_series.items()}
    hosts = {s.labels["host"] for samples in hostile_series.values() for s in samples if "host" in s.labels}
    assert hosts == {HOSTILE_FILE}  # read back exactly: escaped in the file, not split into another series


# --- HTML in a real browser ----------------------------------------------------------------------

HTML_SOURCE = (Path(__file__).resolve().parent.parent / "scanner" / "writers" / "html.py").read_text()
AUTHORED_TAGS = set(re.findall(r"<([a-z][a-z0-9]*)[\s>/]", HTML_SOURCE)) | {"html"}
AUTHORED_ATTRIBUTES = set(re.findall(r"(?<![\w-])([a-zA-Z][\w-]*)=\"", HTML_SOURCE))
PROBE = """<script id="probe-script">
window.addEventListener('load', () => {
  const mine = e => e.id === 'probe' || e.id === 'probe-script';
  const box = e => {
    const r = e.getBoundingClientRect();
    return [Math.round(r.width), Math.round(r.height)];
  };
  const chart = document.getElementById('timeline-chart');
  const out = {
    elements: [...document.querySelectorAll('*')].filter(e => !mine(e))
      .map(e => [e.tagName.toLowerCase(), [...e.attributes].map(a => a.name)]),
    injected: document.querySelectorAll(
      'ekuscan-injected, img, iframe, object, embed, a, [onload], [onerror], #injected, .injected, ' +
      'script:not(#probe-script)').length,
    text: document.body.textContent,
    chart: chart ? box(chart) : null,
    rows: [...document.querySelectorAll('tr.host')].map(r => [r.dataset.host, box(r), r.cells.length]),
    lanes: document.querySelectorAll('#timeline-chart g.lane').length,
  };
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def rendered(page: str, directory: Path, name: str) -> dict:
    probed = directory / name
    probed.write_text(page.replace("</body>", PROBE + "</body>"))
    result = chromium(["--virtual-time-budget=5000", "--dump-dom", probed.as_uri()], directory)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, result.stdout[-2000:]
    return json.loads(html.unescape(match.group(1)))


def assert_only_authored_elements(layout: dict) -> None:
    assert layout["injected"] == 0
    for tag, attributes in layout["elements"]:
        assert tag in AUTHORED_TAGS, tag
        assert set(attributes) <= AUTHORED_ATTRIBUTES, (tag, attributes)


def test_html_in_chromium_holds_no_element_from_the_network(estate, tmp_path):
    page = scanned(estate, "html").stdout
    layout = rendered(page, tmp_path, "scan.html")
    assert_only_authored_elements(layout)
    assert '<svg id="injected" onload="alert(1)">' in layout["text"]  # shown as text
    assert "\\x1b]0;owned\\x07" in layout["text"] and not NEVER_RAW.search(layout["text"])
    # The page still works: every host has its row of 7 cells, laid out.
    assert sorted(host for host, _, _ in layout["rows"]) == sorted([HOST, PLAIN_HOST])
    assert all(w > 500 and h >= 15 and cells == 7 for _, (w, h), cells in layout["rows"])
    assert layout["chart"] and layout["chart"][0] >= 900 and layout["lanes"] == 1


def test_html_of_a_hostile_file_name_in_chromium(estate, tmp_path):
    layout = rendered(inspected(estate, HOSTILE_FILE, "html").stdout, tmp_path, "inspect.html")
    assert_only_authored_elements(layout)
    assert [host for host, _, _ in layout["rows"]] == [visible(HOSTILE_FILE)]
    assert layout["lanes"] == 1  # the hostile name is a lane of the SVG timeline, as text


# --- history: diff, history, --only-changes, and the log lines --------------------------------------

SCANNER = "=x\"<b>scanner</b>\\'@"  # --scanner-name takes printable text only; this is what is left


def test_history_texts_and_logs_show_escapes(estate, tmp_path):
    db = str(tmp_path / "history.sqlite")
    first = ekuscan(
        *scan_args(
            estate, "--db", db, "--scanner-name", SCANNER, "-f", "json", "-o", str(tmp_path / "a.json")
        )
    )
    assert first.returncode == 1, first.stderr
    estate.servers.renew()
    try:
        second = ekuscan(*scan_args(estate, "--db", db, "--scanner-name", SCANNER, "--only-changes"))
    finally:
        estate.servers.renew(False)
    assert second.returncode == 1, second.stderr
    assert "certificates changed" in second.stdout and "\\nINJECTED-renewed-cn" in second.stdout
    diff = ekuscan("diff", "--db", db)
    history = ekuscan("history", f"{HOST}:5061", "--db", db)
    missing = ekuscan("history", "\x1b]0;x\x07.example", "--db", db)
    for result in (first, second, diff, history, missing):
        assert_safe_for_people(result.stdout + result.stderr)
    assert "run-recorded" in second.stderr and "\\nINJECTED-leaf-cn" in diff.stdout
    assert "\\nINJECTED-leaf-cn" in history.stdout and "\\nINJECTED-renewed-cn" in history.stdout
    assert "no observation of \\x1b]0;x\\x07.example" in missing.stderr
    assert_safe_for_people(in_pty(["diff", "--db", db]))
    changes = json.loads(ekuscan("diff", "--db", db, "-f", "json").stdout)["comparisons"][0]
    changed = next(c for c in changes["certificate_changes"] if c["port"] == 5061)
    assert len(changes["certificate_changes"]) == 3  # one leaf on 5061, 7001 and 8443
    assert name_attributes(changed["before"]["leaf"]["subject"])["CN"] == payload("leaf-cn")
    assert name_attributes(changed["leaf"]["subject"])["CN"] == payload("renewed-cn")
