"""Real handshakes against real servers on loopback: the lab, and servers that misbehave.

Every server here listens on 127.0.0.0/8 or ::1 and is started by the test itself.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
import trio
from OpenSSL import SSL

from scanner.core.analysis import analyze
from scanner.core.targets import expand, parse_csv, parse_target
from scanner.edge.files import intermediate_pool, load_packaged_policy
from scanner.edge.net import ProbeConfig
from scanner.edge.pool import PoolConfig
from scanner.lab import ESTATE, Behaviour, LabPKI, targets_csv
from scanner.model import ChainSource, EndpointReport, Status, TrustBasis, TrustClass, Verdict
from scanner.report.inventory import Inventory
from tests.addresses import LIVE_SWEEP
from tests.conftest import context
from tests.factories import CA_, SA, judge
from tests.netutil import context_for, endpoint, lab_leaf, scan, scan_endpoints, serve, tls_handler

# --- the built-in lab -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab_reports(lab, lab_roots) -> dict[tuple[str, int], EndpointReport]:
    """Scan every lab endpoint once, through the lab's own target CSV, as a user would."""
    specs = parse_csv(targets_csv(lab.services).splitlines(), "lab.csv")
    observations = trio.run(lambda: scan(expand(specs), seconds=1.5))
    # expc-alone sends its leaf alone: the scan completes it with the lab's public intermediates,
    # as `make demo` does with --intermediates.
    pool = intermediate_pool(b"".join(ca.pem for ca in lab.pki.public_intermediates))
    ctx = context(lab_roots, now=lab.pki.now, intermediates=pool)
    by_target = {(r.endpoint.ip, r.endpoint.port): r for r in judge(observations, ctx)}
    return {(s.host.name, s.service.port): by_target[(s.address, s.port)] for s in lab.services}


LAB_CASES = [(h.name, s) for h in ESTATE for s in h.services]
NOW_LAB = datetime.now(UTC)


@pytest.mark.parametrize(("host", "service"), LAB_CASES, ids=[f"{h}:{s.port}" for h, s in LAB_CASES])
def test_every_lab_endpoint_scans_as_designed(lab_reports, host, service):
    report = lab_reports[(host, service.port)]
    assert report.observation.status is service.expect_status, report.observation.error
    assert report.verdict is service.expect_verdict, [(f.code, f.message) for f in report.findings]


def codes(report: EndpointReport) -> set[str]:
    return {f.code for f in report.findings}


def test_the_leaf_sent_alone_is_completed_public_and_at_risk(lab_reports, lab):
    report = lab_reports[("expc-alone", 5061)]
    assert len(report.chain) == 1  # the server sent its leaf only
    assert (report.trust.trust, report.trust.basis) == (TrustClass.PUBLIC, TrustBasis.COMPLETED)
    assert [(a.facts.subject, a.source) for a in report.trust.added] == [
        (lab.pki.public_ca.cert.subject.rfc4514_string(), ChainSource.USER)
    ]
    assert {"CHAIN_INCOMPLETE", "CLIENTAUTH_SUNSET"} <= codes(report)


@pytest.mark.parametrize(
    ("host", "role", "source", "product", "version"),
    [
        ("expe-public", "expressway-e", "inferred", "expressway-e", "X14.3.2"),  # banner + 7001 + CE_E
        ("expe-x155", "expressway-e", "inferred", "expressway-e", "X15.5.1"),
        ("cucm", "cucm", "inferred", "cucm", "14.0"),
        ("cube", "cube", "inferred", "cube", "17.6.5"),
        ("expc-public", "expressway-c", "given", "expressway", "X14.3.2"),
        ("expc-private", "expressway-c", "given", "expressway", "X15.3.2"),
    ],
)
def test_lab_hosts_are_fingerprinted_and_their_roles_inferred(
    lab_reports, lab, host, role, source, product, version
):
    ports = [b.service.port for b in lab.services if b.host.name == host]
    assert ports, f"no lab host named {host}"
    for port in ports:
        report = lab_reports[(host, port)]
        assert (report.role.value, report.role_source.value) == (role, source)
        assert report.software is not None
        assert (report.software.product.value, str(report.software.version)) == (product, version)


def test_https_server_headers_are_recorded(lab_reports):
    assert lab_reports[("expe-public", 8443)].observation.http_server == "CE_E"
    assert lab_reports[("expc-private", 443)].observation.http_server == "Apache"
    assert lab_reports[("expe-public", 5061)].observation.sip_server == "TANDBERG/4137 (X14.3.2)"


