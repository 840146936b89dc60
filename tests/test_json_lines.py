"""An endpoint's JSON line, joined from the texts of its parts (``writers.json.EndpointLines``),
is byte for byte the document rendered whole, whatever the reports share and in any order."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.analysis import analyze_host
from scanner.model import Endpoint, EndpointReport, Finding, Severity, Verdict
from scanner.report.document import SCHEMA, endpoint_dict
from scanner.report.safety import json_text
from scanner.writers.json import EndpointLines, json_endpoint, jsonl_endpoint
from tests.conftest import context
from tests.factories import DAY, NOW, make_chain, observation


def whole(report: EndpointReport, separators: tuple[str, str], extra: dict[str, str] | None = None) -> str:
    """The reference: the document rendered at once, as the writers did before the parts."""
    document = endpoint_dict(report)
    document.update(extra or {})
    return json_text(json.dumps(document, ensure_ascii=False, separators=separators))


def _host_reports() -> list[EndpointReport]:
    """Reports of several hosts as the analysis makes them, sharing chains, findings and links
    across ports (one context: its memos give equal judgements the same objects)."""
    analysis = context()
    chains = [
        make_chain("both", leaf_cn="expe.example.test"),
        make_chain("serverAuth", leaf_cn="cucm.example.test"),
        make_chain("both", leaf_cn="old.example.test", not_after=NOW - DAY),
    ]
    reports = []
    for n, (root, inter, leaf) in enumerate(chains):
        host = f"192.0.2.{n + 1}"
        names = ("CN=Caf\u00e9 CA\u202e,O=Example", "CN=Plain CA") if n == 0 else ()
        observations = [
            observation(leaf, inter, root, host=host, port=port, requested=bool(names), ca_names=names)
            for port in (5061, 7001, 8443, 443)
        ]
        reports += analyze_host(observations, analysis)
    return reports


REPORTS = _host_reports()


def _variant(report: EndpointReport, how: int) -> EndpointReport:
    """The same report, or one that shares some of its objects and differs in another."""
    if how == 1:  # another endpoint with the same chain and judgement objects; hostile names
        name = "h\u202eost\x7f"
        ep = Endpoint(target=name, host=name, ip="198.51.100.9", port=5062, label="=1+2")
        seen = replace(report.observation, endpoint=ep, http_server="nginx\u0085")
        return replace(report, observation=seen)
    if how == 2:  # the same links, another findings tuple (a sighting's findings added)
        extra = Finding("SIGHTING_STALE", Severity.LOW, "seen long ago \u2066x\u2069")
        return replace(report, findings=(*report.findings, extra))
    if how == 3:  # the same findings and links objects, another verdict and date
        return replace(report, verdict=Verdict.BREAKS, breaks_on=NOW + timedelta(days=3))
    if how == 4:  # equal chain content in new objects (as after a pickle round trip)
        return replace(report, chain=(*report.chain,), links=(*report.links,))
    return report


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(REPORTS) - 1), st.integers(0, 4)), min_size=1, max_size=40))
def test_lines_equal_the_whole_document(picks: list[tuple[int, int]]) -> None:
    lines = EndpointLines((", ", ": "))
    compact = EndpointLines((",", ":"), {"schema": SCHEMA})
    for index, how in picks:
        report = _variant(REPORTS[index], how)
        assert lines(report) == whole(report, (", ", ": "))
        assert compact(report) == whole(report, (",", ":"), {"schema": SCHEMA})


def test_the_writers_renderers_are_the_lines() -> None:
    for report in REPORTS:
        assert json_endpoint(report) == whole(report, (", ", ": ")).encode()
        assert jsonl_endpoint(report) == (whole(report, (",", ":"), {"schema": SCHEMA}) + "\n").encode()


def test_ports_share_the_chain_part_and_hostile_text_is_escaped() -> None:
    """The analysis gives a host's ports one chain object (so its text is made once), and what a
    server sent stays inert in the line, escaped, as in the whole document."""
    first, second = REPORTS[0], REPORTS[1]
    assert first.chain is second.chain and first.trust is second.trust
    line = EndpointLines((", ", ": "))(first)
    assert "\u202e" not in line and "\\u202e" in line
    assert json.loads(line)["client_ca_names"][0] == "CN=Caf\u00e9 CA\u202e,O=Example"  # JSON keeps the value


@pytest.mark.parametrize("limit", [1, 2])
def test_a_forgotten_part_is_rendered_again(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    monkeypatch.setattr("scanner.writers.json.REMEMBERED_PARTS", limit)
    lines = EndpointLines((", ", ": "))
    for report in [*REPORTS, *REPORTS[::-1]]:
        assert lines(report) == whole(report, (", ", ": "))
