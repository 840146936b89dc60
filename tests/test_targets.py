"""Targets: parsing every accepted form, the errors, CSV input and lazy, duplicate-free expansion.

Nothing here connects anywhere: targets are only parsed and expanded.
"""

from __future__ import annotations

import io
import ipaddress
import itertools
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.targets import (
    DEFAULT_PORTS,
    MAX_HOST_GROUP,
    MAX_RANGE_ADDRESSES,
    Shard,
    SpecKind,
    TargetError,
    TargetSpec,
    check_sweep_size,
    expand,
    in_shard,
    parse_csv,
    parse_ports,
    parse_shard,
    parse_target,
    share_of,
)
from scanner.model import Endpoint, Role


def select_shard(endpoints, shard):
    """The endpoints of ``shard``, in order (what a jump host given ``--shard`` probes)."""
    return (endpoint for endpoint in endpoints if in_shard(endpoint.host, shard))


REPO = Path(__file__).resolve().parent.parent
EXAMPLE_CSV = REPO / "targets.example.csv"


def v4(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def v6(text: str) -> int:
    return int(ipaddress.IPv6Address(text))


def points(specs: list[TargetSpec]) -> list[tuple[str, int, str | None]]:
    return [(e.host, e.port, e.sni) for e in expand(specs)]


# --- parse_target: accepted forms ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "name", "first", "last", "version", "ports", "sni"),
    [
        pytest.param(
            "expc.example.com",
            SpecKind.NAME,
            "expc.example.com",
            0,
            0,
            0,
            DEFAULT_PORTS,
            "expc.example.com",
            id="host",
        ),
        pytest.param(
            "ExpE.Example.COM.",
            SpecKind.NAME,
            "expe.example.com",
            0,
            0,
            0,
            DEFAULT_PORTS,
            "expe.example.com",
            id="host-normalised",
        ),
        pytest.param(
            "cucm-pub.example.com:5061",
            SpecKind.NAME,
            "cucm-pub.example.com",
            0,
            0,
            0,
            (5061,),
            "cucm-pub.example.com",
            id="host:port",
        ),
        pytest.param(
            "192.0.2.10",
            SpecKind.ADDRESS,
            None,
            v4("192.0.2.10"),
            v4("192.0.2.10"),
            4,
            DEFAULT_PORTS,
            None,
            id="ipv4",
        ),
        pytest.param(
            "192.0.2.10:7001",
            SpecKind.ADDRESS,
            None,
            v4("192.0.2.10"),
            v4("192.0.2.10"),
            4,
            (7001,),
            None,
            id="ipv4:port",
        ),
        pytest.param(
            "2001:db8::1",
            SpecKind.ADDRESS,
            None,
            v6("2001:db8::1"),
            v6("2001:db8::1"),
            6,
            DEFAULT_PORTS,
            None,
            id="bare-ipv6",
        ),
        pytest.param(
            "[2001:db8::1]:5061",
            SpecKind.ADDRESS,
            None,
            v6("2001:db8::1"),
            v6("2001:db8::1"),
            6,
            (5061,),
            None,
            id="[ipv6]:port",
        ),
        pytest.param(
            "[2001:db8::2]",
            SpecKind.ADDRESS,
            None,
            v6("2001:db8::2"),
            v6("2001:db8::2"),
            6,
            DEFAULT_PORTS,
            None,
            id="[ipv6]-no-port",
        ),
        pytest.param(
            "10.20.0.0/22",
            SpecKind.RANGE,
            None,
            v4("10.20.0.0"),
            v4("10.20.3.255"),
            4,
            DEFAULT_PORTS,
            None,
            id="cidr-v4",
        ),
        pytest.param(
            "10.20.0.5/22",
            SpecKind.RANGE,
            None,
            v4("10.20.0.0"),
            v4("10.20.3.255"),
            4,
            DEFAULT_PORTS,
            None,
            id="cidr-v4-non-strict",
        ),
        pytest.param(
            "2001:db8::/120",
            SpecKind.RANGE,
            None,
            v6("2001:db8::"),
            v6("2001:db8::ff"),
            6,
            DEFAULT_PORTS,
            None,
            id="cidr-v6",
        ),
        pytest.param(
            "10.1.1.10-10.1.1.90",
            SpecKind.RANGE,
            None,
            v4("10.1.1.10"),
            v4("10.1.1.90"),
            4,
            DEFAULT_PORTS,
            None,
            id="range",
        ),
        pytest.param(
            "10.1.1.10-90",
            SpecKind.RANGE,
            None,
            v4("10.1.1.10"),
            v4("10.1.1.90"),
            4,
            DEFAULT_PORTS,
            None,
            id="range-short",
        ),
        pytest.param(
            "2001:db8::1-2001:db8::5",
            SpecKind.RANGE,
            None,
            v6("2001:db8::1"),
            v6("2001:db8::5"),
            6,
            DEFAULT_PORTS,
            None,
            id="range-v6",
        ),
    ],
)
def test_parse_target_forms(text, kind, name, first, last, version, ports, sni):
    spec = parse_target(text)
    assert spec.text == text
    assert spec.kind is kind
    assert spec.name == name
    assert (spec.first, spec.last) == (first, last)
    assert spec.version == version
    assert spec.ports == ports
    assert spec.sni == sni