def test_release_findings_follow_the_field_notice(lab_reports):
    assert "AFFECTED_RELEASE" in codes(lab_reports[("expe-public", 5061)])
    assert "AFFECTED_RELEASE" in codes(lab_reports[("expc-private", 443)])  # X15.3.2 is affected too
    x155 = lab_reports[("expe-x155", 5061)]
    assert {"FIXED_RELEASE", "SEPARATE_CLIENT_STORE"} <= set(codes(x155))
    assert "AFFECTED_RELEASE" not in codes(x155)
    # X15.5: the client certificate is out of sight, so client links are unknown, not guessed.
    client = [link for link in x155.links if link.uses.value == "client"]
    assert client and all(link.verdict is Verdict.UNKNOWN for link in client)
    assert all("separate store" in link.reason for link in client)
    assert "EKU_NO_CLIENTAUTH" not in codes(x155)
    # The same serverAuth-only certificate on an affected release breaks the client links.
    assert "EKU_NO_CLIENTAUTH" in codes(lab_reports[("expe-public", 5061)])
    # CUCM and CUBE releases are not Expressway releases.
    assert not {"AFFECTED_RELEASE", "FIXED_RELEASE"} & set(codes(lab_reports[("cucm", 5061)]))


def test_the_estate_shows_the_release_mismatch_of_a_pair(lab_reports):
    inventory = Inventory(now=NOW_LAB)
    for report in lab_reports.values():
        inventory.add(report)
    (finding,) = [f for f in inventory.summary().findings if f.code == "EXPRESSWAY_VERSION_MISMATCH"]
    assert "pair-private" in finding.message and "X14.3.2" in finding.message and "X15.3.2" in finding.message


def test_tls13_traversal_abort_keeps_chain_and_ca_names(lab_reports, lab):
    report = lab_reports[("expe-public", 7001)]
    obs = report.observation
    assert obs.tls_version == "TLSv1.3"
    assert obs.client_cert_requested
    assert obs.client_ca_names == ("CN=EKUSCAN LAB Public Root R1,O=EKUSCAN LAB Public Trust,C=ZZ",)
    assert obs.tls_alert is not None and "certificate required" in obs.tls_alert
    assert len(obs.chain_der) == 2  # leaf + issuing CA, captured although the server aborted
    assert "CLIENT_CERT_REQUESTED" in codes(report)
    # It names a public root for client certificates: its peers' next certificates lack clientAuth.
    assert "PUBLIC_CLIENT_CA_TRUSTED" in codes(report)
    assert "PUBLIC_CLIENT_CA_TRUSTED" not in codes(lab_reports[("expe-private", 7001)])


def test_tls12_traversal_abort_keeps_chain(lab_reports):
    report = lab_reports[("expe-private", 7001)]
    obs = report.observation
    assert obs.tls_version == "TLSv1.2"
    assert obs.status is Status.OK
    assert obs.client_cert_requested and obs.client_ca_names
    assert obs.tls_alert is not None and "handshake failure" in obs.tls_alert
    assert len(obs.chain_der) == 3
    assert report.trust.trust.value == "private"


def test_sip_port_answers_options_with_banner(lab_reports):
    assert lab_reports[("expe-public", 5061)].observation.sip_server == "TANDBERG/4137 (X14.3.2)"
    assert lab_reports[("expe-public", 443)].observation.sip_server is None  # no SIP probe on 443


def test_lab_findings_say_why(lab_reports):
    assert "EKU_NO_CLIENTAUTH" in codes(lab_reports[("expe-public", 5061)])
    assert "CLIENTAUTH_SUNSET" in codes(lab_reports[("expc-public", 5061)])
    assert "CHAIN_EKU_NO_CLIENTAUTH" in codes(lab_reports[("expc-geny", 5061)])
    assert "EXPIRED" in codes(lab_reports[("expe-expired", 443)])
    assert codes(lab_reports[("expc-private", 443)]) <= {
        "EKU_ABSENT",
        "CLIENT_CERT_REQUESTED",
        "AFFECTED_RELEASE",
    }
    at_risk = lab_reports[("expc-public", 5061)]
    assert at_risk.breaks_on == at_risk.leaf.not_after  # the renewal date is the break date


def test_plaintext_and_silent_ports(lab_reports):
    plain = lab_reports[("plaintext", 5061)].observation
    assert plain.status is Status.NO_TLS and "SIP/2.0 400" in (plain.error or "")
    silent = lab_reports[("silent", 7001)].observation
    assert silent.status is Status.TIMEOUT and silent.connected


def test_one_certificate_per_lab_host(lab, lab_reports):
    inventory = Inventory()
    for report in lab_reports.values():
        inventory.add(report)
    hosts = {h.host: h for h in list(inventory.each_host())}
    assert all(not h.certificate_mismatch for h in hosts.values())
    assert hosts[lab.find("expe-public", 5061).address].verdict is Verdict.BREAKS


