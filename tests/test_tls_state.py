"""The sans-I/O TLS client's state machine: refusals in the wrong state, and the documented order.

The order is checked against real servers on loopback, driven over real sockets the way
``scanner/edge/net.py`` drives them: the lab's pyOpenSSL servers, Debian's ``openssl s_server``
and peers that close or answer in plain text. Every step a connection takes must be a row of
the transition table in ``scanner/protocol/tls.py``'s docstring, so the table cannot drift
from the code.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from scanner.lab import Behaviour, LabPKI
from scanner.protocol import tls
from scanner.protocol.tls import (
    NEED_DATA,
    ApplicationData,
    ClientHandshake,
    ConnectionEnded,
    Event,
    FailureKind,
    HandshakeDone,
    HandshakeFailed,
    TLSState,
    TLSStateError,
    make_client_context,
)
from tests.factories import CA_, SA
from tests.netutil import context_for, lab_leaf, serve, tls_handler

S = TLSState
OPENSSL = shutil.which("openssl")
REQUEST = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n\r\n"
ANSWER = b"SIP/2.0 200 OK\r\nServer: state-test\r\n\r\n"
PRIVATE_ROOT = "CN=Example Corp Private Root,O=Example Corp,C=ZZ"


TLS_VERSIONS = [
    pytest.param(SSL.TLS1_2_VERSION, None, "TLSv1.2", id="tls1.2"),
    pytest.param(None, SSL.TLS1_3_VERSION, "TLSv1.3", id="tls1.3"),
]


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime.now(UTC))


def client() -> ClientHandshake:
    return ClientHandshake(make_client_context(), server_name=None)


# --- the documented table, read from the module docstring ------------------------------------


ROW = re.compile(
    r"^    ([A-Z_]+(?:\[_EOF\])?|any other) {2,}(\S.*?) {2,}([A-Z_]+|unchanged)(?: {2,}\(final\))?$"
)


def documented_transitions() -> set[tuple[TLSState, str, TLSState]]:
    """(state, step, next state) for every row of the table in tls.py, with [_EOF] expanded."""
    rows: set[tuple[TLSState, str, TLSState]] = set()
    for line in (tls.__doc__ or "").splitlines():
        match = ROW.match(line)
        if match is None or match[1] == "any other":
            continue  # "any other: close_notify() -> False" is test_close_notify_before_the_handshake
        state, step, after = match.groups()
        for name in (state[:-6], state[:-6] + "_EOF") if state.endswith("[_EOF]") else (state,):
            rows.add((S[name], step, S[name] if after == "unchanged" else S[after]))
    return rows


def test_the_table_names_every_state_and_final_event():
    rows = documented_transitions()
    assert len(rows) == 15
    assert {s for s, _, _ in rows} | {t for _, _, t in rows} == set(TLSState)
    assert (S.HANDSHAKING, "next_event() -> HandshakeFailed", S.FAILED) in rows
    assert (S.ESTABLISHED_EOF, "next_event() -> ConnectionEnded", S.CLOSED) in rows


# --- a driver that records every step ----------------------------------------------------------


@dataclass
class Trace:
    steps: list[tuple[TLSState, str, TLSState]]
    events: list[Event]

    @property
    def states(self) -> list[TLSState]:
        """The states visited, in order, each once per visit."""
        seen = [self.steps[0][0]]
        for _, _, after in self.steps:
            if after is not seen[-1]:
                seen.append(after)
        return seen

    @property
    def last(self) -> Event:
        return self.events[-1]


def _step_name(event: Event) -> str:
    return "next_event() -> " + ("NEED_DATA" if event is NEED_DATA else type(event).__name__)


async def drive(stream: trio.abc.Stream, hs: ClientHandshake, request: bytes | None = None) -> Trace:
    """The driver loop of net.py (h11 shape), recording each step, until a final event.

    With ``request``, it is sent once the handshake is done, as the SIP and HTTP probes do.
    """
    trace = Trace([], [])
    with trio.fail_after(10):
        while True:
            before = hs.state
            event = hs.next_event()
            trace.events.append(event)
            trace.steps.append((before, _step_name(event), hs.state))
            if out := hs.data_to_send():
                try:
                    await stream.send_all(out)
                except trio.BrokenResourceError:
                    pass  # the peer is gone: the next read says so
            if isinstance(event, HandshakeFailed | ConnectionEnded):
                return trace
            if isinstance(event, HandshakeDone) and request is not None:
                hs.send_application_data(request)
                await stream.send_all(hs.data_to_send())
            if event is NEED_DATA:
                try:
                    data = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    data = b""
                before = hs.state
                hs.receive_data(data)
                if not data:
                    trace.steps.append((before, 'receive_data(b"")', hs.state))


def assert_documented(trace: Trace) -> None:
    table = documented_transitions()
    undocumented = [step for step in trace.steps if step not in table]
    assert not undocumented, f"steps that are not rows of the table in tls.py: {undocumented}"


# --- refusals: each method in a state that does not allow it ---------------------------------


def failed() -> ClientHandshake:
    hs = client()
    hs.next_event()
    hs.data_to_send()
    hs.receive_data(b"SSH-2.0-OpenSSH_9.2\r\n")
    assert isinstance(hs.next_event(), HandshakeFailed)
    return hs


def peer_closed_mid_handshake() -> ClientHandshake:
    hs = client()
    hs.next_event()
    hs.receive_data(b"")
    return hs


REFUSALS: list[tuple[str, Callable[[], ClientHandshake], Callable[[ClientHandshake], object], str]] = [
    ("send-before-handshake", client, lambda hs: hs.send_application_data(REQUEST), "handshaking"),
    (
        "send-after-peer-closed-mid-handshake",
        peer_closed_mid_handshake,
        lambda hs: hs.send_application_data(REQUEST),
        "handshaking-eof",
    ),
    ("send-after-failure", failed, lambda hs: hs.send_application_data(REQUEST), "failed"),
    ("next-event-after-failure", failed, lambda hs: hs.next_event(), "failed"),
    ("bytes-after-failure", failed, lambda hs: hs.receive_data(b"\x15\x03\x03"), "failed"),
    ("bytes-after-eof", peer_closed_mid_handshake, lambda hs: hs.receive_data(b"\x16"), "handshaking-eof"),
    ("eof-twice", peer_closed_mid_handshake, lambda hs: hs.receive_data(b""), "handshaking-eof"),
]


@pytest.mark.parametrize(("make", "call", "state"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_a_method_called_in_the_wrong_state_raises_and_changes_nothing(make, call, state):
    hs = make()
    before = (hs.state, hs.facts())
    hs.data_to_send()
    with pytest.raises(TLSStateError, match=f"the connection is {state}$"):
        call(hs)
    assert (hs.state, hs.facts()) == before
    assert hs.data_to_send() == b"", "a refused call queues nothing for the peer"


def test_sending_before_the_handshake_does_not_start_one():
    hs = client()
    with pytest.raises(TLSStateError, match=r"send_application_data\(\) needs an established connection"):
        hs.send_application_data(REQUEST)
    assert hs.data_to_send() == b"" and hs.state is S.HANDSHAKING
    assert hs.next_event() is NEED_DATA
    assert hs.data_to_send().startswith(b"\x16\x03")  # only now: our ClientHello


@pytest.mark.parametrize("make", [client, peer_closed_mid_handshake, failed], ids=["new", "eof", "failed"])
def test_close_notify_before_the_handshake_says_there_was_nothing_to_close(make):
    hs = make()
    state = hs.state
    hs.data_to_send()
    assert hs.close_notify() is False
    assert hs.state is state and hs.data_to_send() == b""


def test_facts_answer_in_every_state_before_the_handshake():
    for hs in (client(), peer_closed_mid_handshake(), failed()):
        facts = hs.facts()
        assert facts.chain_der == () and not facts.client_cert_requested


def test_after_eof_there_is_no_more_waiting():
    hs = peer_closed_mid_handshake()
    assert hs.state is S.HANDSHAKING_EOF
    event = hs.next_event()
    assert isinstance(event, HandshakeFailed) and event.kind is FailureKind.EOF
    assert hs.state is S.FAILED


@pytest.mark.parametrize(("tls_max", "tls_min", "version"), TLS_VERSIONS)
def test_bytes_that_finish_the_handshake_then_eof_give_done_then_the_end(pki, tls_max, tls_min, version):
    """The server's last flight and its hang-up both arrive before the client looks (in memory)."""
    ctx = context_for(pki, lab_leaf(pki, eku=[SA]), [pki.private_ca], tls_max=tls_max, tls_min=tls_min)
    server = SSL.Connection(ctx, None)
    server.set_accept_state()
    hs = client()
    server_done = False
    while not server_done:
        assert hs.next_event() is NEED_DATA
        server.bio_write(hs.data_to_send())
        try:
            server.do_handshake()
            server_done = True  # TLS 1.2: its ChangeCipherSpec and Finished are the client's last
        except SSL.WantReadError:
            # TLS 1.3: done once it has sent its Finished (a HelloRetryRequest, for a server that
            # prefers a group we offered without a key share, comes first and ends no flight).
            server_done = version == "TLSv1.3" and server.get_finished() is not None
        hs.receive_data(server.bio_read(65536))
    hs.receive_data(b"")
    assert hs.state is S.HANDSHAKING_EOF
    done = hs.next_event()
    assert isinstance(done, HandshakeDone) and done.facts.version == version
    assert hs.state is S.ESTABLISHED_EOF
    ended = hs.next_event()
    assert isinstance(ended, ConnectionEnded) and hs.state is S.CLOSED
    with pytest.raises(TLSStateError):
        hs.send_application_data(REQUEST)


