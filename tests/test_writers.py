"""Writers without a network: JSON round trip and order, memory of a large JSON inventory, table layout."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from scanner.core.analysis import analyze
from scanner.edge.spool import DiskSpool
from scanner.model import Endpoint
from scanner.report.document import common_name
from scanner.report.inventory import Inventory
from scanner.writers import OutputFormat, RunInfo, make_writer
from scanner.writers.table import WIDTH, _wrap
from tests.conftest import context
from tests.factories import NOW, bytes_kept_per_item, make_chain, observation

RUN = RunInfo("test", NOW, NOW)


@pytest.fixture(scope="module")
def report():
    root, inter, leaf = make_chain("serverAuth", "none", leaf_cn="expe.example.test")
    return analyze(observation(leaf, inter, root, host="192.0.2.7", port=5061), context())


def reports_for(report, hosts):
    for n, host in enumerate(hosts):
        ep = Endpoint(target=host, host=host, ip=host, port=5061 + n % 3)
        yield replace(report, observation=replace(report.observation, endpoint=ep))


def render(fmt, reports):
    out = io.StringIO()
    writer = make_writer(fmt, out, RUN)
    inventory = Inventory()
    for r in reports:
        inventory.add(r)
        writer.add(r)
    writer.finish(inventory, 1.0)
    return out.getvalue()


def test_json_round_trip_sorted(report):
    hosts = ["192.0.2.30", "192.0.2.4", "2001:db8::1", "192.0.2.100", "b.example.test", "a.example.test"]
    doc = json.loads(render(OutputFormat.JSON, reports_for(report, hosts)))
    assert [e["host"] for e in doc["endpoints"]] == [
        "192.0.2.4",
        "192.0.2.30",
        "192.0.2.100",
        "2001:db8::1",
        "a.example.test",
        "b.example.test",
    ]
    assert [h["host"] for h in doc["hosts"]] == [e["host"] for e in doc["endpoints"]]
    assert doc["summary"]["endpoints"] == 6 and doc["summary"]["hosts_by_verdict"]["breaks"] == 6
    assert doc["endpoints"][0]["chain"][0]["eku"] == ["serverAuth"]


def test_json_with_no_endpoints_is_valid():
    doc = json.loads(render(OutputFormat.JSON, []))
    assert doc["endpoints"] == [] and doc["hosts"] == [] and doc["summary"]["probes"] == 0


def test_json_writer_does_not_hold_reports(report):
    """Each endpoint is spooled to disk as it arrives: memory per endpoint is its index entry."""
    out = io.StringIO()
    writer = make_writer(OutputFormat.JSON, out, RUN, spool=DiskSpool)
    sample = list(reports_for(report, [f"10.0.{i // 250}.{i % 250}" for i in range(2000)]))
    kept = bytes_kept_per_item(writer.add, sample)
    assert kept < 600, f"{kept:.0f} bytes per endpoint"
    writer.finish(Inventory(), 0.0)
    assert len(json.loads(out.getvalue())["endpoints"]) == 2000


def test_table_writer_does_not_hold_reports(report):
    """The table's rows are rendered on arrival and spooled: memory per endpoint is an index entry."""
    out = io.StringIO()
    writer = make_writer(OutputFormat.TABLE, out, RUN, spool=DiskSpool)
    inventory = Inventory(spool=DiskSpool)
    sample = list(reports_for(report, [f"10.0.{i // 250}.{i % 250}" for i in range(2000)]))
    kept = bytes_kept_per_item(writer.add, sample)
    assert kept < 600, f"{kept:.0f} bytes per endpoint"  # the reports themselves: about 5 KiB each
    for r in sample:
        inventory.add(r)
    writer.finish(inventory, 0.0)
    text = out.getvalue()
    assert text.count("role expressway") == 2000 and text.count("\n  5061 ") + text.count("\n  5062 ") > 1000


def test_jsonl_is_one_object_per_line(report):
    lines = render(OutputFormat.JSONL, reports_for(report, ["192.0.2.1", "192.0.2.2"])).splitlines()
    assert [json.loads(line)["host"] for line in lines] == ["192.0.2.1", "192.0.2.2"]


def test_table_groups_by_host_within_width(report):
    text = render(OutputFormat.TABLE, reports_for(report, ["192.0.2.1", "192.0.2.1", "192.0.2.2"]))
    assert text.count("192.0.2.1  role expressway") == 1
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    flat = " ".join(text.split())  # the links line wraps at the table width
    assert "breaks: traversal-zone (client)" in flat and "leaf EKU lacks clientAuth" in flat


def test_table_names_the_address_when_a_name_has_several(report):
    def at(ip):
        ep = Endpoint(
            target="expe.example.test", host="expe.example.test", ip=ip, port=5061, sni="expe.example.test"
        )
        return replace(report, observation=replace(report.observation, endpoint=ep))

    text = render(OutputFormat.TABLE, [at("192.0.2.7"), at("2001:db8:1234:5678:9abc:def0:1234:5678")])
    assert "192.0.2.7:5061" in text and "[2001:db8:" in text
    assert max(len(line) for line in text.splitlines()) <= WIDTH


@pytest.mark.parametrize("indent", ["", "  "])
def test_wrap_keeps_indent_and_width(indent):
    text = indent + "breaks: " + ", ".join(f"link-number-{n} (client)" for n in range(30))
    lines = _wrap(text).splitlines()
    assert all(len(line) <= WIDTH for line in lines)
    assert lines[0].startswith(indent + "breaks:")
    assert all(line.startswith(indent + "    ") for line in lines[1:])
    assert " ".join(line.strip() for line in lines) == text.strip()


def test_common_name():
    assert common_name("CN=expe.example.com,O=Example\\, Inc.,C=US") == "expe.example.com"
    assert common_name("O=No CN") == "O=No CN"