def test_the_links_column_narrows_a_live_scan(lab, lab_roots):
    """A target CSV whose links column says the E uses MRA SIP and B2B federation only."""
    rows = ["target,ports,role,sni,label,links"]
    rows += [
        f"{b.address},{b.port},,{b.sni},{b.host.label},mra-sip;b2b-federation"
        for b in lab.services
        if b.host.name == "expe-public"
    ]
    specs = parse_csv(rows, "links.csv", link_names=load_packaged_policy().link_names)
    observations = trio.run(lambda: scan(expand(specs), seconds=1.5))
    reports = list(judge(observations, context(lab_roots, now=lab.pki.now)))
    assert len(reports) == 4 and all(r.endpoint.links == ("mra-sip", "b2b-federation") for r in reports)
    named = {(link.name, link.verdict, link.condition) for r in reports for link in r.links}
    assert named == {("mra-sip", Verdict.OK, None), ("b2b-federation", Verdict.BREAKS, None)}


# --- servers that behave in one particular way ----------------------------------------------


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime.now(UTC))


@pytest.mark.parametrize(
    ("tls_max", "tls_min", "version"),
    [
        (SSL.TLS1_2_VERSION, None, "TLSv1.2"),
        (None, SSL.TLS1_3_VERSION, "TLSv1.3"),
    ],
    ids=["tls1.2", "tls1.3"],
)
async def test_tls_versions(nursery, pki, tls_max, tls_min, version):
    leaf = lab_leaf(pki, eku=[SA, CA_])
    ctx = context_for(pki, leaf, [pki.private_ca], tls_max=tls_max, tls_min=tls_min)
    port = await serve(nursery, tls_handler(ctx, Behaviour.TLS))
    [obs] = await scan([endpoint("127.0.0.1", port)])
    assert obs.status is Status.OK and obs.tls_version == version
    assert not obs.client_cert_requested and obs.tls_alert is None
    assert len(obs.chain_der) == 2


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_ipv6_loopback(nursery, pki):
    leaf = lab_leaf(pki, eku=[SA])
    port = await serve(
        nursery, tls_handler(context_for(pki, leaf, [pki.private_ca]), Behaviour.TLS), host="::1"
    )
    spec = parse_target(f"[::1]:{port}")
    [obs] = await scan(expand([spec]))
    assert obs.status is Status.OK and obs.endpoint.ip == "::1" and obs.endpoint.sni is None
    report = analyze(obs, context(now=pki.now))
    assert "EKU_NO_CLIENTAUTH" in codes(report)


async def test_request_without_ca_names_still_counts(nursery, pki):
    leaf = lab_leaf(pki, eku=[SA, CA_])
    ctx = context_for(pki, leaf, [pki.private_ca], tls_max=SSL.TLS1_2_VERSION)
    ctx.set_verify(SSL.VERIFY_PEER, lambda *_: True)  # asks, names no CA, does not insist
    port = await serve(nursery, tls_handler(ctx, Behaviour.TLS))
    [obs] = await scan([endpoint("127.0.0.1", port)])
    assert obs.status is Status.OK
    assert obs.client_cert_requested and obs.client_ca_names == ()


async def test_unparseable_certificate_is_a_finding_and_the_sweep_goes_on(nursery, pki):
    # OpenSSL serves a certificate whose EKU extension is garbage; cryptography refuses it.
    bad = lab_leaf(pki, "bad.lab.ekuscan.test", raw_eku=b"\x30\x03\x02\x01\xff")
    good = lab_leaf(pki, "good.lab.ekuscan.test", eku=[SA, CA_])
    bad_port = await serve(nursery, tls_handler(context_for(pki, bad, [pki.private_ca]), Behaviour.TLS))
    good_port = await serve(nursery, tls_handler(context_for(pki, good, [pki.private_ca]), Behaviour.TLS))
    observations = await scan([endpoint("127.0.0.1", bad_port), endpoint("127.0.0.1", good_port)])
    reports = {o.endpoint.port: analyze(o, context(now=pki.now)) for o in observations}
    assert "CERT_UNPARSEABLE" in codes(reports[bad_port])
    assert reports[bad_port].verdict is Verdict.UNKNOWN
    assert reports[good_port].verdict is Verdict.OK


async def _close_at_once(stream: trio.SocketStream) -> None:
    await stream.aclose()


async def _send_garbage(stream: trio.SocketStream) -> None:
    await stream.send_all(b"\x00\x01\x02binary junk\xff" * 4)
    await stream.aclose()


async def _fake_tls_record(stream: trio.SocketStream) -> None:
    await stream.receive_some(65536)
    await stream.send_all(b"\x16\x03\x03\x00\x05junk!")  # a handshake record holding nonsense
    await trio.sleep(5)


