"""The SIP OPTIONS and HTTP HEAD probes over real TLS on loopback: every banner form, and
answers that are garbage, oversize, truncated or missing. Each costs at most its timeout and
never ends the sweep."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import trio

from scanner.lab import Behaviour, LabPKI, sip_answer
from scanner.model import Role, RoleSource, Status
from scanner.protocol import http, sip
from tests.conftest import context
from tests.factories import CA_, SA, judge
from tests.netutil import context_for, endpoint, lab_leaf, scan, serve, tls_handler


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime.now(UTC))


BANNERS = [
    ("TANDBERG/4137 (X12.5.1)", Role.EXPRESSWAY, "X12.5.1"),
    ("TANDBERG/4352 (X8.10.2-b2bua-1.0)", Role.EXPRESSWAY, "X8.10.2"),
    ("TANDBERG/4120 (XC4.3.1)", Role.SERVER, "XC4.3.1"),
    ("Cisco-CUCM12.5", Role.CUCM, "12.5"),
    ("Cisco-SIPGateway/IOS-16.10.2", Role.CUBE, "16.10.2"),
]


async def one(nursery, pki, *, behaviour, banner="", answer=b"", kind="sip", seconds=1.0):
    ctx = context_for(pki, lab_leaf(pki, eku=[SA, CA_]), [pki.private_ca])
    port = await serve(nursery, tls_handler(ctx, behaviour, banner=banner, answer=answer))
    ports = (
        {"sip_ports": [port], "http_ports": []} if kind == "sip" else {"sip_ports": [], "http_ports": [port]}
    )
    started = trio.current_time()
    [obs] = await scan([endpoint("127.0.0.1", port)], seconds=seconds, **ports)
    return obs, trio.current_time() - started


@pytest.mark.parametrize(("banner", "role", "version"), BANNERS, ids=[b for b, _, _ in BANNERS])
async def test_every_banner_form_over_sip_tls(nursery, pki, banner, role, version):
    obs, _ = await one(nursery, pki, behaviour=Behaviour.SIP, banner=banner)
    assert obs.status is Status.OK and obs.sip_server == banner
    (report,) = judge([obs], context(now=pki.now))
    assert (report.role, report.role_source) == (role, RoleSource.INFERRED)
    assert report.software is not None and str(report.software.version) == version


def options_reply(extra: bytes = b"") -> bytes:
    return sip_answer(sip.build_options("127.0.0.1", 5061), "TANDBERG/4137 (X14.3.2)") + extra


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"\x00\xff garbage that is not SIP\r\n\r\n", "SIP probe: not a SIP response"),
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "SIP probe: not a SIP response"),
        (b"SIP/2.0 200 OK\r\nServer: TANDBERG/4137 (X14", None),  # truncated: the server hung up
        (b"SIP/2.0 200 OK\r\n" + b"X-Pad: " + b"a" * (4 * sip.MAX_RESPONSE_BYTES) + b"\r\n\r\n", None),
    ],
    ids=["garbage", "http-on-sip", "truncated", "oversize"],
)
async def test_bad_sip_answers_are_bounded_and_reported(nursery, pki, answer, error):
    obs, took = await one(nursery, pki, behaviour=Behaviour.RAW, answer=answer)
    assert obs.status is Status.OK and len(obs.chain_der) == 2  # the certificate is what counts
    assert obs.error == error or (error and obs.error and obs.error.startswith(error))
    assert obs.sip_server is None or obs.sip_server.startswith("TANDBERG/4137 (X14")
    assert took < 2.5


async def test_a_sip_port_that_never_answers_costs_its_timeout(nursery, pki):
    obs, took = await one(nursery, pki, behaviour=Behaviour.TLS, seconds=0.5)
    assert obs.status is Status.OK and obs.sip_server is None and obs.error is None
    assert took < 2.0


async def test_a_well_formed_answer_after_the_header_is_not_read_further(nursery, pki):
    obs, _ = await one(nursery, pki, behaviour=Behaviour.RAW, answer=options_reply(b"v=0\r\n" * 10_000))
    assert obs.sip_server == "TANDBERG/4137 (X14.3.2)"


@pytest.mark.parametrize(
    ("answer", "server", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nServer: CE_E\r\nContent-Length: 0\r\n\r\n", "CE_E", None),
        (b"HTTP/1.1 302 Found\r\nLocation: /login\r\n\r\n", None, None),
        (b"SSH-2.0-OpenSSH_9.2\r\n", None, "HTTP probe: not an HTTP response"),
        (b"HTTP/1.1 200 OK\r\n" + b"a" * (4 * http.MAX_RESPONSE_BYTES), None, None),
    ],
    ids=["ce-e", "no-server-header", "not-http", "oversize"],
)
async def test_https_head(nursery, pki, answer, server, error):
    obs, took = await one(nursery, pki, behaviour=Behaviour.RAW, answer=answer, kind="http")
    assert obs.status is Status.OK
    assert obs.http_server == server
    assert (obs.error or "").startswith(error or "") and (obs.error is None) is (error is None)
    assert took < 2.5
    if server == "CE_E":
        (report,) = judge([obs], context(now=pki.now))
        assert report.role is Role.EXPRESSWAY_E and report.role_source is RoleSource.INFERRED
