"""-f prometheus is written as it is made: the bytes prometheus_client's own renderers gave, in flat memory.

The writer once handed its whole registry to ``generate_latest`` (stdout) or ``write_to_textfile``
(``-o``); that path is kept here as the reference: the writer's registry, rendered whole by
prometheus_client after ``finish``, from a spool that keeps its records after ``close``.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tracemalloc
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest, write_to_textfile

from scanner.core.analysis import analyze
from scanner.edge.spool import DiskSpool
from scanner.model import Endpoint, EndpointReport, Role
from scanner.report.inventory import Inventory
from scanner.report.sink import RunInfo, ScannerFreshness
from scanner.report.spooling import MemorySpool
from scanner.writers import OutputFormat, make_writer
from scanner.writers.prometheus import SAMPLES_PER_CHUNK, PrometheusWriter, Record
from tests.conftest import context
from tests.factories import NOW, make_chain, observation

HOSTILE_NAMES = ('a"b', "back\\slash", "new\nline", 'all\\"\n\\n', "\u202eevil", "\x1b]0;title\x07", "é漢")
SCANNERS = (
    ScannerFreshness("jump-1", NOW, "complete", 3, NOW),
    ScannerFreshness('jump-"2"\n', NOW - timedelta(hours=1), "interrupted", 2, None),
)


class KeptSpool(MemorySpool[bytes, bytes]):
    """Keeps its records after ``close``, so the old whole-registry rendering can read them again."""

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def chain_reports() -> list[EndpointReport]:
    """One report per verdict-making chain: breaks, at risk, ok."""
    reports = []
    for leaf_eku, cn in (("serverAuth", "expe.example.test"), ("both", "expc.example.test")):
        root, inter, leaf = make_chain(leaf_eku, "none", leaf_cn=cn)
        reports.append(analyze(observation(leaf, inter, root, host="192.0.2.7", port=7001), context()))
    return reports


def estate(chain_reports: list[EndpointReport], hosts: list[str]) -> list[EndpointReport]:
    """Each host on two ports, its reports' links cut to varying lengths; one endpoint listed twice."""
    reports = []
    for n, host in enumerate(hosts):
        base = chain_reports[n % len(chain_reports)]
        for port in (7001, 5061):
            ep = Endpoint(target=host, host=host, ip=f"192.0.2.{n % 250}" if n % 3 else None, port=port)
            links = base.links[: (n + port) % (len(base.links) + 1)]
            reports.append(replace(base, observation=replace(base.observation, endpoint=ep), links=links))
    if reports:
        reports.append(replace(reports[0], links=reports[0].links[:1]))
    return reports


def written(reports: list[EndpointReport], run: RunInfo, path: Path | None) -> tuple[bytes, bytes]:
    """(what the writer wrote, what prometheus_client renders of its registry whole)."""
    out = io.StringIO()
    writer = make_writer(OutputFormat.PROMETHEUS, out, run, path=path, spool=KeptSpool)
    inventory = Inventory()
    for report in reports:
        if inventory.add(report):
            writer.add(report)
    writer.finish(inventory, 1.25)
    assert isinstance(writer, PrometheusWriter)
    if path is None:
        return out.getvalue().encode(), generate_latest(writer.registry)
    reference = path.with_name("reference.prom")
    write_to_textfile(str(reference), writer.registry)
    return path.read_bytes(), reference.read_bytes()


@pytest.mark.parametrize("to_file", [False, True], ids=["stdout", "file"])
def test_a_few_hundred_reports_give_the_bytes_prometheus_client_gave(chain_reports, to_file, tmp_path):
    hosts = [f"h{n}.example.test" for n in range(150)] + [
        f"{n}{name}" for n, name in enumerate(HOSTILE_NAMES)
    ]
    reports = estate(chain_reports, hosts)
    assert len(reports) > 300
    run = RunInfo("test", NOW, NOW + timedelta(days=30), scanners=SCANNERS)
    text, reference = written(reports, run, tmp_path / "estate.prom" if to_file else None)
    assert text == reference
    link_verdicts = text.count(b"\nekuscan_link_verdict{")
    assert link_verdicts > 2 * SAMPLES_PER_CHUNK  # three chunks: their' seams are in the comparison
    assert b'host="0a\\"b"' in text and b'host="2new\\nline"' in text and b'link="' in text


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=4, unique=True))
def test_any_host_text_gives_the_bytes_prometheus_client_gave(chain_reports, hosts):
    text, reference = written(estate(chain_reports, hosts), RunInfo("test", NOW, NOW), None)
    assert text == reference


def test_the_file_replaces_the_old_one_whole_with_write_to_textfiles_permissions(chain_reports, tmp_path):
    path = tmp_path / "estate.prom"
    path.write_text("old\n")
    text, reference = written(estate(chain_reports, ["a.example.test"]), RunInfo("t", NOW, NOW), path)
    assert text == reference and not text.startswith(b"old")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["estate.prom", "reference.prom"]
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "reference.prom").st_mode)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(chain_reports, tmp_path):
    path = tmp_path / "estate.prom"
    path.write_text("old\n")
    writer = make_writer(OutputFormat.PROMETHEUS, io.StringIO(), RunInfo("t", NOW, NOW), path=path)
    writer.add(chain_reports[0])
    writer._spool.add(b"\xff", b"not a record")  # the family's samples fail half-way through the file
    with pytest.raises(json.JSONDecodeError):
        writer.finish(Inventory(), 1.0)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["estate.prom"]


def finish_peak_bytes(endpoints: int, path: Path) -> int:
    """tracemalloc's peak over the writer's ``finish`` of ``endpoints`` spooled records, to a file."""
    writer = make_writer(
        OutputFormat.PROMETHEUS, io.StringIO(), RunInfo("t", NOW, NOW), path=path, spool=DiskSpool
    )
    for n in range(endpoints):  # no links: six samples an endpoint, so that tracing stays quick
        address = f"10.0.{n // 250}.{n % 250}"
        record = Record([address, address, "5061", Role.EXPRESSWAY.value], 1.8e9 + n, None, "ok", [], 1.7e9)
        writer.add_rendered(n.to_bytes(4, "big"), json.dumps(record).encode())
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        writer.finish(Inventory(), 1.0)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert path.read_bytes().count(b"\nekuscan_endpoint_seen_timestamp_seconds{") == endpoints
    return peak


def test_the_textfile_is_not_held_in_memory(tmp_path):
    """Some 600 bytes of text per endpoint here: rendered whole, 2,000 took 4.5 MiB, 20,000 45 MiB.

    Streamed, 2.0 and 3.3 MiB: a chunk of samples, and the spool's index of the estate, sorted
    once per family (some 40 bytes an endpoint), which is all that grows.
    """
    small = finish_peak_bytes(2_000, tmp_path / "small.prom")
    large = finish_peak_bytes(20_000, tmp_path / "large.prom")
    assert (tmp_path / "large.prom").stat().st_size > 10 * 2**20
    assert large < 6 * 2**20, f"{large / 2**20:.1f} MiB at 20,000 endpoints"
    assert large - small < 3 * 2**20, f"{small / 2**20:.1f} -> {large / 2**20:.1f} MiB"