async def _close_after_hello(stream: trio.SocketStream) -> None:
    await stream.receive_some(65536)
    await stream.aclose()


async def _stall(stream: trio.SocketStream) -> None:
    await trio.sleep(10)


@pytest.mark.parametrize(
    ("handler", "status", "text"),
    [
        (_close_at_once, Status.TLS_ERROR, "closed the connection"),
        (_close_after_hello, Status.TLS_ERROR, "without answering"),
        (_send_garbage, Status.NO_TLS, "not TLS"),
        (_fake_tls_record, Status.TLS_ERROR, ""),
        (_stall, Status.TIMEOUT, "no answer to the ClientHello"),
    ],
    ids=["close-at-once", "close-after-hello", "garbage", "bad-tls-record", "stall"],
)
async def test_hostile_servers_cost_only_their_timeout(nursery, handler, status, text):
    port = await serve(nursery, handler)
    started = trio.current_time()
    [obs] = await scan([endpoint("127.0.0.1", port)], seconds=0.5)
    assert obs.status is status, obs.error
    assert text in (obs.error or "")
    assert obs.connected
    assert trio.current_time() - started < 3


async def test_closed_port():
    with socket.socket() as s:  # find a port nothing listens on, then let it go
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [obs] = await scan([endpoint("127.0.0.1", port)])
    assert obs.status is Status.CLOSED and not obs.connected


async def test_localhost_is_scanned_on_each_address(nursery, pki):
    leaf = lab_leaf(pki, "localhost", eku=[SA, CA_])
    ctx = context_for(pki, leaf, [pki.private_ca])
    port = await serve(nursery, tls_handler(ctx, Behaviour.TLS), host="127.0.0.1")
    observations = await scan(expand([parse_target(f"localhost:{port}")]))
    ips = {o.endpoint.ip: o for o in observations}
    assert ips["127.0.0.1"].status is Status.OK
    assert all(o.endpoint.sni == "localhost" and o.endpoint.host == "localhost" for o in observations)


async def test_dns_failure_is_an_endpoint_not_an_exception(monkeypatch):
    # No resolver is asked: the pool's lookup is replaced by one that fails, as an outside
    # resolver would for an unknown name. The network path itself is not involved.
    import scanner.edge.pool as pool

    async def failing(host: str, port: int, limit_seconds: float) -> str:
        return "DNS lookup failed: [Errno -2] Name or service not known"

    monkeypatch.setattr(pool, "resolve", failing)
    [obs] = await scan([endpoint("no-such-host.example.test", 5061)])
    assert obs.status is Status.DNS_ERROR and "Name or service" in (obs.error or "")


# --- a sweep of a /24 ------------------------------------------------------------------------


@pytest.mark.slow
async def test_sweep_of_a_slash_24_finds_exactly_the_live_endpoints(nursery, pki):
    leaf = lab_leaf(pki, eku=[SA, CA_])
    ctx = context_for(pki, leaf, [pki.private_ca])
    live = {
        (str(LIVE_SWEEP[10]), 8443),
        (str(LIVE_SWEEP[77]), 5061),
        (str(LIVE_SWEEP[200]), 8443),
        (str(LIVE_SWEEP[254]), 5061),
    }
    for host, port in live:
        await serve(
            nursery,
            tls_handler(ctx, Behaviour.SIP if port == 5061 else Behaviour.TLS, "TANDBERG/1 (X1)"),
            host=host,
            port=port,
        )
    silent_host = (str(LIVE_SWEEP[123]), 8443)
    await serve(nursery, _stall, host=silent_host[0], port=silent_host[1])
    spec = parse_target(str(LIVE_SWEEP), ports=(5061, 8443))
    send, receive = trio.open_memory_channel(64)
    inventory = Inventory()
    listed = set()
    async with trio.open_nursery() as inner:
        inner.start_soon(
            scan_endpoints,
            expand([spec]),
            PoolConfig(concurrency=128, probe=ProbeConfig(connect_timeout=1, timeout=0.5)),
            send,
        )
        async with receive:
            async for obs in receive:
                if inventory.add(analyze(obs, context(now=pki.now))):
                    listed.add((obs.endpoint.ip, obs.endpoint.port))
    assert listed == live | {silent_host}
    summary = inventory.summary()
    assert summary.probes == 512
    assert summary.by_status["closed"] == 512 - 5
    assert summary.by_status["ok"] == 4 and summary.by_status["timeout"] == 1


def test_lab_dates_follow_the_clock(lab):
    # The lab's PKI is generated at start, relative to its clock: the expiring host expires
    # in 75 days whatever today is.
    leaf, _ = lab.pki.leaf("expc-public", ESTATE[1].leaf)
    assert leaf.cert.not_valid_after_utc - lab.pki.now == timedelta(days=75)
