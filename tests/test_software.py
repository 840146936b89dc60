"""Banner parsing (every form of domain.md Q2, plus garbage), HTTP response parsing, and host
role inference from what a host's endpoints showed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.core.hosts import HostGrouper, host_context, identify, infer_role
from scanner.core.software import MAX_BANNER_CHARS, from_http, from_sip
from scanner.model import Endpoint, Observation, Product, Role, RoleSource, Status, Version
from scanner.protocol import http


@pytest.mark.parametrize(
    ("banner", "product", "version", "b2bua"),
    [
        ("TANDBERG/4120 (X7.2.1)", Product.EXPRESSWAY, "X7.2.1", False),
        ("TANDBERG/4132 (X8.7.1)", Product.EXPRESSWAY, "X8.7.1", False),
        ("TANDBERG/4135 (X8.10.2)", Product.EXPRESSWAY, "X8.10.2", False),
        ("TANDBERG/4136 (X8.11.4)", Product.EXPRESSWAY, "X8.11.4", False),
        ("TANDBERG/4137 (X12.5.1)", Product.EXPRESSWAY, "X12.5.1", False),
        ("TANDBERG/4137 (X15.5)", Product.EXPRESSWAY, "X15.5", False),
        ("TANDBERG/4352 (X8.7.3-b2bua-1.0)", Product.EXPRESSWAY, "X8.7.3", True),
        ("TANDBERG/4352 (X8.10.2-b2bua-1.0)", Product.EXPRESSWAY, "X8.10.2", True),
        ("TANDBERG/4120 (XC4.3.1)", Product.CONDUCTOR, "XC4.3.1", False),  # Conductor, not confused
        ("TANDBERG/81 (F9.1 PAL)", Product.TELEPRESENCE_ENDPOINT, None, False),
        ("TANDBERG/529 (TC7.3.6.1d3b5e1)", Product.TELEPRESENCE_ENDPOINT, None, False),
        ("Cisco-CUCM10.5", Product.CUCM, "10.5", False),
        ("Cisco-CUCM14.0", Product.CUCM, "14.0", False),
        ("Cisco-SIPGateway/IOS-12.x", Product.CUBE, "12", False),  # "x": only the major is known
        ("Cisco-SIPGateway/IOS-16.10.2", Product.CUBE, "16.10.2", False),
        ("Cisco-SIPGateway/IOS-17.6.5", Product.CUBE, "17.6.5", False),
        ("  TANDBERG/4137 (X14.3.2)  ", Product.EXPRESSWAY, "X14.3.2", False),
        ("Asterisk PBX 18.0", None, None, False),
        ("TANDBERG/4137 X14.3.2", None, None, False),  # no parentheses: not the Expressway form
        ("", None, None, False),
        (None, None, None, False),
    ],
)
def test_sip_banners(banner, product, version, b2bua):
    fp = from_sip(banner)
    if product is None:
        assert fp is None
        return
    assert fp is not None and fp.product is product and fp.b2bua is b2bua
    assert (str(fp.version) if fp.version else None) == version


@pytest.mark.parametrize(
    ("server", "product"), [("CE_E", Product.EXPRESSWAY_E), ("ce_e", Product.EXPRESSWAY_E)]
)
def test_http_ce_e(server, product):
    fp = from_http(server)
    assert fp is not None and fp.product is product and fp.version is None


@pytest.mark.parametrize("server", ["Apache", "CE_Expressway", "nginx CE_E", "", None])
def test_http_other_servers(server):
    assert from_http(server) is None


@given(st.text(max_size=2000))
def test_banner_parsing_never_raises(text):
    for parse in (from_sip, from_http):
        result = parse(text)
        assert result is None or len(result.banner) <= MAX_BANNER_CHARS


def test_a_huge_banner_is_cut_before_matching():
    fp = from_sip("TANDBERG/4137 (X14.3.2)" + "x" * 10_000_000)
    assert fp is not None and str(fp.version) == "X14.3.2" and len(fp.banner) == MAX_BANNER_CHARS


@pytest.mark.parametrize(
    ("a", "b"),
    [("X15.4", "X15.4.0"), ("X15.4.0", "X15.4.0.0"), ("14.0", "14")],
)
def test_versions_ignore_trailing_zeros(a, b):
    assert Version.parse(a) == Version.parse(b) and hash(Version.parse(a)) == hash(Version.parse(b))


def test_versions_order_numerically():
    assert (
        Version.parse("X8.11.4") < Version.parse("X14.0") < Version.parse("X14.3.7") < Version.parse("X15.10")
    )
    with pytest.raises(ValueError, match="not a version"):
        Version.parse("X15.4beta")


# --- HTTP -------------------------------------------------------------------------------------


def test_head_request_is_well_formed():
    request = http.build_head("expe.example.com")
    assert request.startswith(b"HEAD / HTTP/1.1\r\nHost: expe.example.com\r\n") and request.endswith(
        b"\r\n\r\n"
    )
    assert b"Host: [2001:db8::1]\r\n" in http.build_head("2001:db8::1")


@pytest.mark.parametrize(
    ("data", "status", "server"),
    [
        (b"HTTP/1.1 200 OK\r\nServer: CE_E\r\nContent-Length: 0\r\n\r\n", 200, "CE_E"),
        (b"HTTP/1.1 302 Found\nserver:  Apache \nLocation: /login\n\n", 302, "Apache"),
        (b"HTTP/1.0 404 Not Found\r\n\r\nServer: in the body", 404, None),
        (b"HTTP/1.1 200 OK\r\nServer : spaced\r\n\r\n", 200, None),  # RFC 9112: not a header
        (b"HTTP/1.1 200 OK\r\nServer: trunc", 200, "trunc"),  # truncated: what came is used
    ],
)
def test_http_responses(data, status, server):
    response = http.parse_response(data)
    assert (response.status, response.header("server")) == (status, server)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"\x16\x03\x01\x00",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 \xb2\xb2\xb2",
    ],
)
def test_http_garbage_is_refused(data):
    with pytest.raises(http.HttpParseError):
        http.parse_response(data)


@given(st.binary(max_size=4096))
def test_http_parser_never_raises_anything_else(data):
    try:
        http.parse_response(data)
    except http.HttpParseError:
        pass


def test_http_oversize_answer_is_bounded():
    data = (
        b"HTTP/1.1 200 OK\r\n"
        + b"X-Pad: "
        + b"a" * (10 * http.MAX_RESPONSE_BYTES)
        + b"\r\nServer: late\r\n\r\n"
    )
    assert http.parse_response(data).header("server") is None  # beyond the cap: never read


# --- hosts --------------------------------------------------------------------------------------


def obs(
    port: int,
    *,
    sip: str | None = None,
    web: str | None = None,
    status=Status.OK,
    group=1,
    size=1,
    ip="192.0.2.7",
):
    endpoint = Endpoint("t", ip, ip, port, group=group, group_size=size)
    return Observation(endpoint, status, sip_server=sip, http_server=web)


@pytest.mark.parametrize(
    ("observations", "role"),
    [
        ([obs(5061, sip="TANDBERG/4137 (X14.3.2)")], Role.EXPRESSWAY),  # C or E: not known which
        ([obs(5061, sip="TANDBERG/4137 (X14.3.2)"), obs(7001)], Role.EXPRESSWAY_E),  # traversal listener
        ([obs(5061, sip="TANDBERG/4137 (X14.3.2)"), obs(2222)], Role.EXPRESSWAY_E),
        ([obs(5061, sip="TANDBERG/4137 (X14.3.2)"), obs(7001, status=Status.CLOSED)], Role.EXPRESSWAY),
        ([obs(8443, web="CE_E")], Role.EXPRESSWAY_E),
        ([obs(7001)], Role.EXPRESSWAY_E),  # a bare traversal listener
        ([obs(5061, sip="Cisco-CUCM14.0"), obs(7001)], Role.CUCM),  # the banner decides
        ([obs(5061, sip="Cisco-SIPGateway/IOS-17.6.5")], Role.CUBE),
        ([obs(5061, sip="TANDBERG/4120 (XC4.3.1)")], Role.SERVER),
        ([obs(443, web="Apache"), obs(5061)], None),
    ],
)
def test_role_inference(observations, role):
    assert infer_role(observations, identify(observations)) is role
    context = host_context(observations, Role.EXPRESSWAY)
    assert context.role is (role or Role.EXPRESSWAY)
    assert context.role_source is (RoleSource.INFERRED if role else RoleSource.DEFAULT)


def test_identify_merges_the_release_and_ce_e():
    fp = identify([obs(8443, web="CE_E"), obs(5061, sip="TANDBERG/4137 (X15.3.2)")])
    assert fp is not None and fp.product is Product.EXPRESSWAY_E and str(fp.version) == "X15.3.2"


def test_grouper_waits_for_the_whole_host_and_flushes_the_rest():
    grouper = HostGrouper()
    a, b, c = obs(5061, group=1, size=3), obs(7001, group=1, size=3), obs(443, group=1, size=3)
    other = obs(5061, group=2, size=2, ip="192.0.2.8")
    assert grouper.add(a.endpoint, a) == [] and grouper.add(b.endpoint, b) == []
    assert len(grouper) == 2
    assert grouper.add(c.endpoint, c) == [[a, b, c]]
    assert grouper.add(other.endpoint, other) == []
    assert grouper.flush() == [other] and len(grouper) == 0
    alone = obs(5061, group=3)
    assert grouper.add(alone.endpoint, alone) == [[alone]]


def test_grouper_ends_a_host_when_the_next_group_starts():
    """A duplicate endpoint dropped by the sweep leaves a host with fewer results than its size."""
    grouper = HostGrouper()
    a, b = obs(5061, group=1, size=3), obs(7001, group=1, size=3)
    solo = obs(5061, group=2, size=1, ip="192.0.2.8")
    assert grouper.add(a.endpoint, a) == [] and grouper.add(b.endpoint, b) == []
    assert grouper.add(solo.endpoint, solo) == [[a, b], [solo]]


@given(
    sizes=st.lists(st.tuples(st.integers(1, 5), st.integers(0, 2)), min_size=1, max_size=8),
    cut=st.integers(0, 40),
)
def test_grouper_loses_and_repeats_nothing(sizes, cut):
    """Whatever the hosts' sizes (some short of a dropped duplicate), and wherever the scan
    stops, every result comes out once, in order, each host whole and alone in its group."""
    stream = [
        obs(5061 + port, group=group, size=size, ip=f"192.0.2.{group}")
        for group, (size, dropped) in enumerate(sizes, start=1)
        for port in range(max(1, size - dropped))
    ]
    arrived = stream[:cut]  # an interrupted scan stops anywhere
    grouper = HostGrouper()
    hosts = [host for o in arrived for host in grouper.add(o.endpoint, o)]
    assert all(len({o.endpoint.group for o in host}) == 1 for host in hosts)
    assert len({host[0].endpoint.group for host in hosts}) == len(hosts)  # no host split in two
    out = [o for host in hosts for o in host] + grouper.flush()
    assert [id(o) for o in out] == [id(o) for o in arrived]
