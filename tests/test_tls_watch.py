"""The client watches a connection only from the server's certificate request on (tls_watch.py).

In-memory handshakes against pyOpenSSL servers: the facts are the same with the watcher and with
the fallback (the info callback on the whole context), and a server that never asks costs no
info callback at all.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from OpenSSL import SSL

from scanner.lab import Behaviour, LabPKI
from scanner.protocol import tls, tls_watch
from scanner.protocol.tls import ClientHandshake, ConnectionEnded, HandshakeDone, HandshakeFailed
from tests.factories import CA_, SA
from tests.netutil import context_for, lab_leaf
from tests.test_handshake import run, server_conn

VERSIONS = [(SSL.TLS1_2_VERSION, "TLSv1.2"), (None, "TLSv1.3")]


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime.now(UTC))


@pytest.fixture(params=["watcher", "fallback"])
def mode(request, monkeypatch) -> str:
    if request.param == "fallback":
        monkeypatch.setattr(tls, "watch_requests", lambda *_: False)
    return request.param


@pytest.fixture
def info_calls(monkeypatch) -> list[int]:
    """Counts the info callback's calls on contexts made after it."""
    calls: list[int] = []
    real = tls._info_callback

    def counting(conn: SSL.Connection, where: int, ret: int) -> None:
        calls.append(where)
        real(conn, where, ret)

    monkeypatch.setattr(tls, "_info_callback", counting)
    return calls


def _asking(pki: LabPKI, tls_max: int | None, behaviour: Behaviour = Behaviour.TLS) -> SSL.Context:
    ctx = context_for(
        pki, lab_leaf(pki, eku=[SA, CA_]), [pki.private_ca], tls_max=tls_max, behaviour=behaviour
    )
    if behaviour is Behaviour.TLS:
        ctx.set_verify(SSL.VERIFY_PEER, lambda *_: True)  # asks, names no CA, takes anything
    return ctx


def test_the_watcher_is_what_this_pyopenssl_gets():
    # If a pyOpenSSL release drops what the watcher needs, this fails: the probe still works
    # (the fallback), but each handshake pays the info callback again, and the note in
    # tls_watch.py must be revisited.
    assert tls_watch.watch_requests(SSL.Context(SSL.TLS_METHOD), lambda _: None, lambda *_: None)


@pytest.mark.parametrize(("tls_max", "version"), VERSIONS)
def test_a_server_that_never_asks_costs_no_info_callback(pki, info_calls, tls_max, version):
    server = server_conn(context_for(pki, lab_leaf(pki, eku=[SA]), [pki.private_ca], tls_max=tls_max))
    client = ClientHandshake(tls.make_client_context(), server_name=None)
    event = run(client, server)
    assert isinstance(event, HandshakeDone) and event.facts.version == version
    assert not event.facts.client_cert_requested
    assert info_calls == []


@pytest.mark.parametrize(("tls_max", "version"), VERSIONS)
def test_a_request_without_ca_names_is_seen_either_way(pki, mode, info_calls, tls_max, version):
    client = ClientHandshake(tls.make_client_context(), server_name=None)
    event = run(client, server_conn(_asking(pki, tls_max)))
    assert isinstance(event, HandshakeDone) and event.facts.version == version
    assert event.facts.client_cert_requested and event.facts.client_ca_names == ()
    assert event.facts.peer_alert is None
    assert info_calls  # watched from the request on (or, fallback, all along)


def test_the_tls13_ticket_after_an_accepted_request_is_seen_either_way(pki, mode):
    server = server_conn(_asking(pki, None))
    client = ClientHandshake(tls.make_client_context(), server_name=None)
    # run() hands the server our Finished (and empty Certificate) and gives the client what the
    # server wrote then: its session tickets, which the first read processes.
    assert isinstance(run(client, server), HandshakeDone)
    assert not client.ticket_received
    assert client.next_event() is tls.NEED_DATA
    assert client.ticket_received


def test_the_peers_alert_after_the_request_is_kept_either_way(pki, mode):
    # TLS 1.2: the server demands a certificate and aborts on our empty one with an alert.
    server = server_conn(_asking(pki, SSL.TLS1_2_VERSION, Behaviour.MTLS_ABORT))
    client = ClientHandshake(tls.make_client_context(), server_name=None)
    event = run(client, server)
    assert isinstance(event, HandshakeFailed)
    assert event.facts.client_cert_requested and event.facts.peer_alert is not None
    assert event.facts.chain_der


def test_tls13_certificate_required_after_the_request_is_kept_either_way(pki, mode):
    server = server_conn(_asking(pki, None, Behaviour.MTLS_ABORT))
    client = ClientHandshake(tls.make_client_context(), server_name=None)
    event = run(client, server)
    assert isinstance(event, HandshakeDone) and event.facts.client_cert_requested
    ended = client.next_event()
    assert isinstance(ended, ConnectionEnded)
    assert client.facts().peer_alert == 116  # certificate_required
