"""The parts of ``ekuscan listen`` without a socket: the sans-I/O server, SIP, the judgement, the store.

The TLS tests pump real OpenSSL handshakes through memory BIOs (the client is ekuscan's own
sans-I/O client, or a pyOpenSSL connection presenting a certificate); nothing is mocked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from OpenSSL import SSL

from scanner.app.listen import server_identity
from scanner.core.analysis import analyze
from scanner.lab import LabPKI, LeafKind
from scanner.model import Direction, Endpoint, Observation, Role, Status, Use
from scanner.protocol import sip_server
from scanner.protocol.tls import NEED_DATA, ClientHandshake, HandshakeDone, make_client_context
from scanner.protocol.tls_server import (
    ClientHandshakeDone,
    ClientHandshakeFailed,
    ServerHandshake,
    make_listen_context,
)
from scanner.store import RunKind, RunStatus, open_store
from scanner.store.schema import MIGRATIONS
from scanner.store.session import default_pairs, start_run
from tests.conftest import context
from tests.factories import NOW
from tests.listenutil import client_context, sip_options


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime.now(UTC))


@pytest.fixture(scope="module")
def listen_context() -> SSL.Context:
    identity = server_identity(None, None, datetime.now(UTC))
    return make_listen_context(identity.certificate, identity.key)


def _pump_pyopenssl(
    server: ServerHandshake, client: SSL.Connection
) -> ClientHandshakeDone | ClientHandshakeFailed:
    """Run a handshake between the two in memory, as the edge would over a socket."""
    for _ in range(20):
        try:
            client.do_handshake()
        except SSL.WantReadError:
            pass
        while True:
            try:
                server.receive_data(client.bio_read(65536))
            except SSL.WantReadError:
                break
        event = server.next_event()
        if out := server.data_to_send():
            client.bio_write(out)
        if event is not NEED_DATA:
            assert isinstance(event, ClientHandshakeDone | ClientHandshakeFailed)
            return event
    raise AssertionError("the handshake did not end")


@pytest.mark.parametrize("tls_max", [SSL.TLS1_2_VERSION, SSL.TLS1_3_VERSION])
def test_the_client_chain_comes_leaf_first_whatever_it_is(listen_context, pki: LabPKI, tls_max: int) -> None:
    """A serverAuth-only certificate from a CA the listener does not trust is still accepted: the
    verify callback accepts every chain, and OpenSSL's purpose check does not abort."""
    leaf, chain = pki.leaf("expc", LeafKind.PUBLIC_SERVER_ONLY)
    client = SSL.Connection(client_context(leaf, chain, tls_max), None)
    client.set_connect_state()
    event = _pump_pyopenssl(ServerHandshake(listen_context), client)
    assert isinstance(event, ClientHandshakeDone)
    assert event.facts.chain_der == (leaf.der, *(c.der for c in chain))
    assert event.facts.version == ("TLSv1.2" if tls_max == SSL.TLS1_2_VERSION else "TLSv1.3")


def test_an_expired_client_certificate_is_accepted_too(listen_context, pki: LabPKI) -> None:
    leaf, chain = pki.leaf("old", LeafKind.PRIVATE_EXPIRED)
    client = SSL.Connection(client_context(leaf, chain), None)
    client.set_connect_state()
    event = _pump_pyopenssl(ServerHandshake(listen_context), client)
    assert isinstance(event, ClientHandshakeDone)
    assert event.facts.chain_der[0] == leaf.der


def test_ekuscans_own_client_presents_nothing_and_that_is_an_observation(listen_context) -> None:
    client, server = ClientHandshake(make_client_context(), server_name=None), ServerHandshake(listen_context)
    done = None
    for _ in range(20):
        client_event = client.next_event()
        if out := client.data_to_send():
            server.receive_data(out)
        event = server.next_event()
        if out := server.data_to_send():
            client.receive_data(out)
        if isinstance(event, ClientHandshakeDone):
            done = event
            break
        assert event is NEED_DATA, event
        assert client_event is NEED_DATA or isinstance(client_event, HandshakeDone)
    assert done is not None and done.facts.chain_der == ()
    assert client.facts().client_cert_requested  # it was asked, naming no CA
    assert client.facts().client_ca_names == ()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=5), st.booleans())
def test_whatever_a_client_sends_the_server_never_raises(chunks: list[bytes], eof: bool) -> None:
    identity = server_identity(None, None, NOW)
    server = ServerHandshake(make_listen_context(identity.certificate, identity.key))
    event = NEED_DATA
    for chunk in [*chunks, *([b""] if eof else [])]:
        server.receive_data(chunk)
        event = server.next_event()
        server.data_to_send()
        if event is not NEED_DATA:
            break
    assert event is NEED_DATA or isinstance(event, ClientHandshakeFailed)
    if eof and event is NEED_DATA:
        raise AssertionError("after the client's EOF the handshake must end")


# --- SIP -----------------------------------------------------------------------------------


