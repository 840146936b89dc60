"""The inventory: hosts merged from parts, the timeline's counts, and memory that does not hold hosts."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, timedelta
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.analysis import analyze
from scanner.core.software import from_sip
from scanner.edge.spool import DiskSpool
from scanner.model import Endpoint, EndpointReport, LinkVerdict, Use, Verdict
from scanner.report.inventory import HostReport, Inventory, _HostAccumulator
from scanner.report.spooling import MemorySpool
from tests.conftest import context
from tests.factories import NOW, bytes_kept_per_item, make_chain, observation


def at(report: EndpointReport, host: str, port: int, ip: str | None = None) -> EndpointReport:
    ep = Endpoint(target=host, host=host, ip=ip or host, port=port)
    return replace(report, observation=replace(report.observation, endpoint=ep))


@pytest.fixture(scope="module")
def samples() -> list[EndpointReport]:
    """Reports that differ in what a host aggregates: verdict, certificate, links, software."""
    ctx = context()
    made = []
    for leaf_eku, cn in (
        ("serverAuth", "a.example.test"),
        ("both", "b.example.test"),
        ("both", "c.example.test"),
    ):
        root, inter, leaf = make_chain(leaf_eku, leaf_cn=cn)
        made.append(analyze(observation(leaf, inter, root, port=5061), ctx))
    expressway = from_sip("TANDBERG/4137 (X14.3.2)")
    made.append(replace(made[0], software=expressway))
    made.append(replace(made[1], software=from_sip("TANDBERG/4137 (X15.5.1)")))
    return made


def sequential(reports: list[EndpointReport]) -> list[HostReport]:
    """What the inventory means: each host's reports through one accumulator, in arrival order."""
    accumulators: dict[str, _HostAccumulator] = {}
    for r in reports:
        acc = accumulators.setdefault(
            r.endpoint.host, _HostAccumulator(r.role, r.role_source, r.endpoint.label)
        )
        acc.add(r)
    return [acc.report(host) for host, acc in accumulators.items()]


HOSTS = ("192.0.2.9", "192.0.2.10", "2001:db8::1", "expe.example.test")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), st.sampled_from((5061, 7001, 443))), max_size=25)
)
def test_a_host_named_again_later_is_one_host(samples, picks):
    """Reports of a host may come in several runs (a host named twice in the target list):
    the inventory's hosts equal one accumulation per host, in the inventory's host order."""
    reports = [at(samples[s], HOSTS[h], port) for h, s, port in picks]
    inventory = Inventory()
    for r in reports:
        inventory.add(r)
    expected = {h.host: h for h in sequential(reports)}
    got = list(inventory.each_host())
    assert {h.host: h for h in got} == expected
    assert [h.host for h in got] == [h for h in HOSTS if h in expected]  # IPv4 numerically, IPv6, names
    assert list(inventory.each_host()) == got  # reading the hosts does not consume them
    summary = inventory.summary()
    assert summary.hosts == len(expected)
    assert sum(summary.hosts_by_verdict.values()) == len(expected)
    for verdict in Verdict:
        assert summary.hosts_by_verdict[verdict.value] == sum(1 for h in got if h.verdict is verdict)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 4), st.sampled_from((5061, 7001, 443))), max_size=25
    ),
    st.booleans(),
)
def test_shares_of_hosts_judged_elsewhere_count_as_their_reports(samples, picks, show_all):
    """``ekuscan report`` judges each run of a host's reports in another process and adds its
    share (``Inventory.share`` there, ``add_share`` here): the hosts, the summary and the
    estate findings are those of adding the reports themselves."""
    reports = [at(samples[s], HOSTS[h], port) for h, s, port in picks]
    direct, shared = Inventory(show_all, now=NOW), Inventory(show_all, now=NOW)
    for r in reports:
        direct.add(r)
    for _, run in itertools.groupby(reports, key=lambda r: r.endpoint.host):
        part = Inventory(show_all)
        for r in run:
            part.add(r)
        shared.add_share(part.share())
    assert list(shared.each_host()) == list(direct.each_host())
    assert shared.summary() == direct.summary()
    assert shared.worst_verdict() is direct.worst_verdict()


def test_a_share_is_one_hosts(samples):
    inventory = Inventory()
    inventory.add(at(samples[0], "192.0.2.1", 5061))
    inventory.add(at(samples[0], "192.0.2.2", 5061))
    with pytest.raises(ValueError, match="one host's"):
        inventory.share()


def test_reports_after_reading_the_hosts_are_kept(samples):
    inventory = Inventory()
    inventory.add(at(samples[0], "192.0.2.1", 5061))
    assert [h.host for h in list(inventory.each_host())] == ["192.0.2.1"]
    assert inventory.summary().hosts == 1 and inventory.summary() is inventory.summary()  # kept
    inventory.add(at(samples[1], "192.0.2.1", 443))
    inventory.add(at(samples[1], "192.0.2.2", 443))
    assert inventory.summary().hosts == 2 and inventory.summary().endpoints == 3  # a new report: redone
    first, second = list(inventory.each_host())
    assert first.ports == (443, 5061) and len(first.certificates) == 2 and second.host == "192.0.2.2"