# --- the order, against real servers on loopback ---------------------------------------------


async def connect(port: int) -> trio.SocketStream:
    return await trio.open_tcp_stream("127.0.0.1", port)


@pytest.mark.parametrize(("tls_max", "tls_min", "version"), TLS_VERSIONS)
async def test_a_request_and_its_answer_walk_the_table(nursery, pki, tls_max, tls_min, version):
    """Handshake, one request, the answer, the server hangs up: every state of a good probe."""
    ctx = context_for(pki, lab_leaf(pki, eku=[SA]), [pki.private_ca], tls_max=tls_max, tls_min=tls_min)
    port = await serve(nursery, tls_handler(ctx, Behaviour.RAW, answer=ANSWER))
    hs = client()
    async with await connect(port) as stream:
        trace = await drive(stream, hs, request=REQUEST)
    assert_documented(trace)
    assert trace.states == [S.HANDSHAKING, S.ESTABLISHED, S.ESTABLISHED_EOF, S.CLOSED]
    (done,) = [e for e in trace.events if isinstance(e, HandshakeDone)]
    assert done.facts.version == version and len(done.facts.chain_der) == 2
    assert b"".join(e.data for e in trace.events if isinstance(e, ApplicationData)) == ANSWER
    assert isinstance(trace.last, ConnectionEnded)
    assert hs.facts().chain_der == done.facts.chain_der, "facts outlive the connection"
    with pytest.raises(TLSStateError, match=r"the connection is closed$"):
        hs.next_event()
    with pytest.raises(TLSStateError, match=r"the connection is closed$"):
        hs.send_application_data(REQUEST)


