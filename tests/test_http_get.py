"""The sans-I/O HTTP GET of an issuer certificate: URLs, the request, answers whole or cut short."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.protocol.http import HttpParseError
from scanner.protocol.http_get import UrlError, answer_complete, build_get, parse_answer, parse_http_url


@pytest.mark.parametrize(
    ("text", "host", "port", "target", "authority"),
    [
        ("http://x1.i.lencr.org/", "x1.i.lencr.org", 80, "/", "x1.i.lencr.org"),
        ("http://127.0.0.1:8080/ca.crt", "127.0.0.1", 8080, "/ca.crt", "127.0.0.1:8080"),
        ("HTTP://[::1]:81/a/b.p7c?x=1", "::1", 81, "/a/b.p7c?x=1", "[::1]:81"),
        ("http://repository.certum.pl", "repository.certum.pl", 80, "/", "repository.certum.pl"),
    ],
)
def test_http_urls_are_read(text, host, port, target, authority):
    url = parse_http_url(text)
    assert (url.host, url.port, url.target, url.authority) == (host, port, target, authority)
    assert build_get(url).startswith(f"GET {target} HTTP/1.1\r\nHost: {authority}\r\n".encode())
    assert build_get(url).endswith(b"Connection: close\r\n\r\n")


@pytest.mark.parametrize(
    "text",
    [
        "https://cacerts.digicert.com/x.crt",
        "ldap://ldap.example.test/cn=ca",
        "http://user:secret@127.0.0.1/ca.crt",
        "http:///nohost",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1/a b",
        "not a url",
    ],
)
def test_anything_but_plain_http_is_refused(text):
    with pytest.raises(UrlError):
        parse_http_url(text)


def test_a_redirect_is_resolved_against_the_url_it_came_from():
    url = parse_http_url("http://127.0.0.1:8080/a/b.crt")
    assert url.resolve("c.crt").text == "http://127.0.0.1:8080/a/c.crt"
    assert url.resolve("http://127.0.0.2/x").host == "127.0.0.2"
    with pytest.raises(UrlError):
        url.resolve("https://127.0.0.1/secure")


BODY = bytes(range(256)) * 5


def head(status: int = 200, *headers: str) -> bytes:
    return (f"HTTP/1.1 {status} X\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode()


def chunked(body: bytes, size: int = 100) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"


def test_an_answer_with_a_length_is_complete_when_the_body_is_there():
    data = head(200, f"Content-Length: {len(BODY)}") + BODY
    assert not answer_complete(data[:-1])
    assert answer_complete(data)
    assert parse_answer(data, closed=False).body == BODY
    with pytest.raises(HttpParseError):
        parse_answer(data[:-1], closed=True)


def test_a_chunked_answer_is_complete_at_its_last_chunk():
    data = head(200, "Transfer-Encoding: chunked") + chunked(BODY)
    assert not answer_complete(data[:-7])
    assert answer_complete(data)
    assert parse_answer(data, closed=False).body == BODY
    with pytest.raises(HttpParseError):
        parse_answer(data[:-7], closed=True)


def test_an_answer_without_a_length_ends_with_the_connection():
    data = head(200) + BODY
    assert not answer_complete(data)
    assert parse_answer(data, closed=True).body == BODY
    with pytest.raises(HttpParseError):
        parse_answer(data, closed=False)


def test_redirects_carry_their_location():
    answer = parse_answer(head(301, "Location: /next.crt", "Content-Length: 0"), closed=True)
    assert (answer.status, answer.location) == (301, "/next.crt")
    assert parse_answer(head(200, "Location: /x", "Content-Length: 0"), closed=True).location is None


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage\r\n\r\n", head(200, "Content-Length: -1"), head(200, "Content-Length: 1e3") + b"x"],
    ids=["nothing", "not-http", "negative-length", "bad-length"],
)
def test_what_is_not_a_whole_answer_is_refused(data):
    with pytest.raises(HttpParseError):
        parse_answer(data, closed=True)


@given(st.binary(max_size=64).filter(bool), st.integers(min_value=1, max_value=50))
def test_chunked_bodies_read_back(body, size):
    assert (
        parse_answer(head(200, "Transfer-Encoding: chunked") + chunked(body, size), closed=True).body == body
    )


@given(st.binary(max_size=600), st.booleans())
@settings(max_examples=300)
def test_any_bytes_are_an_answer_or_an_http_parse_error(data, closed):
    answer_complete(data)
    try:
        parse_answer(data, closed)
    except HttpParseError:
        pass
