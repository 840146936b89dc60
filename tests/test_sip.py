"""SIP OPTIONS: the request we build and the forgiving, bounded parser of the answer."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scanner.protocol.headers import header_block_complete
from scanner.protocol.sip import (
    MAX_RESPONSE_BYTES,
    SipParseError,
    SipResponse,
    build_options,
    parse_response,
)

# --- build_options ------------------------------------------------------------------------


def request_lines(data: bytes) -> list[str]:
    assert data.endswith(b"\r\n\r\n")
    text = data.decode("ascii")
    head = text[: -len("\r\n\r\n")]
    assert "\r\n\r\n" not in head, "exactly one blank line, at the end"
    lines = head.split("\r\n")
    assert all("\n" not in line and "\r" not in line for line in lines), "CRLF line endings only"
    return lines


def request_headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(": ")
        assert sep, f"not a header line: {line!r}"
        assert name not in headers, f"{name} twice"
        headers[name] = value
    return headers


def test_build_options_is_a_complete_request():
    lines = request_lines(build_options("expe.example.com", 5061))
    assert lines[0] == "OPTIONS sip:expe.example.com:5061;transport=tls SIP/2.0"
    headers = request_headers(lines)
    assert re.fullmatch(r"SIP/2\.0/TLS ekuscan\.invalid:5061;branch=z9hG4bK[0-9a-f]+;rport", headers["Via"])
    assert headers["Max-Forwards"] == "70"
    assert re.fullmatch(r"<sip:ekuscan@ekuscan\.invalid>;tag=[0-9a-f]+", headers["From"])
    assert headers["To"] == "<sip:expe.example.com>"
    assert re.fullmatch(r"[0-9a-f]+@ekuscan\.invalid", headers["Call-ID"])
    assert headers["CSeq"] == "1 OPTIONS"
    assert headers["Contact"] == "<sip:ekuscan@ekuscan.invalid:5061;transport=tls>"
    assert headers["Content-Length"] == "0"


def test_build_options_uses_local_host_and_port():
    headers = request_headers(request_lines(build_options("10.0.0.1", 7001, "scanner.example", 5062)))
    assert headers["Via"].startswith("SIP/2.0/TLS scanner.example:5062;branch=z9hG4bK")
    assert headers["Contact"] == "<sip:ekuscan@scanner.example:5062;transport=tls>"
    assert headers["From"].startswith("<sip:ekuscan@scanner.example>;tag=")
    assert headers["Call-ID"].endswith("@scanner.example")


@pytest.mark.parametrize(
    ("host", "uri_host"),
    [
        pytest.param("10.20.1.15", "10.20.1.15", id="ipv4"),
        pytest.param("2001:db8::15", "[2001:db8::15]", id="ipv6-bracketed"),
        pytest.param("[2001:db8::15]", "[2001:db8::15]", id="ipv6-already-bracketed"),
    ],
)
def test_build_options_request_uri_host(host, uri_host):
    lines = request_lines(build_options(host, 5061))
    assert lines[0] == f"OPTIONS sip:{uri_host}:5061;transport=tls SIP/2.0"
    assert request_headers(lines)["To"] == f"<sip:{uri_host}>"


def test_build_options_identifiers_are_unique_per_request():
    first = request_headers(request_lines(build_options("h.example", 5061)))
    second = request_headers(request_lines(build_options("h.example", 5061)))
    for name in ("Via", "From", "Call-ID"):
        assert first[name] != second[name], name


def test_our_request_is_not_a_response():
    with pytest.raises(SipParseError):
        parse_response(build_options("h.example", 5061))


# --- parse_response -----------------------------------------------------------------------


def response(*headers: str, status: str = "SIP/2.0 200 OK", eol: str = "\r\n") -> bytes:
    return (eol.join([status, *headers]) + eol + eol).encode()


@pytest.mark.parametrize(
    "banner",
    [
        pytest.param("TANDBERG/4137 (X12.5.1)", id="expressway-x12"),
        pytest.param("TANDBERG/4352 (X8.10.2-b2bua-1.0)", id="expressway-b2bua"),
        pytest.param("Cisco-CUCM14.0", id="cucm"),
        pytest.param("Cisco-SIPGateway/IOS-17.6.5", id="cube"),
    ],
)
def test_real_banners_in_server(banner):
    parsed = parse_response(
        response(
            "Via: SIP/2.0/TLS ekuscan.invalid:5061;branch=z9hG4bK1;rport=40000;received=192.0.2.1",
            "From: <sip:ekuscan@ekuscan.invalid>;tag=abc",
            "To: <sip:expe.example.com>;tag=def",
            "Call-ID: 123@ekuscan.invalid",
            "CSeq: 1 OPTIONS",
            f"Server: {banner}",
            "Content-Length: 0",
        )
    )
    assert (parsed.status, parsed.reason) == (200, "OK")
    assert parsed.server == banner
    assert parsed.header("SERVER") == banner
    assert parsed.header("cseq") == "1 OPTIONS"
    assert parsed.header("call-id") == "123@ekuscan.invalid"


def test_headers_keep_order_and_lower_case_names():
    parsed = parse_response(response("Server: A", "X-Custom: 1", "x-custom: 2"))
    assert parsed.headers == (("server", "A"), ("x-custom", "1"), ("x-custom", "2"))
    assert parsed.header("X-CUSTOM") == "1"  # the first one
    assert parsed.header("allow") is None


def test_user_agent_when_there_is_no_server():
    parsed = parse_response(response("User-Agent: Cisco-CUCM14.0", "Content-Length: 0"))
    assert parsed.server == "Cisco-CUCM14.0"


def test_server_wins_over_user_agent():
    parsed = parse_response(response("User-Agent: ua", "Server: TANDBERG/4137 (X12.5.1)"))
    assert parsed.server == "TANDBERG/4137 (X12.5.1)"


def test_no_banner():
    assert parse_response(response("Content-Length: 0")).server is None


def test_compact_headers():
    parsed = parse_response(
        response("v: SIP/2.0/TLS a:5061", "f: <sip:a@b>;tag=1", "t: <sip:c>", "i: xyz", "m: <sip:d>", "l: 0")
    )
    assert [name for name, _ in parsed.headers] == [
        "via",
        "from",
        "to",
        "call-id",
        "contact",
        "content-length",
    ]
    assert parsed.header("Call-ID") == "xyz"
    assert parsed.header("content-length") == "0"


def test_folded_headers():
    data = (
        b"SIP/2.0 200 OK\r\n"
        b"Server: TANDBERG/4137\r\n"
        b"   (X12.5.1)\r\n"
        b"Allow: INVITE,\r\n"
        b"\tOPTIONS\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    parsed = parse_response(data)
    assert parsed.server == "TANDBERG/4137 (X12.5.1)"
    assert parsed.header("allow") == "INVITE, OPTIONS"
    assert parsed.header("content-length") == "0"


def test_lf_only_line_endings():
    parsed = parse_response(response("Server: Cisco-SIPGateway/IOS-17.6.5", "CSeq: 1 OPTIONS", eol="\n"))
    assert parsed.status == 200
    assert parsed.server == "Cisco-SIPGateway/IOS-17.6.5"
    assert parsed.header("cseq") == "1 OPTIONS"


@pytest.mark.parametrize(
    ("status_line", "status", "reason"),
    [
        pytest.param("SIP/2.0 200 OK", 200, "OK", id="ok"),
        pytest.param("SIP/2.0 405 Method Not Allowed", 405, "Method Not Allowed", id="reason-with-spaces"),
        pytest.param("SIP/2.0 404", 404, "", id="no-reason"),
    ],
)
def test_status_line(status_line, status, reason):
    parsed = parse_response(response("Server: x", status=status_line))
    assert (parsed.status, parsed.reason) == (status, reason)


def test_body_is_not_read_as_headers():
    data = (
        response("Content-Type: application/sdp", "Content-Length: 30") + b"v=0\r\nServer: not-a-header\r\n"
    )
    parsed = parse_response(data)
    assert parsed.server is None
    assert len(parsed.headers) == 2


def test_lines_without_colon_are_skipped():
    parsed = parse_response(response("garbage line", ": no name", "Server: ok"))
    assert parsed.headers == (("server", "ok"),)


# --- header_block_complete ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "complete"),
    [
        pytest.param(b"", False, id="empty"),
        pytest.param(b"SIP/2.0 200 OK\r\nServer: x\r\n", False, id="crlf-unfinished"),
        pytest.param(b"SIP/2.0 200 OK\r\nServer: x\r\n\r", False, id="crlf-half-blank"),
        pytest.param(b"SIP/2.0 200 OK\r\nServer: x\r\n\r\n", True, id="crlf-complete"),
        pytest.param(b"SIP/2.0 200 OK\nServer: x\n", False, id="lf-unfinished"),
        pytest.param(b"SIP/2.0 200 OK\nServer: x\n\n", True, id="lf-complete"),
        pytest.param(b"SIP/2.0 200 OK\r\n\r\nbody", True, id="with-body"),
    ],
)
def test_header_block_complete(data, complete):
    assert header_block_complete(data) is complete


# --- truncated and garbage input ----------------------------------------------------------


def test_truncated_in_a_header_keeps_what_arrived():
    data = b"SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\nServer: TANDB"
    assert not header_block_complete(data)
    parsed = parse_response(data)
    assert parsed.status == 200
    assert parsed.header("cseq") == "1 OPTIONS"
    assert parsed.server == "TANDB"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"SIP/2.0", id="version-only"),
        pytest.param(b"SIP/2.0 ", id="version-and-space"),
        pytest.param(b"SIP/2.0 20", id="status-cut"),
        pytest.param(b"SIP/2.0 2000 OK\r\n\r\n", id="status-four-digits"),
        pytest.param(b"SIP/2.0 OK 200\r\n\r\n", id="status-not-number"),
        pytest.param(b"HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n", id="http"),
        pytest.param(b"\x16\x03\x01\x00\x05hello", id="tls-record"),
        pytest.param(b"\r\n\r\nSIP/2.0 200 OK\r\n", id="blank-first"),
        pytest.param("SIP/2.0 \u00b2\u00b2\u00b2 OK\r\n\r\n".encode(), id="status-superscript-digits"),
    ],
)
def test_not_a_response(data):
    with pytest.raises(SipParseError):
        parse_response(data)


_STATUS_PREFIXES = st.sampled_from([b"", b"SIP/2.0 ", b"SIP/2.0 200 ", b"SIP/2.0 200 OK\r\n"])


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=512),
        st.builds(lambda prefix, tail: prefix + tail, _STATUS_PREFIXES, st.binary(max_size=256)),
        st.builds(
            lambda prefix, tail: prefix + tail.encode("utf-8", "surrogatepass"),
            _STATUS_PREFIXES,
            st.text(max_size=64),
        ),
    )
)
@example(b"SIP/2.0 \xc2\xb2\xc2\xb2\xc2\xb2 OK\r\n\r\n")  # superscript digits: str.isdigit() but not int()
@example(b"SIP/2.0 \xff\xfe\xfd OK\r\n\r\n")
@example(b"SIP/2.0 200 OK\r\n \r\n\t:\r\n:\r\n\r\n")
def test_arbitrary_bytes_parse_or_raise_sip_parse_error(data):
    try:
        parsed = parse_response(data)
    except SipParseError:
        return
    assert isinstance(parsed, SipResponse)
    assert 0 <= parsed.status <= 999
    assert all(name == name.lower() for name, _ in parsed.headers)


def test_oversize_input_is_bounded_and_fast():
    header_line = b"X-Pad: " + b"a" * 57 + b"\r\n"  # 66 bytes
    data = b"SIP/2.0 200 OK\r\nServer: first\r\n" + header_line * (1024 * 1024 // len(header_line))
    assert len(data) > 1_000_000
    started = time.perf_counter()
    parsed = parse_response(data)
    elapsed = time.perf_counter() - started
    assert parsed.server == "first"
    assert len(parsed.headers) <= MAX_RESPONSE_BYTES // len(header_line) + 2
    assert elapsed < 0.5, f"parsing 1 MB took {elapsed:.2f} s"


def test_oversize_single_line_is_bounded():
    data = b"SIP/2.0 200 OK\r\nServer: " + b"x" * (1024 * 1024) + b"\r\n\r\n"
    started = time.perf_counter()
    parsed = parse_response(data)
    elapsed = time.perf_counter() - started
    server = parsed.server
    assert server is not None
    assert set(server) == {"x"}
    assert len(server) < MAX_RESPONSE_BYTES
    assert elapsed < 0.5, f"parsing 1 MB took {elapsed:.2f} s"


def test_header_past_the_cap_is_not_seen():
    data = b"SIP/2.0 200 OK\r\nX-Pad: " + b"a" * MAX_RESPONSE_BYTES + b"\r\nServer: late\r\n\r\n"
    assert parse_response(data).server is None


def test_one_mb_of_garbage_raises_quickly():
    started = time.perf_counter()
    with pytest.raises(SipParseError):
        parse_response(b"\x00\xff" * (512 * 1024))
    assert time.perf_counter() - started < 0.5