@pytest.mark.parametrize(("tls_max", "tls_min", "version"), TLS_VERSIONS)
async def test_close_notify_ends_an_established_connection(nursery, pki, tls_max, tls_min, version):
    ctx = context_for(pki, lab_leaf(pki, eku=[SA]), [pki.private_ca], tls_max=tls_max, tls_min=tls_min)
    port = await serve(nursery, tls_handler(ctx, Behaviour.TLS))
    hs = client()
    async with await connect(port) as stream:
        with trio.fail_after(10):
            while not isinstance(event := hs.next_event(), HandshakeDone):
                assert event is NEED_DATA and hs.state is S.HANDSHAKING
                await stream.send_all(hs.data_to_send())
                hs.receive_data(await stream.receive_some(65536))
        await stream.send_all(hs.data_to_send())
        assert hs.state is S.ESTABLISHED and event.facts.version == version
        assert hs.close_notify() is True
        assert hs.state is S.CLOSED
        assert hs.data_to_send(), "the close_notify alert is queued"
        hs.close_notify()  # saying it again is harmless
        assert hs.state is S.CLOSED
        with pytest.raises(TLSStateError, match=r"the connection is closed$"):
            hs.send_application_data(REQUEST)


async def test_tls12_server_that_demands_a_certificate_fails_the_handshake_keeping_the_chain(nursery, pki):
    leaf = lab_leaf(pki, eku=[SA, CA_])
    ctx = context_for(pki, leaf, [pki.private_ca], behaviour=Behaviour.MTLS_ABORT, tls_max=SSL.TLS1_2_VERSION)
    port = await serve(nursery, tls_handler(ctx, Behaviour.MTLS_ABORT))
    async with await connect(port) as stream:
        trace = await drive(stream, client())
    assert_documented(trace)
    assert trace.states == [S.HANDSHAKING, S.FAILED]
    failure = trace.last
    assert isinstance(failure, HandshakeFailed) and failure.kind is FailureKind.ALERT
    assert "handshake failure" in failure.detail
    assert len(failure.facts.chain_der) == 2 and failure.facts.version == "TLSv1.2"
    assert failure.facts.client_cert_requested and failure.facts.client_ca_names == (PRIVATE_ROOT,)