def test_parse_target_keeps_role_sni_label_and_ports():
    spec = parse_target(
        "192.0.2.7", ports=(5061, 7001), role=Role.EXPRESSWAY_E, sni="Edge.Example.COM", label="dmz"
    )
    assert spec.ports == (5061, 7001)
    assert spec.role is Role.EXPRESSWAY_E
    assert spec.sni == "edge.example.com"
    assert spec.label == "dmz"


def test_range_size_and_probe_count():
    spec = parse_target("10.1.1.10-90", ports=(5061, 7001))
    assert spec.size == 81
    assert spec.probe_count == 162
    assert parse_target("host.example", ports=(5061, 7001, 443)).probe_count == 3


def test_largest_allowed_range_is_a_slash_8():
    spec = parse_target("10.0.0.0/8")
    assert spec.size == MAX_RANGE_ADDRESSES == 2**24
    assert spec.probe_count == 2**24 * len(DEFAULT_PORTS) == 67108864


# --- parse_target: errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("a b", id="space-inside"),
        pytest.param("10.0.0.1\t10.0.0.2", id="tab-inside"),
        pytest.param("host.example:0", id="port-0"),
        pytest.param("host.example:70000", id="port-70000"),
        pytest.param("host.example:abc", id="port-abc"),
        pytest.param("host.example:", id="port-empty"),
        pytest.param("host.example:\u00b2", id="port-superscript-digit"),
        pytest.param("[2001:db8::1]:0", id="v6-port-0"),
        pytest.param("[2001:db8::1]:70000", id="v6-port-70000"),
        pytest.param("[2001:db8::1]:abc", id="v6-port-abc"),
        pytest.param("[2001:db8::1]:\u00b2", id="v6-port-superscript-digit"),
        pytest.param("[2001:db8::1", id="v6-missing-bracket"),
        pytest.param("10.1.1.90-10.1.1.10", id="range-reversed"),
        pytest.param("10.1.1.90-10", id="range-short-reversed"),
        pytest.param("10.1.1.10-300", id="range-short-too-big"),
        pytest.param("10.1.1.10-\u00b2", id="range-short-superscript-digit"),
        pytest.param("10.0.0.1-2001:db8::1", id="range-mixed-v4-v6"),
        pytest.param("2001:db8::1-10.0.0.1", id="range-mixed-v6-v4"),
        pytest.param("10.0.0.1-nothing", id="range-end-not-address"),
        pytest.param("10.0.0.0/33", id="cidr-bad-prefix"),
        pytest.param("10.0.0.300/24", id="cidr-bad-address"),
        pytest.param("host.example/24", id="cidr-of-a-name"),
        pytest.param("bad!name.example", id="name-bad-character"),
        pytest.param("-lead.example", id="name-leading-hyphen"),
        pytest.param("a..example", id="name-empty-label"),
        pytest.param("x" * 64 + ".example", id="name-label-too-long"),
        pytest.param("300.1.1.1", id="name-all-numeric"),
        pytest.param("2001:db8::/64", id="oversize-v6-slash-64"),
        pytest.param("10.0.0.0/7", id="oversize-v4-slash-7"),
        pytest.param("0.0.0.0-255.255.255.255", id="oversize-v4-range"),
    ],
)
def test_parse_target_errors_quote_the_input(text):
    with pytest.raises(TargetError) as caught:
        parse_target(text)
    assert repr(text) in str(caught.value)


