"""The stderr log line format for cron and journald, and the HOST[:PORT] argument of `history`."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.app.errors import UsageFailure
from scanner.app.history import parse_endpoint
from scanner.edge.runlog import Log, format_value, line


def test_line_format():
    assert line("info", "run-recorded", {"run": 12, "scanner": "jump1", "skipped": None}) == (
        "ekuscan: info: run-recorded run=12 scanner=jump1"
    )
    assert (
        line("warning", "x", {"db": "/var/lib/my db.sqlite"})
        == 'ekuscan: warning: x db="/var/lib/my db.sqlite"'
    )


@given(st.text())
def test_any_value_stays_on_one_line_and_reads_back(value):
    text = format_value(value)
    assert text and text.isprintable()  # one line, whatever the value holds
    if text.startswith('"'):
        assert json.loads(text) == value
    else:
        assert text == value and " " not in text and "=" not in text


def test_quiet_drops_info_not_warnings():
    out = io.StringIO()
    log = Log(quiet=True, stream=out)
    log.info("run-started", run=1)
    log.warning("run-abandoned", run=0)
    assert out.getvalue() == "ekuscan: warning: run-abandoned run=0\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("expe.example.com", ("expe.example.com", None)),
        ("EXPE.Example.com.:7001", ("expe.example.com", 7001)),
        ("192.0.2.1:5061", ("192.0.2.1", 5061)),
        ("2001:0db8:0:0::1", ("2001:db8::1", None)),
        ("[2001:0db8::0001]:443", ("2001:db8::1", 443)),
    ],
)
def test_history_endpoint_argument(text, expected):
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("text", ["[]:1", ":5061", "host:0", "host:x", "host:70000"])
def test_history_endpoint_argument_errors(text):
    with pytest.raises(UsageFailure):
        parse_endpoint(text)
