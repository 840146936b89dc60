"""Every writer and every text for people, fed arbitrary strings in every field a stranger controls.

No network: one judged report has its host, label, banners, error, certificate names, link names
and reasons, and finding messages replaced by what hypothesis makes up. The rules checked are
those of scanner/report/safety.py, on the real writers' output: the table holds no control
character but ekuscan's own colours and no line a value started; HTML no element or attribute a
value made; CSV no cell that starts a formula, and one row per endpoint; JSON the exact values.
"""

from __future__ import annotations

import csv
import html.parser
import io
import json
import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from scanner.app.errors import error_line
from scanner.core.analysis import analyze
from scanner.core.changes import RunLabel, certificate_periods, compare
from scanner.edge.runlog import line
from scanner.model import CertFacts, Endpoint, Finding, Status
from scanner.report.change_documents import render_periods, render_text
from scanner.report.inventory import Inventory
from scanner.report.safety import FORMULA_STARTS, visible
from scanner.writers import OutputFormat, RunInfo, make_writer
from scanner.writers.csv import COLUMNS
from scanner.writers.table import _COLOURS
from tests.conftest import context
from tests.factories import NOW, make_chain, observation

NEVER_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# The only escape sequences ekuscan writes itself: its verdict colours and the reset.
OWN_SGR = re.compile("|".join(re.escape(f"\x1b[{code}m") for code in [*_COLOURS.values(), "0"]))
MARK = "INJECTED"  # follows a newline in every hostile value: no output line may start with it

HOSTILE_CHARS = "\x00\x07\t\n\r\x1b\x7f\x85\x9b\x9d\u2028\u202e\u2066<>&\"'=+-@\\"
texts = st.text(st.characters(exclude_categories=("Cs",)) | st.sampled_from(HOSTILE_CHARS), max_size=30)
hostile = texts.map(lambda t: f"{t}\n{MARK}{t}")

RUN = RunInfo("test", NOW, NOW)
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
FIXED = "=cmd|' /C calc'!A0\x1b]0;owned\x07\x1b[2J\x9b31m\u202eevil<svg onload=alert(1)>\"'\\\r\n" + MARK


@pytest.fixture(scope="module")
def base_report():
    root, inter, leaf = make_chain("serverAuth", "none", leaf_cn="expe.example.test")
    return analyze(observation(leaf, inter, root, host="192.0.2.7", port=5061), context())


def everywhere(report, text: str, *, status: Status = Status.OK):
    """``report`` with ``text`` in every field a server, a certificate or a file can set."""
    ep = Endpoint(target=text, host=text, ip="192.0.2.7", port=5061, label=text + "label")
    obs = replace(
        report.observation, endpoint=ep, status=status, error=text, sip_server=text, http_server=text
    )
    leaf = report.chain[0]
    assert isinstance(leaf, CertFacts)
    chain = (
        replace(leaf, subject=f"CN={text},O={text}", issuer=f"CN={text}", eku=(text,)),
        *report.chain[1:],
    )
    links = tuple(replace(link, name=text + link.name, reason=text) for link in report.links)
    findings = (*report.findings, Finding("HOSTILE", report.findings[0].severity, text))
    return replace(report, observation=obs, chain=chain, links=links, findings=findings)


def render(fmt: OutputFormat, reports, *, color: bool = False) -> str:
    out = io.StringIO()
    writer = make_writer(fmt, out, RUN, color=color)
    inventory = Inventory()
    for report in reports:
        if inventory.add(report):
            writer.add(report)
    writer.finish(inventory, 1.0)
    return out.getvalue()


def assert_safe_for_people(text: str) -> None:
    bare = OWN_SGR.sub("", text)
    assert not NEVER_RAW.search(bare), repr(NEVER_RAW.search(bare))
    assert not [ln for ln in bare.splitlines() if ln.lstrip().startswith(MARK)]


@SETTINGS
@given(hostile)
@example(FIXED)
def test_table_shows_any_value_as_text(base_report, text):
    for status in (Status.OK, Status.TLS_ERROR):  # the error shows in the note only when it failed
        reports = [everywhere(base_report, text, status=status)]
        coloured = render(OutputFormat.TABLE, reports, color=True)
        assert_safe_for_people(coloured)
        assert OWN_SGR.search(coloured)  # the colours are still there
        assert_safe_for_people(render(OutputFormat.TABLE, reports))
        assert "\\n" + MARK in coloured  # the value is shown, its newline as an escape