@pytest.mark.parametrize("text", [pytest.param("", id="empty"), pytest.param("   ", id="blank")])
def test_parse_target_empty(text):
    with pytest.raises(TargetError, match="empty"):
        parse_target(text)


def test_oversize_message_names_the_size_and_limit():
    with pytest.raises(TargetError, match=r"18446744073709551616 addresses; the limit is 16777216"):
        parse_target("2001:db8::/64")


# --- parse_ports --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("5061", (5061,), id="single"),
        pytest.param("5061,7001", (5061, 7001), id="list"),
        pytest.param("7001,5061", (7001, 5061), id="order-kept"),
        pytest.param("7001-7003", (7001, 7002, 7003), id="range"),
        pytest.param("5061, 7001 ,", (5061, 7001), id="spaces-and-trailing-comma"),
        pytest.param("5061;7001", (5061, 7001), id="semicolon"),
        pytest.param("5061,5061,7001", (5061, 7001), id="duplicate-dropped"),
        pytest.param("7001-7003,7002,443", (7001, 7002, 7003, 443), id="duplicate-in-range-dropped"),
        pytest.param("1,65535", (1, 65535), id="limits"),
    ],
)
def test_parse_ports(text, expected):
    assert parse_ports(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("0", "bad port '0'", id="zero"),
        pytest.param("65536", "bad port '65536'", id="too-big"),
        pytest.param("70000", "bad port '70000'", id="far-too-big"),
        pytest.param("abc", "bad port 'abc'", id="word"),
        pytest.param("7003-7001", "bad port '7003-7001'", id="reversed-range"),
        pytest.param("5061-x", "bad port '5061-x'", id="range-end-word"),
        pytest.param("", "no ports", id="empty"),
        pytest.param(",,", "no ports", id="only-separators"),
    ],
)
def test_parse_ports_errors(text, match):
    with pytest.raises(TargetError, match=match):
        parse_ports(text)


def test_parse_ports_full_range_is_fast():
    started = time.perf_counter()
    ports = parse_ports("1-65535")
    elapsed = time.perf_counter() - started
    assert ports == tuple(range(1, 65536))
    assert elapsed < 2.0, f"parse_ports('1-65535') took {elapsed:.1f} s"


# --- parse_csv ----------------------------------------------------------------------------


CSV_TEXT = """\
# Expressway estate, lab
target,ports,role,sni,label

expc.example.com,5061;7001,expressway-c,,core
192.0.2.20,,Expressway-E,edge.example.com,dmz
   # an indented comment
10.1.1.10-90,5061,cucm,,
cube.example.com
"""


def test_parse_csv_rows():
    specs = parse_csv(CSV_TEXT.splitlines(keepends=True), "t.csv", default_ports=(443,))
    assert [s.text for s in specs] == ["expc.example.com", "192.0.2.20", "10.1.1.10-90", "cube.example.com"]
    assert [s.ports for s in specs] == [(5061, 7001), (443,), (5061,), (443,)]
    assert [s.role for s in specs] == [Role.EXPRESSWAY_C, Role.EXPRESSWAY_E, Role.CUCM, None]
    assert [s.sni for s in specs] == ["expc.example.com", "edge.example.com", None, "cube.example.com"]
    assert [s.label for s in specs] == ["core", "dmz", "", ""]
    assert specs[2].kind is SpecKind.RANGE
    assert specs[2].size == 81