async def test_tls13_server_that_demands_a_certificate_ends_the_connection_after_it(nursery, pki):
    leaf = lab_leaf(pki, eku=[SA, CA_])
    ctx = context_for(pki, leaf, [pki.private_ca], behaviour=Behaviour.MTLS_ABORT)
    port = await serve(nursery, tls_handler(ctx, Behaviour.MTLS_ABORT))
    hs = client()
    async with await connect(port) as stream:
        trace = await drive(stream, hs)
    assert_documented(trace)
    assert trace.states == [S.HANDSHAKING, S.ESTABLISHED, S.CLOSED]
    (done,) = [e for e in trace.events if isinstance(e, HandshakeDone)]
    assert done.facts.version == "TLSv1.3" and done.facts.client_cert_requested
    ended = trace.last
    assert isinstance(ended, ConnectionEnded) and ended.alert and "certificate required" in ended.alert
    facts = hs.facts()  # after the end: the chain and the CA names are still there
    assert len(facts.chain_der) == 2 and facts.client_ca_names == (PRIVATE_ROOT,)


async def test_a_peer_that_answers_in_plain_text_fails_the_handshake(nursery):
    async def ssh(stream: trio.SocketStream) -> None:
        await stream.send_all(b"SSH-2.0-OpenSSH_9.2\r\n")
        await trio.sleep(5)

    port = await serve(nursery, ssh)
    async with await connect(port) as stream:
        trace = await drive(stream, client())
    assert_documented(trace)
    assert trace.states == [S.HANDSHAKING, S.FAILED]
    failure = trace.last
    assert isinstance(failure, HandshakeFailed) and failure.kind is FailureKind.NOT_TLS
    assert failure.banner == b"SSH-2.0-OpenSSH_9.2\r\n" and failure.facts.chain_der == ()


async def test_a_peer_that_hangs_up_after_the_hello_passes_through_the_eof_state(nursery):
    async def hang_up(stream: trio.SocketStream) -> None:
        await stream.receive_some(65536)
        await stream.aclose()

    port = await serve(nursery, hang_up)
    async with await connect(port) as stream:
        trace = await drive(stream, client())
    assert_documented(trace)
    assert trace.states == [S.HANDSHAKING, S.HANDSHAKING_EOF, S.FAILED]
    assert isinstance(trace.last, HandshakeFailed) and trace.last.kind is FailureKind.EOF


# --- the same against Debian's openssl s_server: not our server code --------------------------


@pytest.fixture
def s_server(pki: LabPKI, tmp_path: Path) -> Iterator[Callable[[str], int]]:
    """Start ``openssl s_server`` on loopback for one connection; returns its port."""
    if OPENSSL is None:
        pytest.skip("openssl is not installed")
    leaf = lab_leaf(pki, eku=[SA, CA_])
    (tmp_path / "cert.pem").write_bytes(leaf.pem)
    (tmp_path / "chain.pem").write_bytes(pki.private_ca.pem)
    key = leaf.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "key.pem").write_bytes(key)
    (tmp_path / "ca.pem").write_bytes(pki.private_root.pem)
    started: list[subprocess.Popen[str]] = []

    def start(version: str) -> int:
        command = [OPENSSL, "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", f"-{version}"]
        command += ["-cert", str(tmp_path / "cert.pem"), "-key", str(tmp_path / "key.pem")]
        command += ["-cert_chain", str(tmp_path / "chain.pem")]
        command += ["-Verify", "1", "-CAfile", str(tmp_path / "ca.pem")]  # demand a client certificate
        # stdin stays an open, silent pipe: at EOF on stdin s_server would drop the connection
        server = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        started.append(server)
        assert server.stdout is not None
        while line := server.stdout.readline():  # "ACCEPT 127.0.0.1:40123" once it listens
            if line.startswith("ACCEPT"):
                return int(line.rsplit(":", 1)[1])
        raise AssertionError("s_server did not start")

    yield start
    for server in started:
        server.kill()
        server.wait(10)
        for pipe in (server.stdin, server.stdout):
            if pipe is not None:
                pipe.close()


@pytest.mark.parametrize(
    ("version", "states"),
    [
        pytest.param("tls1_2", [S.HANDSHAKING, S.FAILED], id="tls1.2"),
        pytest.param("tls1_3", [S.HANDSHAKING, S.ESTABLISHED, S.CLOSED], id="tls1.3"),
    ],
)
async def test_openssl_s_server_demanding_a_certificate(s_server, version, states):
    port = s_server(version)
    hs = client()
    async with await connect(port) as stream:
        trace = await drive(stream, hs)
    assert_documented(trace)
    assert trace.states == states
    facts = hs.facts()
    assert facts.version == version.replace("tls1_", "TLSv1.")
    assert len(facts.chain_der) == 2, "leaf and issuing CA, although the server aborted"
    assert facts.client_cert_requested and facts.client_ca_names == (PRIVATE_ROOT,)
    last = trace.last
    if isinstance(last, HandshakeFailed):
        assert last.kind is FailureKind.ALERT and last.facts.chain_der == facts.chain_der
    else:
        assert isinstance(last, ConnectionEnded) and last.alert and "certificate required" in last.alert
