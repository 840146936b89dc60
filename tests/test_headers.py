"""The header-block code that the SIP and HTTP parsers share: bounded, forgiving, pure."""

from __future__ import annotations

import ast

import pytest

from scanner.protocol import headers
from scanner.protocol.headers import find_header, head_lines, header_block_complete
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        pytest.param(b"SIP/2.0 200 OK\r\nServer: x\r\n\r\nbody", ["SIP/2.0 200 OK", "Server: x"], id="crlf"),
        pytest.param(b"HTTP/1.1 200 OK\nServer: x\n\nbody", ["HTTP/1.1 200 OK", "Server: x"], id="lf"),
        pytest.param(b"SIP/2.0 200 OK\r\nServer: TAND", ["SIP/2.0 200 OK", "Server: TAND"], id="truncated"),
        pytest.param(b"", [""], id="empty"),
    ],
)
def test_head_lines_stops_at_the_blank_line(data, lines):
    assert head_lines(data, 1024) == lines


def test_head_lines_reads_no_further_than_the_limit():
    data = b"SIP/2.0 200 OK\r\nX-Pad: " + b"a" * 100 + b"\r\nServer: late\r\n\r\n"
    lines = head_lines(data, 40)
    assert lines[-1].startswith("X-Pad: a") and "Server: late" not in lines
    assert sum(len(line) for line in lines) < 40


def test_head_lines_decodes_with_the_given_encoding_and_never_fails():
    assert head_lines(b"HTTP/1.1 200 OK\r\nServer: caf\xe9\r\n\r\n", 100, "iso-8859-1")[1] == "Server: café"
    assert head_lines(b"SIP/2.0 200 OK\r\nServer: \xff\r\n\r\n", 100)[1] == "Server: \ufffd"


def test_a_blank_line_beyond_the_limit_does_not_count():
    data = b"SIP/2.0 200 OK\r\nServer: x" + b"y" * 50 + b"\r\n\r\n"
    assert header_block_complete(data)
    assert head_lines(data, 20) == ["SIP/2.0 200 OK", "Serv"]


def test_find_header_is_case_insensitive_and_takes_the_first():
    pairs = (("server", "a"), ("x-custom", "1"), ("server", "b"))
    assert find_header(pairs, "Server") == "a"
    assert find_header(pairs, "X-CUSTOM") == "1"
    assert find_header(pairs, "allow") is None


def test_the_shared_module_is_pure():
    tree = ast.parse((REPO / "scanner" / "protocol" / "headers.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "collections.abc"}, imported
    assert headers.__doc__ and headers.__doc__.splitlines()[0].endswith(".")