def test_parse_csv_header_is_case_insensitive_and_columns_may_be_reordered():
    lines = ["Label, TARGET ,Role", "lab1,host.example:7001,cube"]
    (spec,) = parse_csv(lines, "t.csv")
    assert (spec.name, spec.ports, spec.role, spec.label) == ("host.example", (7001,), Role.CUBE, "lab1")


def test_parse_csv_default_role():
    lines = ["target,role", "a.example,", "b.example,cucm"]
    specs = parse_csv(lines, "t.csv", default_role=Role.SERVER)
    assert [s.role for s in specs] == [Role.SERVER, Role.CUCM]


def test_parse_csv_only_header_gives_no_specs():
    assert parse_csv(["# nothing yet", "target,ports,role,sni,label"], "t.csv") == []


@pytest.mark.parametrize(
    ("bad_row", "match"),
    [
        pytest.param("host.example,50x61,,,", r"^t\.csv:4: bad port '50x61'", id="bad-port"),
        pytest.param("host.example,70000,,,", r"^t\.csv:4: bad port '70000'", id="port-out-of-range"),
        pytest.param(
            "host.example,,gatekeeper,,", r"^t\.csv:4: unknown role 'gatekeeper'", id="unknown-role"
        ),
        pytest.param(
            "host.example,5061,cucm,,lab,extra", r"^t\.csv:4: 6 fields, the header has 5", id="too-many"
        ),
        pytest.param("bad!name,,,,", r"^t\.csv:4: bad target 'bad!name'", id="bad-target"),
        pytest.param("host.example,,,bad!sni,", r"^t\.csv:4: .*'bad!sni'", id="bad-sni"),
        pytest.param(",5061,,,", r"^t\.csv:4: empty target", id="empty-target"),
        pytest.param("host.example:\u00b2,,,,", r"^t\.csv:4: bad target", id="target-port-superscript-digit"),
    ],
)
def test_parse_csv_errors_name_file_and_line(bad_row, match):
    lines = ["target,ports,role,sni,label", "# comment", "ok.example,5061,,,", bad_row]
    with pytest.raises(TargetError, match=match):
        parse_csv(lines, "t.csv")


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        pytest.param(
            ["# only comments", "10.0.0.1,5061"], r"^t\.csv:2: the header must name", id="data-first"
        ),
        pytest.param(["host,ports"], r"^t\.csv:1: the header must name", id="no-target-column"),
        pytest.param(["target,port"], r"^t\.csv:1: the header must name", id="unknown-column"),
        pytest.param([], r"^t\.csv: empty file", id="empty-file"),
        pytest.param(["# comment", "", "  "], r"^t\.csv: empty file", id="only-comments"),
    ],
)
def test_parse_csv_missing_header(lines, match):
    with pytest.raises(TargetError, match=match):
        parse_csv(lines, "t.csv")


def test_example_csv_parses():
    if not EXAMPLE_CSV.exists():
        pytest.skip("targets.example.csv does not exist yet")
    with EXAMPLE_CSV.open(encoding="utf-8") as handle:
        specs = parse_csv(handle, EXAMPLE_CSV.name)
    assert len(specs) >= 4
    assert any(s.kind is SpecKind.RANGE for s in specs)
    roles = {s.role for s in specs}
    assert {Role.EXPRESSWAY_C, Role.EXPRESSWAY_E, Role.CUCM} <= roles


# --- expand -------------------------------------------------------------------------------


def test_expand_order_and_fields():
    specs = [
        parse_target("expc.example.com", ports=(5061, 7001), role=Role.EXPRESSWAY_C, label="core"),
        parse_target("192.0.2.1-3", ports=(5061,)),
        parse_target("[2001:db8::1]:7001"),
    ]
    endpoints = list(expand(specs))
    assert endpoints == [
        Endpoint(
            "expc.example.com", "expc.example.com", None, 5061, Role.EXPRESSWAY_C, "expc.example.com", "core"
        ),
        Endpoint(
            "expc.example.com", "expc.example.com", None, 7001, Role.EXPRESSWAY_C, "expc.example.com", "core"
        ),
        Endpoint("192.0.2.1-3", "192.0.2.1", "192.0.2.1", 5061, swept=True),
        Endpoint("192.0.2.1-3", "192.0.2.2", "192.0.2.2", 5061, swept=True),
        Endpoint("192.0.2.1-3", "192.0.2.3", "192.0.2.3", 5061, swept=True),
        Endpoint("[2001:db8::1]:7001", "2001:db8::1", "2001:db8::1", 7001),
    ]