def test_the_timeline_counts_links_by_each_horizon(samples):
    last_day = date(2027, 9, 30)
    assert NOW.date() + timedelta(days=90) < last_day

    def link(days: int | None, verdict: Verdict = Verdict.BREAKS) -> LinkVerdict:
        when = NOW + timedelta(days=days) if days is not None else None
        return LinkVerdict(f"link{days}-{verdict.value}", Use.CLIENT, verdict, "why", when)

    links = (
        link(-3),  # broken already
        link(0),  # breaks this very moment: broken now
        link(30),  # the last moment of the 30-day horizon
        link(31),
        link(89, Verdict.AT_RISK),
        link(120),
        link((last_day - NOW.date()).days),  # during the last public clientAuth day
        link((last_day - NOW.date()).days + 1),  # after it
        link(None),  # breaks, date unknown: counted nowhere
        link(5, Verdict.OK),  # ok links have no place in a count of breaks
    )
    inventory = Inventory(now=NOW, last_public_clientauth_day=last_day)
    inventory.add(replace(at(samples[0], "192.0.2.1", 5061), links=links))
    timeline = inventory.summary().timeline
    assert timeline is not None
    assert timeline.broken == (
        (NOW.date(), 2),
        (NOW.date() + timedelta(days=30), 3),
        (NOW.date() + timedelta(days=90), 5),
    )
    assert timeline.by_last_public_clientauth_day == 7
    assert Inventory(now=NOW).summary().timeline.by_last_public_clientauth_day is None
    assert Inventory().summary().timeline is None


def test_memory_per_live_host_is_a_spool_entry(samples):
    """A finished host goes to disk: what stays in memory is its sort key and position."""
    inventory = Inventory(now=NOW, spool=DiskSpool)
    reports = [
        at(samples[i % 5], f"10.1.{i // 250}.{i % 250}", port) for i in range(2000) for port in (5061, 443)
    ]
    # Two hosts untraced: the first spool write opens the file, which is not a per-host cost.
    per_host = 2 * bytes_kept_per_item(inventory.add, reports, warm_up=4)
    # About 400-500 bytes here; with the hosts held in memory, as before the spool, 3.1 KiB.
    assert per_host < 1000, f"{per_host:.0f} bytes per host"
    assert sum(1 for _ in inventory.each_host()) == 2000


# The disk spool as it is, always on disk (as before it held its first records), and one that
# writes its file after four records or 100 bytes.
SPOOLS = [DiskSpool, partial(DiskSpool, held_records=0), partial(DiskSpool, 4, 100), MemorySpool]


@pytest.mark.parametrize("make_spool", SPOOLS)
@given(records=st.lists(st.tuples(st.integers(0, 5), st.binary(max_size=40)), max_size=60))
def test_spool_gives_records_back_by_key_in_arrival_order_for_ties(make_spool, records):
    spool = make_spool()
    for key, data in records:
        spool.add(key, data)
    assert len(spool) == len(records)
    assert list(spool.ordered()) == sorted(records, key=lambda r: r[0])
    assert list(spool.ordered()) == sorted(records, key=lambda r: r[0])  # read again: the same
    spool.close()
    assert list(spool.ordered()) == [] and len(spool) == 0
    spool.add(1, b"again")
    assert list(spool.ordered()) == [(1, b"again")]
    spool.close()


@pytest.mark.parametrize("make_spool", SPOOLS)
def test_spool_records_added_while_reading_come_next_time(make_spool):
    """A writer may add while an earlier pass reads (the inventory's hosts read mid-run):
    appending after a read must not land over what was read, nor be read by that pass."""
    spool = make_spool()
    for n in range(50):
        spool.add(n % 7, bytes([n]) * (n * 97 % 5000))
    reading = spool.ordered()
    first = [next(reading) for _ in range(10)]
    spool.add(-1, b"late" * 3000)
    rest = list(reading)
    assert (-1, b"late" * 3000) not in first + rest and len(first + rest) == 50
    again = list(spool.ordered())
    assert again[0] == (-1, b"late" * 3000) and again[1:] == first + rest
    spool.close()


def test_spool_that_writes_its_file_while_being_read():
    """The records held in memory go to the file when one too many comes, even while a pass
    reads them: that pass still gives what it began with, the next gives everything."""
    spool = DiskSpool(held_records=10)
    for n in range(10):
        spool.add(n % 3, bytes([n]))
    reading = spool.ordered()
    first = [next(reading) for _ in range(4)]
    for n in range(10, 30):
        spool.add(n % 3, bytes([n]))
    assert first + list(reading) == sorted(((n % 3, bytes([n])) for n in range(10)), key=lambda r: r[0])
    assert list(spool.ordered()) == sorted(((n % 3, bytes([n])) for n in range(30)), key=lambda r: r[0])
    spool.close()
