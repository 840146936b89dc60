"""The sans-I/O handshake against an in-memory pyOpenSSL server: no sockets, no trio."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from OpenSSL import SSL

from scanner.core.certs import name_attributes
from scanner.lab import Behaviour, LabPKI
from scanner.protocol.tls import (
    NEED_DATA,
    ApplicationData,
    ClientHandshake,
    ConnectionEnded,
    FailureKind,
    HandshakeDone,
    HandshakeFailed,
    make_client_context,
)
from tests.factories import CA_, SA, make_cert
from tests.netutil import context_for, lab_leaf


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime.now(UTC))


def run(client: ClientHandshake, server: SSL.Connection, rounds: int = 20):
    """Shuttle bytes between the two until the client reports something other than NEED_DATA."""
    for _ in range(rounds):
        event = client.next_event()
        out = client.data_to_send()
        if out:
            server.bio_write(out)
        try:
            server.do_handshake()
        except SSL.WantReadError:
            pass
        except SSL.Error:
            pass  # the server gave up; its alert is in its BIO
        if isinstance(event, HandshakeFailed):
            return event  # final: the client takes no more bytes
        try:
            client.receive_data(server.bio_read(65536))  # after HandshakeDone: for the first read
        except SSL.WantReadError:
            pass
        if event is not NEED_DATA:
            return event
    raise AssertionError("handshake did not settle")


def server_conn(ctx: SSL.Context) -> SSL.Connection:
    conn = SSL.Connection(ctx, None)
    conn.set_accept_state()
    return conn


@pytest.mark.parametrize(("tls_max", "version"), [(SSL.TLS1_2_VERSION, "TLSv1.2"), (None, "TLSv1.3")])
def test_completed_handshake_reports_chain(pki, tls_max, version):
    leaf = lab_leaf(pki, eku=[SA])
    server = server_conn(context_for(pki, leaf, [pki.private_ca, pki.private_root], tls_max=tls_max))
    client = ClientHandshake(make_client_context(), server_name="live.lab.ekuscan.test")
    event = run(client, server)
    assert isinstance(event, HandshakeDone)
    assert event.facts.version == version
    assert len(event.facts.chain_der) == 3
    assert not event.facts.client_cert_requested
    assert server.get_servername() == b"live.lab.ekuscan.test"


def test_tls12_abort_for_missing_client_certificate_keeps_chain(pki):
    leaf = lab_leaf(pki, eku=[SA, CA_])
    ctx = context_for(pki, leaf, [pki.private_ca], behaviour=Behaviour.MTLS_ABORT, tls_max=SSL.TLS1_2_VERSION)
    client = ClientHandshake(make_client_context(), server_name=None)
    event = run(client, server_conn(ctx))
    assert isinstance(event, HandshakeFailed) and event.kind is FailureKind.ALERT
    assert "handshake failure" in event.detail
    assert len(event.facts.chain_der) == 2
    assert event.facts.client_cert_requested
    assert event.facts.client_ca_names == ("CN=Example Corp Private Root,O=Example Corp,C=ZZ",)


def test_ca_names_are_rfc4514_text_that_reads_back(pki):
    """A CA name with a comma in its organisation is escaped, so it parses back whole."""
    leaf = lab_leaf(pki, eku=[SA, CA_])
    ctx = context_for(pki, leaf, [pki.private_ca], behaviour=Behaviour.MTLS_ABORT, tls_max=SSL.TLS1_2_VERSION)
    odd = make_cert("Odd Root, G1", ca=True, org='GoDaddy.com, Inc. "+;<>\\ ', eku=None)
    ctx.add_client_ca(odd.cert)
    event = run(ClientHandshake(make_client_context(), server_name=None), server_conn(ctx))
    names = event.facts.client_ca_names
    assert names[-1] == odd.cert.subject.rfc4514_string()  # the same text cryptography writes
    attributes = name_attributes(names[-1])
    assert (attributes["CN"], attributes["O"]) == ("Odd Root, G1", 'GoDaddy.com, Inc. "+;<>\\ ')


def test_tls13_abort_shows_on_first_read(pki):
    leaf = lab_leaf(pki, eku=[SA, CA_])
    server = server_conn(context_for(pki, leaf, [pki.private_ca], behaviour=Behaviour.MTLS_ABORT))
    client = ClientHandshake(make_client_context(), server_name=None)
    event = run(client, server)
    assert isinstance(event, HandshakeDone) and event.facts.client_cert_requested
    # The server read our empty Certificate and Finished and answered certificate_required;
    # the client only sees it when it reads.
    ended = client.next_event()
    assert isinstance(ended, ConnectionEnded) and ended.alert and "certificate required" in ended.alert


def test_application_data_after_handshake(pki):
    leaf = lab_leaf(pki, eku=[SA])
    server = server_conn(context_for(pki, leaf, [pki.private_ca]))
    client = ClientHandshake(make_client_context(), server_name=None)
    assert isinstance(run(client, server), HandshakeDone)
    assert client.next_event() is NEED_DATA
    client.send_application_data(b"OPTIONS sip:x SIP/2.0\r\n\r\n")
    server.bio_write(client.data_to_send())
    assert server.recv(100).startswith(b"OPTIONS")
    server.sendall(b"SIP/2.0 200 OK\r\n\r\n")
    client.receive_data(server.bio_read(65536))
    assert client.next_event() == ApplicationData(b"SIP/2.0 200 OK\r\n\r\n")


@pytest.mark.parametrize(
    "reply", [b"SSH-2.0-OpenSSH_9.2\r\n", b"HTTP/1.1 400 Bad Request\r\n\r\n", b"\x00\x00"]
)
def test_plain_text_answer_is_not_tls(reply):
    client = ClientHandshake(make_client_context(), server_name=None)
    assert client.next_event() is NEED_DATA
    assert client.data_to_send().startswith(b"\x16\x03")  # our ClientHello
    client.receive_data(reply)
    event = client.next_event()
    assert isinstance(event, HandshakeFailed) and event.kind is FailureKind.NOT_TLS
    assert event.banner == reply[:64]


def test_eof_before_any_answer():
    client = ClientHandshake(make_client_context(), server_name=None)
    client.next_event()
    client.data_to_send()
    client.receive_data(b"")
    event = client.next_event()
    assert isinstance(event, HandshakeFailed) and event.kind is FailureKind.EOF
    assert "without answering" in event.detail


def test_ip_literal_gets_no_sni(pki):
    leaf = lab_leaf(pki, eku=[SA])
    server = server_conn(context_for(pki, leaf, [pki.private_ca]))
    assert isinstance(run(ClientHandshake(make_client_context(), server_name=None), server), HandshakeDone)
    assert server.get_servername() is None


@settings(max_examples=300, deadline=None)
@given(chunks=st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=6))
def test_any_bytes_from_a_hostile_server_give_an_event_never_an_exception(chunks):
    client = ClientHandshake(make_client_context(), server_name="x.example.test")
    client.next_event()
    client.data_to_send()
    for chunk in chunks:
        client.receive_data(chunk)
        event = client.next_event()
        client.data_to_send()
        assert event is NEED_DATA or isinstance(event, HandshakeFailed)
        if event is not NEED_DATA:
            break


@settings(max_examples=200, deadline=None)
@given(body=st.binary(min_size=0, max_size=400), content_type=st.sampled_from([0x14, 0x15, 0x16, 0x17]))
def test_tls_shaped_garbage_fails_cleanly(body, content_type):
    record = bytes([content_type, 3, 3]) + len(body).to_bytes(2, "big") + body
    client = ClientHandshake(make_client_context(), server_name=None)
    client.next_event()
    client.data_to_send()
    client.receive_data(record)
    client.receive_data(b"")  # and then the server hangs up
    event = client.next_event()
    assert isinstance(event, HandshakeFailed) and event.kind in (FailureKind.ALERT, FailureKind.EOF)
    assert event.facts.chain_der == ()
