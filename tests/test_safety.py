"""The output-safety rules (scanner/report/safety.py), one test per rule, each also over arbitrary strings."""

from __future__ import annotations

import csv
import html.parser
import io
import json
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scanner.report.safety import (
    FORMULA_STARTS,
    CsvRows,
    csv_cell,
    csv_row,
    html_attribute,
    html_text,
    json_text,
    one_line,
    visible,
    visible_lines,
)

# What must never reach a reader raw (the list, plus the Unicode line separators and
# lone surrogates): C0 controls, DEL, C1 controls, bidi overrides and isolates.
NEVER_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
NOT_IN_A_VALUE = re.compile("[\t\n]")

# Any string at all, surrogates included, with the hostile characters made likely.
HOSTILE_CHARS = "\x00\x07\x08\t\n\r\x1b\x7f\x85\x9b\x9d\u2028\u202e\u2066\u2069<>&\"'=+-@\\"
texts = st.text(st.characters(exclude_categories=()) | st.sampled_from(HOSTILE_CHARS), max_size=60)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        pytest.param("\x1b]0;owned\x07", "\\x1b]0;owned\\x07", id="osc-title-bel"),
        pytest.param("\x1b[2J\x1b[31m", "\\x1b[2J\\x1b[31m", id="csi-clear-and-colour"),
        pytest.param("\x00\x08\x0b\x0c\x1f", "\\x00\\x08\\x0b\\x0c\\x1f", id="c0"),
        pytest.param("a\x7fb", "a\\x7fb", id="del"),
        pytest.param("\x80\x85\x9b\x9d\x9f", "\\x80\\x85\\x9b\\x9d\\x9f", id="c1"),
        pytest.param(
            "\u202a\u202b\u202c\u202d\u202e", "\\u202a\\u202b\\u202c\\u202d\\u202e", id="bidi-overrides"
        ),
        pytest.param("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069", id="bidi-isolates"),
        pytest.param("one\ntwo\r\nthree\tfour", "one\\ntwo\\r\\nthree\\tfour", id="newline-cr-tab"),
        pytest.param("a\u2028b\u2029c", "a\\u2028b\\u2029c", id="line-separators"),
        pytest.param("\ud800", "\\ud800", id="lone-surrogate"),
    ],
)
def test_visible_escapes_every_control(raw, shown):
    assert visible(raw) == shown


@pytest.mark.parametrize(
    "text",
    [
        "expe.example.com",
        "CN=Zürich Ünïcode,O=株式会社",
        "DOMAIN\\user <b>&amp; \"quoted\" 'single'",
        "non\xa0breaking and emoji \U0001f512",
        "\u200e\u200f",  # the bidi *marks* only nudge neutral characters; the list is kept
    ],
)
def test_visible_leaves_printable_text_alone(text):
    assert visible(text) == text


@settings(max_examples=400)
@given(texts)
@example("\x1b[31mred\x1b[0m\n\u202eevil")
def test_visible_never_lets_a_control_through(text):
    shown = visible(text)
    assert not NEVER_RAW.search(shown) and not NOT_IN_A_VALUE.search(shown)
    assert len(shown.splitlines() or [""]) == 1  # one value is one line, by any definition of a line
    assert visible(shown) == shown  # nothing left to escape
    assert (shown == text) == (not NEVER_RAW.search(text) and not NOT_IN_A_VALUE.search(text))


@settings(max_examples=300)
@given(st.lists(texts, max_size=5))
def test_visible_lines_keeps_our_layout_and_escapes_the_rest(lines):
    text = "\n".join(f"\t{line}" for line in lines)
    shown = visible_lines(text)
    assert not NEVER_RAW.search(shown)
    # Our newlines and tabs survive; the values' own newlines do not (visible() them first).
    assert visible_lines("\n".join(f"\t{visible(line)}" for line in lines)) == "\n".join(
        f"\t{visible(line)}" for line in lines
    )


@given(texts)
def test_one_line_makes_any_message_one_line(text):
    line = one_line(f"bad value {text}: see\nthe manual")
    assert "\n" not in line and "\t" not in line and "  " not in line and not NEVER_RAW.search(line)
    assert line.endswith("see the manual")


class _Elements(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text.append(data)


@settings(max_examples=400)
@given(texts)
@example('"><svg onload=alert(1)>')
@example("'><img src=x onerror=alert(1)>")
@example("</p><script>alert(1)</script>")
def test_html_values_never_become_markup(text):
    page = f"<p data-a=\"{html_attribute(text)}\" title='{html_attribute(text)}'>{html_text(text)}</p>"
    parser = _Elements()
    parser.feed(page)
    parser.close()
    assert parser.tags == [("p", [("data-a", visible(text)), ("title", visible(text))])]
    assert "".join(parser.text) == visible(text)
    assert not NEVER_RAW.search(page) and "<" not in html_text(text) and ">" not in html_attribute(text)


@pytest.mark.parametrize("first", sorted(FORMULA_STARTS))
def test_csv_cell_neutralises_each_formula_start(first):
    cell = f'{first}HYPERLINK("http://attacker.example","x")'
    assert csv_cell(cell) == "'" + cell


def test_csv_row_neutralises_every_cell():
    assert csv_row(["=1", 5061, "-x", "ok"]) == ["'=1", "5061", "'-x", "ok"]


@pytest.mark.parametrize("cell", ["CN=x", "2027-01-01T00:00:00Z", "TANDBERG/4137 (X14.3.2)", "", "'already"])
def test_csv_cell_leaves_other_cells_alone(cell):
    assert csv_cell(cell) == cell


@settings(max_examples=300)
@given(st.lists(texts | st.integers(), min_size=1, max_size=6))
@example(["a\r=HYPERLINK(1)", 1])  # unquoted, the carriage return would start a row, and a formula
def test_csv_cells_never_start_a_formula(cells):
    """Whatever the cells hold, a reader gets exactly one row back, and no cell starts a formula."""
    out = io.StringIO()
    CsvRows(out).writerow(cells)
    (parsed,) = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert len(parsed) == len(cells)
    for value, cell in zip(cells, parsed, strict=True):
        assert cell[:1] not in FORMULA_STARTS
        text = str(value)
        assert cell == ("'" + text if text[:1] in FORMULA_STARTS else text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts.filter(lambda t: not re.search("[\ud800-\udfff]", t)),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(texts.filter(str.isprintable), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=400)
@given(json_values)
@example({"subject": "CN=\x1b]0;x\x07\u202e\x9b\x7f\u2028", "san": ["a\nb"]})
def test_json_round_trips_exactly_and_never_carries_a_control(value):
    for encoded in (
        json.dumps(value, ensure_ascii=False),
        json.dumps(value, ensure_ascii=False, indent=2),
        json.dumps(value, ensure_ascii=False, separators=(",", ":")),
    ):
        text = json_text(encoded)
        assert json.loads(text) == value
        assert not NEVER_RAW.search(text)
        if not re.search("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", encoded):
            assert text == encoded  # nothing to do: the bytes are the ones json.dumps wrote