def test_an_options_ping_gets_200_with_its_transaction_echoed() -> None:
    request = sip_server.parse_request(sip_options("TANDBERG/4352 (X15.2.1)"))
    assert (request.method, request.banner) == ("OPTIONS", "TANDBERG/4352 (X15.2.1)")
    answer = sip_server.answer(request).decode()
    assert answer.startswith("SIP/2.0 200 OK\r\n") and answer.endswith("\r\n\r\n")
    for header in ("Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKlisten1;rport", "CSeq: 42 OPTIONS"):
        assert f"\r\n{header}\r\n" in answer
    invite = sip_server.parse_request(b"INVITE sip:x SIP/2.0\r\nv: SIP/2.0/TLS a\r\nCSeq: 1 INVITE\r\n\r\n")
    assert sip_server.answer(invite).startswith(b"SIP/2.0 405 Method Not Allowed\r\n")
    assert b"\r\nVia: SIP/2.0/TLS a\r\n" in sip_server.answer(invite)  # the compact form, expanded


@given(st.binary(max_size=400))
def test_anything_that_is_not_a_sip_request_is_refused_with_one_error(data: bytes) -> None:
    try:
        request = sip_server.parse_request(data)
    except sip_server.SipRequestError as exc:
        message = str(exc)
    else:
        message = ""
        assert request.method.isalpha()
        assert sip_server.answer(request).startswith(b"SIP/2.0 ")
    assert "\n" not in message


# --- the judgement of an inbound chain ------------------------------------------------------


def _inbound(pki: LabPKI, port: int, sip: str | None = None, role: Role | None = None) -> Observation:
    leaf, chain = pki.leaf("expc", LeafKind.PRIVATE_BOTH)
    endpoint = Endpoint("127.0.0.1:5061", "127.0.0.9", "127.0.0.9", port, role=role)
    chain_der = (leaf.der, *(c.der for c in chain))
    return Observation(endpoint, Status.OK, chain_der=chain_der, sip_server=sip, direction=Direction.INBOUND)


def test_a_client_source_port_of_7001_does_not_make_an_expressway_e(pki: LabPKI) -> None:
    report = analyze(_inbound(pki, 7001), context(judged_as=Use.CLIENT))
    assert report.role is Role.EXPRESSWAY  # the default: nothing said which side
    outbound = analyze(Observation(_inbound(pki, 7001).endpoint, Status.OK), context())
    assert outbound.role is Role.EXPRESSWAY_E  # a traversal listener, as before


def test_an_x15_5_client_certificate_is_judged_not_left_unknown(pki: LabPKI) -> None:
    observation = _inbound(pki, 40000, sip="TANDBERG/4352 (X15.5)", role=Role.EXPRESSWAY_C)
    caught = analyze(observation, context(judged_as=Use.CLIENT))
    assert "SEPARATE_CLIENT_STORE" not in {f.code for f in caught.findings}
    assert caught.links and all(
        link.uses is Use.CLIENT and link.verdict.value == "ok" for link in caught.links
    )
    scanned = analyze(
        Observation(
            observation.endpoint,
            Status.OK,
            chain_der=observation.chain_der,
            sip_server=observation.sip_server,
        ),
        context(),
    )
    assert "SEPARATE_CLIENT_STORE" in {f.code for f in scanned.findings}


# --- the store: runs of kind listen ----------------------------------------------------------


def _store_at_version_2(target: str):
    if target.startswith("postgresql://"):
        from scanner.store.postgres import PostgresStore

        store = PostgresStore(target)
    else:
        from scanner.store.sqlite import SqliteStore

        store = SqliteStore(Path(target))
    store.migrate(MIGRATIONS[:2])
    return store


def test_migration_3_keeps_earlier_runs_as_scans(db_target: str) -> None:
    with _store_at_version_2(db_target) as old:
        old.execute(
            "INSERT INTO runs (scanner, started_at, evaluated_at, status, tool_version, pid, command)"
            " VALUES ('jump1', 't', 't', 'complete', 'old', 1, '')"
        )
    with open_store(db_target) as store:
        [run] = store.runs()
        assert run.kind is RunKind.SCAN
        listen = start_run(store, "jump1", NOW, NOW, "test", "listen", RunKind.LISTEN)
        assert listen.previous is None  # a listen session is not compared with a scan
        listen.finish(RunStatus.COMPLETE, NOW)
        assert [r.kind for r in store.runs(kind=RunKind.LISTEN)] == [RunKind.LISTEN]


def test_listen_sessions_are_never_diffed_against_scans(db_target: str) -> None:
    with open_store(db_target) as store:
        for kind in (RunKind.SCAN, RunKind.LISTEN, RunKind.LISTEN):
            start_run(store, "jump1", NOW, NOW, "test", "", kind).finish(RunStatus.COMPLETE, NOW)
        assert default_pairs(store) == []  # one scan, two listens: nothing to compare
        start_run(store, "jump1", NOW, NOW, "test", "", RunKind.SCAN).finish(RunStatus.COMPLETE, NOW)
        [(older, newer)] = default_pairs(store)
        assert (older.kind, newer.kind) == (RunKind.SCAN, RunKind.SCAN)
        assert (older.id, newer.id) == (1, 4)


def test_every_endpoint_says_its_direction(pki: LabPKI) -> None:
    from scanner.report.document import endpoint_dict

    inbound = _inbound(pki, 40000)
    outbound = Observation(inbound.endpoint, Status.OK, chain_der=inbound.chain_der)
    assert endpoint_dict(analyze(outbound, context()))["direction"] == "outbound"  # scan's, by default
    assert endpoint_dict(analyze(inbound, context(judged_as=Use.CLIENT)))["direction"] == "inbound"