def test_expand_address_before_port():
    specs = [parse_target("192.0.2.0/31", ports=(1, 2))]
    assert points(specs) == [
        ("192.0.2.0", 1, None),
        ("192.0.2.0", 2, None),
        ("192.0.2.1", 1, None),
        ("192.0.2.1", 2, None),
    ]


def test_port_in_target_overrides_default_ports():
    specs = [
        parse_target("host.example:7001", ports=(5061, 443)),
        parse_target("192.0.2.9:8443", ports=(5061,)),
    ]
    assert points(specs) == [("host.example", 7001, "host.example"), ("192.0.2.9", 8443, None)]


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        pytest.param(["192.0.2.1", "192.0.2.1"], [("192.0.2.1", 1, None)], id="same-address-twice"),
        pytest.param(
            ["2001:db8::1", "[2001:DB8:0::1]"], [("2001:db8::1", 1, None)], id="same-v6-address-two-spellings"
        ),
        pytest.param(
            ["192.0.2.0/30", "192.0.2.2"],
            [(f"192.0.2.{i}", 1, None) for i in range(4)],
            id="address-inside-earlier-cidr",
        ),
        pytest.param(
            ["192.0.2.2", "192.0.2.0/30"],
            [("192.0.2.2", 1, None)] + [(f"192.0.2.{i}", 1, None) for i in (0, 1, 3)],
            id="cidr-after-address-inside-it",
        ),
        pytest.param(
            ["192.0.2.0/30", "192.0.2.2/31", "192.0.2.0/29"],
            [(f"192.0.2.{i}", 1, None) for i in range(8)],
            id="overlapping-cidrs",
        ),
        pytest.param(
            ["192.0.2.1-5", "192.0.2.4-8"],
            [(f"192.0.2.{i}", 1, None) for i in range(1, 9)],
            id="overlapping-ranges",
        ),
        pytest.param(
            ["host.example", "HOST.example."], [("host.example", 1, "host.example")], id="same-name-twice"
        ),
    ],
)
def test_expand_drops_duplicates(targets, expected):
    assert points([parse_target(t, ports=(1,)) for t in targets]) == expected


def test_expand_duplicate_ports_only_are_dropped():
    specs = [parse_target("192.0.2.1", ports=(1, 2)), parse_target("192.0.2.0/31", ports=(2, 3))]
    assert points(specs) == [
        ("192.0.2.1", 1, None),
        ("192.0.2.1", 2, None),
        ("192.0.2.0", 2, None),
        ("192.0.2.0", 3, None),
        ("192.0.2.1", 3, None),
    ]


def test_expand_same_address_and_port_with_another_sni_is_another_endpoint():
    specs = [
        parse_target("192.0.2.1", ports=(5061,)),
        parse_target("192.0.2.1", ports=(5061,), sni="a.example"),
        parse_target("192.0.2.0/31", ports=(5061,), sni="b.example"),
        parse_target("192.0.2.1", ports=(5061,), sni="a.example"),  # this one is a duplicate
    ]
    assert points(specs) == [
        ("192.0.2.1", 5061, None),
        ("192.0.2.1", 5061, "a.example"),
        ("192.0.2.0", 5061, "b.example"),
        ("192.0.2.1", 5061, "b.example"),
    ]


@pytest.mark.parametrize(
    ("target", "swept"),
    [
        pytest.param("host.example", False, id="name"),
        pytest.param("192.0.2.1", False, id="ipv4"),
        pytest.param("[2001:db8::1]:5061", False, id="ipv6"),
        pytest.param("192.0.2.0/30", True, id="cidr"),
        pytest.param("192.0.2.1-2", True, id="range"),
    ],
)
def test_swept_only_for_ranges(target, swept):
    endpoints = list(expand([parse_target(target, ports=(5061,))]))
    assert endpoints
    assert all(e.swept is swept for e in endpoints)


