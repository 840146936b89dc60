"""Names through the real resolver path (glibc getaddrinfo), answered by a DNS server on loopback.

The scan runs as a subprocess in a mount namespace of its own, where /etc/resolv.conf names
only the test's server (127.0.0.153, or where EKUSCAN_TEST_NET moves it, see tests/addresses.py):
no outside resolver is ever asked. The server answers ``multi.ekuscan.test`` with two addresses,
``NXDOMAIN`` for ``missing.ekuscan.test``, and nothing at all for ``silent.ekuscan.test``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.addresses import DNS_MULTI, DNS_SERVER
from tests.netutil import background_tls_servers

DNS_ADDRESS = DNS_SERVER
MULTI = DNS_MULTI  # apart from the other tests' addresses
TLS_PORT = 9443
NXDOMAIN = 3


def _question(packet: bytes) -> tuple[str, int, int]:
    labels, offset = [], 12
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii").lower())
        offset += 1 + length
    qtype = struct.unpack_from(">H", packet, offset + 1)[0]
    return ".".join(labels), qtype, offset + 5


def answer(packet: bytes) -> bytes | None:
    """The reply to one query, or None to stay silent (pure)."""
    name, qtype, end = _question(packet)
    if name == "silent.ekuscan.test":
        return None
    records = [socket.inet_aton(a) for a in MULTI] if name == "multi.ekuscan.test" and qtype == 1 else []
    rcode = NXDOMAIN if name != "multi.ekuscan.test" else 0
    header = packet[:2] + struct.pack(">HHHHH", 0x8180 | rcode, 1, len(records), 0, 0)
    body = b"".join(struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + rdata for rdata in records)
    return header + packet[12:end] + body


class LoopbackDNS:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((DNS_ADDRESS, 53))
        self.sock.settimeout(0.2)
        self.queries: list[str] = []
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                packet, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.queries.append(_question(packet)[0])
            reply = answer(packet)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    not _can_unshare(), reason="needs root and unshare(1) for a private resolv.conf"
)


@pytest.fixture(scope="module")
def dns() -> Iterator[LoopbackDNS]:
    server = LoopbackDNS()
    yield server
    server.close()


@pytest.fixture(scope="module")
def tls_servers() -> Iterator[None]:
    with background_tls_servers([(a, TLS_PORT) for a in MULTI]):
        yield


def scan_with_private_resolver(tmp_path: Path, *args: str) -> dict:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {DNS_ADDRESS}\noptions timeout:3 attempts:1\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    command = " ".join(
        [
            f"mount --bind {resolv} /etc/resolv.conf &&",
            f"mount --bind {hosts} /etc/hosts &&",
            f"exec {sys.executable} -m scanner scan",
            *args,
            "-f json --fail-on never --timeout 2",
        ]
    )
    result = subprocess.run(
        ["unshare", "--mount", "sh", "-c", command], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_name_with_two_addresses_is_scanned_on_each(dns, tls_servers, tmp_path):
    document = scan_with_private_resolver(tmp_path, f"multi.ekuscan.test:{TLS_PORT}")
    found = sorted((e["ip"], e["status"]) for e in document["endpoints"])
    assert found == [(MULTI[0], "ok"), (MULTI[1], "ok")]
    assert all(
        e["host"] == "multi.ekuscan.test" and e["sni"] == "multi.ekuscan.test" for e in document["endpoints"]
    )
    assert "multi.ekuscan.test" in dns.queries


def test_first_address_only(dns, tls_servers, tmp_path):
    document = scan_with_private_resolver(tmp_path, f"multi.ekuscan.test:{TLS_PORT}", "--first-address-only")
    assert [(e["ip"], e["status"]) for e in document["endpoints"]] == [(MULTI[0], "ok")]


def test_unknown_and_silent_names_are_dns_error_endpoints(dns, tls_servers, tmp_path):
    document = scan_with_private_resolver(
        tmp_path,
        "missing.ekuscan.test:5061",
        "silent.ekuscan.test:5061",
        f"multi.ekuscan.test:{TLS_PORT}",
        "--connect-timeout",
        "1",
    )
    by_host = {}
    for e in document["endpoints"]:
        by_host.setdefault(e["host"], []).append(e)
    [missing] = by_host["missing.ekuscan.test"]
    assert missing["status"] == "dns-error" and "DNS lookup failed" in missing["error"]
    [silent] = by_host["silent.ekuscan.test"]
    assert silent["status"] == "dns-error" and silent["error"] == "DNS lookup timed out after 1s"
    assert len(by_host["multi.ekuscan.test"]) == 2  # one bad name never stops the sweep


def test_the_replies_are_well_formed():
    query = (
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        + b"\x05multi\x07ekuscan\x04test\x00"
        + b"\x00\x01\x00\x01"
    )
    reply = answer(query)
    assert reply is not None and reply[:2] == b"\x12\x34"
    assert struct.unpack_from(">HHH", reply, 2) == (0x8180, 1, 2)
    assert reply.endswith(socket.inet_aton(MULTI[1]))
    missing = query.replace(b"\x05multi", b"\x05nomul")
    assert struct.unpack_from(">H", answer(missing) or b"", 2)[0] & 0xF == NXDOMAIN