class _Markup(html.parser.HTMLParser):
    """The elements and attribute names of a page, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, tuple[str, ...]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, tuple(name for name, _ in attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def markup(page: str) -> _Markup:
    parser = _Markup()
    parser.feed(page)
    parser.close()
    return parser


@SETTINGS
@given(hostile)
@example(FIXED)
@example('"><img src=x onerror=alert(1)><svg><script>alert(1)</script>')
def test_html_makes_no_element_from_any_value(base_report, text):
    page = render(OutputFormat.HTML, [everywhere(base_report, text)])
    benign = render(OutputFormat.HTML, [everywhere(base_report, "benign")])
    # The same elements, with the same attributes, as the same report with a harmless text.
    assert markup(page).elements == markup(benign).elements
    assert not NEVER_RAW.search(page)
    assert visible(text) in "".join(markup(page).text)


@SETTINGS
@given(hostile | texts)
@example(FIXED)
@example("\r=HYPERLINK(1)")
def test_csv_cells_never_start_a_formula_and_rows_stay_rows(base_report, text):
    rows = list(
        csv.reader(io.StringIO(render(OutputFormat.CSV, [everywhere(base_report, text)]), newline=""))
    )
    assert len(rows) == 2 and rows[0] == list(COLUMNS) and len(rows[1]) == len(COLUMNS)
    for cell in rows[1]:
        assert cell[:1] not in FORMULA_STARTS, cell
    cells = dict(zip(COLUMNS, rows[1], strict=True))
    expected = "'" + text if text[:1] in FORMULA_STARTS else text
    assert cells["sip_server"] == cells["http_server"] == expected


@SETTINGS
@given(hostile | texts)
@example(FIXED)
def test_json_and_jsonl_keep_every_value(base_report, text):
    report = everywhere(base_report, text)
    for endpoint in (
        json.loads(render(OutputFormat.JSON, [report]))["endpoints"][0],
        json.loads(render(OutputFormat.JSONL, [report])),
    ):
        assert endpoint["host"] == endpoint["sip_server"] == endpoint["http_server"] == text
        assert endpoint["chain"][0]["subject"] == f"CN={text},O={text}"
        assert {link["reason"] for link in endpoint["links"]} == {text}
        assert endpoint["findings"][-1]["message"] == text
    assert not NEVER_RAW.search(render(OutputFormat.JSON, [report]))


@SETTINGS
@given(hostile | texts)
@example('a"b\\c\nd} 1\nekuscan_fake{x="y"} 1')
def test_prometheus_labels_neither_break_the_file_nor_add_series(base_report, text):
    report = everywhere(base_report, text)
    benign = everywhere(base_report, "benign")
    families = list(text_string_to_metric_families(render(OutputFormat.PROMETHEUS, [report])))
    expected = list(text_string_to_metric_families(render(OutputFormat.PROMETHEUS, [benign])))
    assert [(f.name, len(f.samples)) for f in families] == [(f.name, len(f.samples)) for f in expected]
    hosts = {s.labels["host"] for f in families for s in f.samples if "host" in s.labels}
    assert hosts == {text}


def hostile_doc(text: str, sha: str) -> dict[str, object]:
    return {
        "host": text,
        "ip": "192.0.2.9",
        "port": 5061,
        "role": text,
        "status": text,
        "verdict": "breaks" if sha == "BB" else "ok",
        "breaks_on": text,
        "product": text,
        "software_version": sha,
        "chain": [{"sha256": sha, "subject": f"CN={text}", "issuer": text, "eku": [text], "not_after": text}],
        "links": [{"name": text, "uses": text, "verdict": "breaks", "reason": text}] if sha == "BB" else [],
    }


@SETTINGS
@given(hostile, hostile)
@example(FIXED, FIXED)
def test_diff_and_history_text_show_any_value_as_text(text, scanner):
    a, b = RunLabel(1, scanner, text), RunLabel(2, scanner, text)
    changes = compare([hostile_doc(text, "AA")], [hostile_doc(text, "BB")], a, b)
    assert changes.new_breakages and changes.certificate_changes and changes.software_changes
    assert_safe_for_people(render_text(changes))
    periods = certificate_periods([(a, hostile_doc(text, "AA")), (b, hostile_doc(text, "BB"))])
    assert_safe_for_people(render_periods(periods))


@SETTINGS
@given(hostile)
def test_log_and_error_lines_are_one_safe_line(text):
    for shown in (
        line("warning", "run-abandoned", {"scanner": text, "db": text}),
        error_line(f"{text}: bad"),
    ):
        assert_safe_for_people(shown)
        assert "\n" not in shown