def test_ip_targets_have_ip_and_no_sni_names_have_sni_and_no_ip():
    by_host = {
        e.host: e
        for e in expand([parse_target("192.0.2.1", ports=(1,)), parse_target("h.example", ports=(1,))])
    }
    assert (by_host["192.0.2.1"].ip, by_host["192.0.2.1"].sni) == ("192.0.2.1", None)
    assert (by_host["h.example"].ip, by_host["h.example"].sni) == (None, "h.example")


def test_expand_slash_8_is_lazy():
    spec = parse_target("10.0.0.0/8")
    assert spec.probe_count == 67108864
    tracemalloc.start()
    try:
        started = time.perf_counter()
        first = list(itertools.islice(expand([spec]), 1000))
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(first) == 1000
    assert first[0] == Endpoint("10.0.0.0/8", "10.0.0.0", "10.0.0.0", 5061, swept=True)
    assert [(e.host, e.port) for e in first[:5]] == [
        ("10.0.0.0", 5061),
        ("10.0.0.0", 7001),
        ("10.0.0.0", 8443),
        ("10.0.0.0", 443),
        ("10.0.0.1", 5061),
    ]
    assert first[-1].host == "10.0.0.249"
    assert elapsed < 2.0, f"first 1000 endpoints of a /8 took {elapsed:.2f} s"
    assert peak < 2 * 1024 * 1024, f"peak memory {peak} bytes"


# --- property: expansion equals a naive set-based reference --------------------------------

_BASE = v4("10.0.0.0")


@st.composite
def small_specs(draw: st.DrawFn) -> TargetSpec:
    ports = tuple(sorted(draw(st.sets(st.sampled_from((1, 2, 3)), min_size=1))))
    sni = draw(st.sampled_from((None, "a.test")))
    if draw(st.booleans()):
        target = str(ipaddress.IPv4Address(_BASE + draw(st.integers(0, 255))))
    else:
        prefix = draw(st.integers(28, 32))
        address = ipaddress.IPv4Address(_BASE + draw(st.integers(0, 255)))
        target = f"{address}/{prefix}"
    return parse_target(target, ports=ports, sni=sni)


def reference(specs: list[TargetSpec]) -> list[tuple[str, int, str | None]]:
    seen: set[tuple[str, int, str | None]] = set()
    ordered: list[tuple[str, int, str | None]] = []
    for spec in specs:
        for value in range(spec.first, spec.last + 1):
            for port in spec.ports:
                point = (str(ipaddress.IPv4Address(value)), port, spec.sni)
                if point not in seen:
                    seen.add(point)
                    ordered.append(point)
    return ordered


@settings(max_examples=300, deadline=None)
@given(st.lists(small_specs(), max_size=8))
def test_expand_matches_naive_reference(specs):
    endpoints = list(expand(specs))
    got = [(e.ip, e.port, e.sni) for e in endpoints]
    assert len(got) == len(set(got)), "an endpoint was produced twice"
    expected = reference(specs)
    assert set(got) == set(expected)
    # Hosts come out in first-named order, and each group (one host's ports) in one piece.
    assert list(dict.fromkeys(ip for ip, _, _ in got)) == list(dict.fromkeys(ip for ip, _, _ in expected))
    groups = [e.group for e in endpoints]
    assert groups == sorted(groups)
    for group in set(groups):
        assert groups.count(group) == next(e.group_size for e in endpoints if e.group == group)
        assert len({e.ip for e in endpoints if e.group == group}) == 1


