"""Output safety: how text that strangers wrote (certificates, banners, CA names, errors, files) is shown.

ekuscan prints what servers say: certificate subjects and SANs, the CA names of a
CertificateRequest, SIP and HTTP ``Server`` banners, error texts. A hostile server can put
anything there. This module is the one place that decides how such text reaches each kind of
reader, so that it never acts on one.

**People** (the table, ``inspect``, diff and history text, ``--only-changes``, log lines,
warnings, errors, the progress line): ``visible(value)`` for each value as it enters a line. C0
controls, DEL, C1 controls (U+0080-U+009F), the bidirectional overrides and isolates
(U+202A-U+202E, U+2066-U+2069), the Unicode line and paragraph separators and lone surrogates
become visible escapes (``\\x1b``, ``\\u202e``). A value is always one line: newline, carriage
return and tab are escaped too (``\\n``, ``\\r``, ``\\t``). ``visible_lines(text)`` is the same rule
for a whole text ekuscan composed, keeping its own newlines and tabs: a last check, never a
substitute for escaping each value (a value's newline is indistinguishable from ours by then).
Colour codes ekuscan itself emits are painted on text already escaped, so they are unaffected.
Backslashes are left alone (``\\x1b`` in a table may be what the server wrote; the JSON output is
the exact record). ``one_line(message)`` is the form of error messages.

**HTML**: ``html_text`` and ``html_attribute`` apply the people rule, then escape ``<``, ``>``,
``&`` and both quotes, so a value is text in any element and cannot end a quoted attribute: a
report shows the escapes a terminal does, and nothing from the network becomes an element or an
attribute. (Both contexts need the same escaping; the two names say which one a call is in.)

**CSV**: ``csv_cell`` neutralises a cell that a spreadsheet would run as a formula, as OWASP
recommends: one whose first character is ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a
leading ``'``. Every cell goes through it (no ekuscan column legitimately starts with one of them:
there are no negative numbers), so the rule is the same for every column. ``CsvRows`` writes such
rows and quotes every cell of a row that holds a carriage return: Python's csv module (3.11)
quotes only the characters of its line terminator, and a bare ``\\r`` ends a row for every reader,
which would let the rest of a cell start a row, and a formula, of its own.

**JSON** keeps every value exactly. ``json_text`` only picks JSON's own ``\\uXXXX`` escapes,
instead of the raw character, for DEL, C1 and bidi controls and the line separators, which
``json.dumps(ensure_ascii=False)`` writes raw: the decoded values are identical, and a JSON
document printed on a terminal cannot drive it either.

**Prometheus** label values are escaped by prometheus_client (backslash, quote, newline), which
is all its text format needs.
"""

from __future__ import annotations

import csv
import functools
import html
import re
from collections.abc import Iterable
from typing import TextIO

# Code points that must never reach a reader raw. Newline and tab are listed separately: they
# are ekuscan's own layout in a composed text, but never part of one value.
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but newline and tab, DEL, C1
_FORMATTING = "\u2028\u2029\u202a-\u202e\u2066-\u2069"  # line/paragraph separators, bidi controls
_SURROGATES = "\ud800-\udfff"  # lone surrogates: unencodable, a crash rather than an attack
# What json.dumps(ensure_ascii=False) writes raw and JSON text should not (it escapes C0 itself).
_JSON_ESCAPED = tuple(
    chr(n) for n in (*range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
)

FORMULA_STARTS = frozenset("=+-@\t\r")  # OWASP "CSV Injection"


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


@functools.cache
def _unsafe(in_value: bool) -> re.Pattern[str]:
    """The characters to escape in a value (``in_value``) or in a composed text.

    Compiled on first use: a character class beyond Latin-1 takes milliseconds to compile, which
    every run would pay at start-up, and printable ASCII (most values) never needs it.
    """
    layout = "\t\n" if in_value else ""
    return re.compile(f"[{layout}{_CONTROLS}{_FORMATTING}{_SURROGATES}]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"


def visible(value: object) -> str:
    """One value for people: one line, every control and bidi character shown as an escape."""
    text = str(value)
    if text.isascii() and text.isprintable():  # no control, no newline or tab: nothing to do
        return text
    return _unsafe(True).sub(_escape, text)


def visible_lines(text: str) -> str:
    """A text ekuscan composed, for people: its newlines and tabs kept, every other control escaped."""
    return _unsafe(False).sub(_escape, text)


def one_line(text: str) -> str:
    """A message on one line: runs of whitespace (newlines included) become one space, then ``visible``."""
    return visible(" ".join(text.split()))


def html_text(value: object) -> str:
    """A value as HTML text content (element text, SVG ``<text>``/``<title>``)."""
    return html.escape(visible(value), quote=True)


def html_attribute(value: object) -> str:
    """A value inside a quoted HTML attribute (``data-host="..."``)."""
    return html.escape(visible(value), quote=True)


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ``'`` where it would start a formula."""
    text = str(value)
    return "'" + text if text[:1] in FORMULA_STARTS else text


def csv_row(cells: Iterable[object]) -> list[str]:
    """Every cell of a row through ``csv_cell``."""
    return [csv_cell(cell) for cell in cells]


class CsvRows:
    """A CSV writer whose cells never start a formula and whose rows never end inside a cell."""

    def __init__(self, out: TextIO) -> None:
        self._minimal = csv.writer(out, lineterminator="\n")
        self._quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, cells: Iterable[object]) -> None:
        row = csv_row(cells)
        (self._quoted if any("\r" in cell for cell in row) else self._minimal).writerow(row)


def json_text(encoded: str) -> str:
    """JSON text (``json.dumps(..., ensure_ascii=False)``) with JSON escapes for DEL, C1 and bidi controls.

    Valid on any JSON text: those characters can only occur inside strings, where ``\\uXXXX``
    means the same character. ASCII text without DEL, the usual case, is returned as it is.
    """
    if encoded.isascii() and "\x7f" not in encoded:
        return encoded
    # Forty-odd substring searches run at memory speed (and those for characters wider than the
    # text's own storage return at once); a regular expression's scan is several times slower,
    # and most non-ASCII text (Zürich, an en dash) has nothing to escape.
    for char in _JSON_ESCAPED:
        if char in encoded:
            encoded = encoded.replace(char, f"\\u{ord(char):04x}")
    return encoded


__all__ = [
    "FORMULA_STARTS",
    "CsvRows",
    "csv_cell",
    "csv_row",
    "html_attribute",
    "html_text",
    "json_text",
    "one_line",
    "visible",
    "visible_lines",
]