def test_a_host_named_by_several_rows_is_expanded_as_one_group():
    rows = io.StringIO("target,ports\nexpe.example.com,5061\n10.0.0.1,443\nexpe.example.com,7001;8443\n")
    endpoints = list(expand(parse_csv(rows, "t.csv", DEFAULT_PORTS, None)))
    assert [(e.host, e.port) for e in endpoints] == [
        ("expe.example.com", 5061),
        ("expe.example.com", 7001),
        ("expe.example.com", 8443),
        ("10.0.0.1", 443),
    ]
    assert [e.group_size for e in endpoints] == [3, 3, 3, 1]
    assert len({e.group for e in endpoints[:3]}) == 1 and endpoints[3].group != endpoints[0].group


def test_a_port_sweep_of_one_host_is_not_held_back():
    """Up to MAX_HOST_GROUP ports are judged together; beyond, each endpoint stands alone."""
    few = list(expand([parse_target("192.0.2.1", ports=tuple(range(1, MAX_HOST_GROUP + 1)))]))
    assert {e.group_size for e in few} == {MAX_HOST_GROUP}
    many = list(expand([parse_target("192.0.2.1", ports=tuple(range(1, MAX_HOST_GROUP + 2)))]))
    assert {e.group_size for e in many} == {1}


# --- shards: N jump hosts share one list ------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.lists(small_specs(), max_size=6), st.integers(1, 7))
def test_shards_are_disjoint_and_their_union_is_the_whole_list(specs, count):
    whole = list(expand(specs))
    parts = [list(select_shard(expand(specs), Shard(k, count))) for k in range(1, count + 1)]
    assert sorted(map(_key, itertools.chain.from_iterable(parts))) == sorted(map(_key, whole))
    for part in parts:  # each shard keeps the list's order
        positions = [whole.index(e) for e in part]
        assert positions == sorted(positions)


def _key(e: Endpoint) -> tuple[str, int, str]:
    return (e.host, e.port, e.sni or "")


def test_a_host_goes_to_one_shard_with_all_its_ports():
    specs = [parse_target("10.9.0.0/24", ports=(5061, 7001, 443)), parse_target("edge.example.com")]
    for k in (1, 2, 3):
        hosts: dict[str, set[int]] = {}
        for e in select_shard(expand(specs), Shard(k, 3)):
            hosts.setdefault(e.host, set()).add(e.port)
        assert all(len(ports) == (3 if h[0].isdigit() else 4) for h, ports in hosts.items())


def test_shard_split_is_the_same_on_every_machine():
    # Known answers: CRC-32 and the mixing constant are fixed, unlike Python's per-process hash().
    assert [share_of(f"10.0.0.{i}", 4, b"shard:") for i in range(12)] == [3, 1, 1, 0, 1, 1, 0, 3, 0, 0, 0, 0]
    assert share_of("127.0.0.1", 1000) == 652


@pytest.mark.parametrize("count", [2, 3, 4, 7])
def test_shards_of_a_slash_16_are_balanced(count):
    sweep = [parse_target("10.0.0.0/16", ports=(1,))]
    sizes = [sum(1 for _ in select_shard(expand(sweep), Shard(k, count))) for k in range(1, count + 1)]
    assert sum(sizes) == 65536
    assert min(sizes) > 0.95 * 65536 / count


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "3", "1/5000", "-1/3", "1/3/4"])
def test_bad_shards_are_refused(text):
    with pytest.raises(TargetError, match="shard"):
        parse_shard(text)


def test_parse_shard():
    assert parse_shard("2/3") == Shard(2, 3) and str(Shard(2, 3)) == "2/3"


def test_large_sweeps_need_confirmation():
    small = [parse_target("10.0.0.0/16"), parse_target("10.1.0.0/16"), parse_target("fd00::/110")]
    check_sweep_size(small, confirmed=False)  # a few /16s and 2^20 IPv6 addresses: fine
    big = [parse_target("10.0.0.0/11")]
    with pytest.raises(TargetError, match=r"2097152 addresses .*'10.0.0.0/11'.*--yes"):
        check_sweep_size(big, confirmed=False)
    check_sweep_size(big, confirmed=True)
    with pytest.raises(TargetError, match="--yes"):
        check_sweep_size([parse_target("fd00::/107")], confirmed=False)
    with pytest.raises(TargetError, match="limit"):
        parse_target("fd00::/100")  # beyond any confirmation
