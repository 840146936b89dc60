"""``ekuscan listen`` (issue 11 part 2) with real clients: s_client, pyOpenSSL, garbage, stalls, crowds.

The listener runs as the real command in a subprocess on 127.0.0.1 (``--port 0``: the kernel's
choice); every client is a real TLS stack on loopback. The ekuscan-probe-as-client case
(``scan --client-cert``, issue 11 part 1) is added where the two parts merge.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from OpenSSL import SSL

from scanner.edge.files import load_packaged_policy
from scanner.lab import Issued, LabPKI, LeafKind
from scanner.model import Role, Use
from tests.conftest import REPO
from tests.listenutil import (
    OPENSSL,
    ListenProcess,
    blocking,
    client_context,
    endpoints_of,
    pyopenssl_client,
    s_client,
    sip_options,
    write_pem,
)

AT = "2026-12-01T12:00:00Z"  # one evaluation time for listen and inspect alike
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="Debian's openssl command is needed")


def client_links(role: Role) -> set[str]:
    return {link.name for link in load_packaged_policy().links_for(role) if link.uses is Use.CLIENT}


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime.now(UTC))


@pytest.fixture(scope="module")
def identities(pki: LabPKI) -> dict[str, tuple[Issued, tuple[Issued, ...]]]:
    """Client certificates with their chains: a serverAuth-only public one, a private one with both EKUs."""
    return {
        "public": pki.leaf("expc", LeafKind.PUBLIC_SERVER_ONLY),
        "private": pki.leaf("expc2", LeafKind.PRIVATE_BOTH),
    }


@pytest.fixture(scope="module")
def files(
    pki: LabPKI,
    identities: dict[str, tuple[Issued, tuple[Issued, ...]]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Path]:
    """The same certificates as PEM files, and the lab's public root."""
    folder = tmp_path_factory.mktemp("listen-pki")
    public_leaf, public_chain = identities["public"]
    private_leaf, private_chain = identities["private"]
    return {
        "root": write_pem(folder / "root.pem", pki.public_root),
        "public": write_pem(folder / "public.pem", public_leaf),
        "public-chain": write_pem(folder / "public-chain.pem", *public_chain),
        "public-key": write_pem(folder / "public.key", public_leaf, key=True),
        "private": write_pem(folder / "private.pem", private_leaf),
        "private-chain": write_pem(folder / "private-chain.pem", *private_chain),
        "private-key": write_pem(folder / "private.key", private_leaf, key=True),
    }


def run_cli(*args: str, seconds: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=seconds,
        check=False,
    )


# --- openssl s_client, with and without a certificate --------------------------------------


@needs_openssl
@pytest.mark.parametrize(("version", "name"), [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_s_client_with_and_without_a_certificate(files: dict[str, Path], version: str, name: str) -> None:
    with ListenProcess(["--role", "expressway-c", "--max-clients", "2", "-f", "json"]) as listen:
        given = ["-cert", str(files["public"]), "-key", str(files["public-key"])]
        presented = s_client(listen.port, version, *given, "-cert_chain", str(files["public-chain"]))
        assert presented.returncode == 0, presented.stderr
        bare = s_client(listen.port, version)
        assert bare.returncode == 0, bare.stderr
        code, out = listen.finish()
    assert code == 1  # a serverAuth-only certificate breaks the C's client links: --fail-on breaks
    with_cert, without = sorted(endpoints_of(out), key=lambda e: e["status"] != "ok")
    for endpoint in (with_cert, without):
        assert endpoint["direction"] == "inbound"
        assert endpoint["ip"] == endpoint["host"] == "127.0.0.1"
        assert isinstance(endpoint["port"], int) and endpoint["port"] > 0  # the client's source port
        assert endpoint["port"] != listen.port
        assert endpoint["tls_version"] == name
        assert {link["name"] for link in endpoint["links"]} == client_links(Role.EXPRESSWAY_C)
        assert {link["uses"] for link in endpoint["links"]} == {"client"}
    assert with_cert["status"] == "ok"
    assert [c["subject"] for c in with_cert["chain"]] == [  # as sent: the leaf first, then -cert_chain
        "CN=expc.lab.ekuscan.test,O=Example Corp,C=ZZ",
        "CN=EKUSCAN LAB Public TLS CA 2024,O=EKUSCAN LAB Public Trust,C=ZZ",
    ]
    assert "EKU_NO_CLIENTAUTH" in {f["code"] for f in with_cert["findings"]}
    assert {link["verdict"] for link in with_cert["links"]} == {"breaks"}
    assert without["status"] == "no-certificate"
    assert without["error"] == "the client presented no certificate"
    assert without["chain"] == []
    assert {link["verdict"] for link in without["links"]} == {"unknown"}
    assert {link["reason"] for link in without["links"]} == {"the client presented no certificate"}


@needs_openssl
def test_a_client_that_verifies_the_generated_certificate_is_told_apart(files: dict[str, Path]) -> None:
    """TLS clients check the server's certificate before they send their own (1.2 and 1.3 alike):
    one that refuses the generated certificate never shows its client certificate, and the
    endpoint says so instead of looking like a broken client."""
    with ListenProcess(["--max-clients", "1", "-f", "json"]) as listen:
        given = ["-cert", str(files["private"]), "-key", str(files["private-key"])]
        refused = s_client(listen.port, *given, "-verify_return_error")
        assert refused.returncode != 0
        code, out = listen.finish()
    assert code == 0
    assert any("listen-certificate-generated" in line for line in listen.stderr_lines)
    [endpoint] = endpoints_of(out)
    assert endpoint["status"] == "tls-error"
    assert endpoint["error"].startswith("the client rejected ekuscan's server certificate before presenting")
    assert "unknown ca" in endpoint["error"]


@needs_openssl
def test_the_given_server_certificate_is_presented(files: dict[str, Path]) -> None:
    args = ["--cert", str(files["private"]), "--key", str(files["private-key"]), "--max-clients", "1"]
    with ListenProcess([*args, "-f", "json"]) as listen:
        shown = subprocess.run(
            [OPENSSL or "openssl", "s_client", "-connect", f"127.0.0.1:{listen.port}", "-showcerts"],
            input=b"",
            capture_output=True,
            timeout=20,
            check=False,
        )
        code, _ = listen.finish()
    assert b"CN = expc2.lab.ekuscan.test" in shown.stdout
    assert code == 0
    assert not any("generated" in line for line in listen.stderr_lines)


# --- pyOpenSSL clients: SIP OPTIONS, and the same judgement as inspect ---------------------


def test_sip_options_through_the_listener(pki: LabPKI) -> None:
    """--sip answers the OPTIONS ping with 200 and keeps the peer's User-Agent as its SIP banner.
    An X15.5 banner does not hide the client links: this chain *is* the separate client store's."""
    leaf, chain = pki.leaf("expc", LeafKind.PRIVATE_BOTH)
    banner = "TANDBERG/4352 (X15.5.1)"
    with ListenProcess(["--sip", "--role", "expressway-c", "--max-clients", "1", "-f", "jsonl"]) as listen:
        answer = pyopenssl_client(listen.port, leaf, chain, request=sip_options(banner))
        code, out = listen.finish()
    assert answer.startswith(b"SIP/2.0 200 OK\r\n")
    assert b"\r\nCSeq: 42 OPTIONS\r\n" in answer
    assert b"\r\nCall-ID: listen-test-1@127.0.0.1\r\n" in answer
    assert b"branch=z9hG4bKlisten1" in answer
    assert code == 0
    [endpoint] = endpoints_of(out)
    assert endpoint["sip_server"] == banner
    assert (endpoint["product"], endpoint["software_version"]) == ("expressway", "X15.5.1")
    codes = {f["code"] for f in endpoint["findings"]}
    assert "SEPARATE_CLIENT_STORE" not in codes
    assert "FIXED_RELEASE" in codes
    assert {link["verdict"] for link in endpoint["links"]} == {"ok"}


def test_the_sip_banner_sets_the_role(pki: LabPKI) -> None:
    leaf, chain = pki.leaf("cucm", LeafKind.PRIVATE_BOTH)
    with ListenProcess(["--sip", "--max-clients", "1", "-f", "json"]) as listen:
        answer = pyopenssl_client(listen.port, leaf, chain, request=sip_options("Cisco-CUCM14.0"))
        _, out = listen.finish()
    assert answer.startswith(b"SIP/2.0 200 OK")
    [endpoint] = endpoints_of(out)
    assert (endpoint["role"], endpoint["role_source"]) == ("cucm", "inferred")
    assert {link["name"] for link in endpoint["links"]} == client_links(Role.CUCM)


@pytest.mark.parametrize("role", ["expressway-c", "cucm", None])
def test_listen_says_what_inspect_as_client_says(
    files: dict[str, Path], identities: dict[str, tuple[Issued, tuple[Issued, ...]]], role: str | None
) -> None:
    leaf, chain = identities["public"]
    common = ["--public-roots", str(files["root"]), "--at", AT, "-f", "json"]
    common += ["--role", role] if role else []
    with ListenProcess([*common, "--max-clients", "1"]) as listen:
        pyopenssl_client(listen.port, leaf, chain)
        _, out = listen.finish()
    [caught] = endpoints_of(out)
    inspected = run_cli(
        "inspect", str(files["public"]), str(files["public-chain"]), "--as", "client", *common
    )
    assert inspected.returncode in (0, 1), inspected.stderr
    [judged] = endpoints_of(inspected.stdout)
    same = ("role", "role_source", "chain", "trust", "trust_anchor", "root_programs", "trust_basis")
    same += ("chain_added", "findings", "verdict", "breaks_on", "links", "services")
    assert {k: caught[k] for k in same} == {k: judged[k] for k in same}
    assert caught["links"] and {link["uses"] for link in caught["links"]} == {"client"}
    # The flag matters: inspect without it judges the server links too.
    both = run_cli("inspect", str(files["public"]), str(files["public-chain"]), *common)
    [everything] = endpoints_of(both.stdout)
    assert {link["uses"] for link in everything["links"]} == {"client", "server"}


# --- clients that misbehave ----------------------------------------------------------------


def _raw_client(port: int, payload: bytes, hold: float) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if payload:
            sock.sendall(payload)
        time.sleep(hold)


def test_garbage_and_stalling_clients_are_endpoints_with_a_status() -> None:
    timeout = 1.0
    with ListenProcess(["--timeout", str(timeout), "--max-clients", "3", "-f", "json"]) as listen:
        started = time.monotonic()
        clients = [
            threading.Thread(target=_raw_client, args=(listen.port, b"GET / HTTP/1.0\r\n\r\n", 0.5)),
            threading.Thread(target=_raw_client, args=(listen.port, b"", 4.0)),  # says nothing
            threading.Thread(target=_raw_client, args=(listen.port, b"\x16\x03\x01\x02\x00\x01", 4.0)),
        ]
        for client in clients:
            client.start()
        listen.wait_clients(3, seconds=10)
        caught = time.monotonic() - started
        code, out = listen.finish()
        for client in clients:
            client.join()
    assert code == 0
    assert caught < timeout + 2.5  # the stalled ones cost their timeout, not the clients' 4 s
    by_error = {e["error"]: e for e in endpoints_of(out)}
    assert by_error.keys() == {
        "not TLS; the client sent 'GET / HTTP/1.0\\r\\n\\r\\n'",
        "no ClientHello within 1s",
        "the handshake did not finish within 1s",
    }
    statuses = sorted(e["status"] for e in by_error.values())
    assert statuses == ["no-tls", "timeout", "timeout"]
    assert all(e["direction"] == "inbound" and e["verdict"] == "unknown" for e in by_error.values())


@pytest.mark.slow
def test_two_hundred_clients_at_once_are_all_recorded(pki: LabPKI) -> None:
    leaf, chain = pki.leaf("expc", LeafKind.PRIVATE_BOTH)
    count = 200
    start = threading.Barrier(count)
    failures: list[BaseException] = []

    def client() -> None:
        try:
            start.wait(30)
            pyopenssl_client(listen.port, leaf, chain, timeout=40)
        except BaseException as exc:  # reported below: a thread's exception would be lost
            failures.append(exc)

    began = time.monotonic()
    with ListenProcess(["--max-clients", str(count), "--duration", "90", "-f", "jsonl"]) as listen:
        threads = [threading.Thread(target=client) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        code, out = listen.finish(seconds=60)
    elapsed = time.monotonic() - began
    assert not failures, failures[:3]
    endpoints = endpoints_of(out)
    assert len(endpoints) == count
    assert {e["status"] for e in endpoints} == {"ok"}
    assert len({e["port"] for e in endpoints}) == count  # one endpoint per connection
    assert code == 0
    assert elapsed < 80, elapsed


# --- signals, streaming, bad arguments -----------------------------------------------------


def test_ctrl_c_writes_what_was_caught(pki: LabPKI, tmp_path: Path) -> None:
    leaf, chain = pki.leaf("expc", LeafKind.PRIVATE_BOTH)
    output = tmp_path / "caught.json"
    with ListenProcess(["--duration", "120", "-o", str(output)]) as listen:
        pyopenssl_client(listen.port, leaf, chain)
        listen.wait_clients(1)
        listen.signal(signal.SIGINT)
        code, _ = listen.finish()
    assert code == 130
    [endpoint] = endpoints_of(output.read_text())
    assert endpoint["status"] == "ok" and endpoint["direction"] == "inbound"
    assert any("stopped" in line for line in listen.stderr_lines)


def test_sigterm_after_jsonl_streamed_each_client_as_it_came(pki: LabPKI) -> None:
    leaf, chain = pki.leaf("expc", LeafKind.PRIVATE_BOTH)
    lines: list[str] = []
    with ListenProcess(["--duration", "120", "-f", "jsonl"]) as listen:
        assert listen.process is not None
        for _ in range(2):
            pyopenssl_client(listen.port, leaf, chain)
            lines.append(listen.stdout_line(15))
            assert listen.process.poll() is None  # the line came while the session still runs
        listen.signal(signal.SIGTERM)
        code, rest = listen.finish()
    assert code == 143
    assert len(endpoints_of("".join(lines))) == 2
    assert rest == ""


def test_a_port_in_use_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("listen", "--address", "127.0.0.1", "--port", str(port), "--duration", "1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"ekuscan: error: cannot listen on 127.0.0.1:{port}: the port is in use by another program"
    ]
    assert result.stdout == ""


def test_a_privileged_port_without_privileges_is_a_usage_error() -> None:
    command = [sys.executable, "-m", "scanner", "listen", "--port", "443", "--duration", "1"]
    if os.geteuid() == 0:  # root may bind 443: drop to nobody, without capabilities, to see the refusal
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is not installed")
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
        command += ["--bounding-set=-all", sys.executable, "-m", "scanner", "listen", "--port", "443"]
        command += ["--duration", "1"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "ekuscan: error: cannot listen on 127.0.0.1:443: port 443 needs privileges (root or "
        "CAP_NET_BIND_SERVICE); use a port above 1023, e.g. --port 5061"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cert", "{private}"], "--cert and --key go together"),
        (["--cert", "{private}", "--key", "{public-key}"], "--cert/--key: the key does not match"),
        (["--cert", "{public-key}", "--key", "{public-key}"], "--cert: "),
        (["--role", "server"], "--role server: a plain TLS server has no client links"),
        (["--ca-names", "{public-key}"], "--ca-names: "),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(files: dict[str, Path], args: list[str], message: str) -> None:
    given = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    result = run_cli("listen", "--port", "0", "--duration", "1", *given)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"ekuscan: error: {message}"), line


def test_ca_names_are_named_in_the_certificate_request(files: dict[str, Path]) -> None:
    """Without --ca-names the request names no CA (a client presents what it has); with it, those."""
    seen: dict[str, list[str]] = {}
    for name, args in (("none", []), ("root", ["--ca-names", str(files["root"])])):
        with ListenProcess([*args, "--max-clients", "2", "-f", "json"]) as listen:
            seen[name] = [_ca_names_seen(listen.port, v) for v in (SSL.TLS1_2_VERSION, SSL.TLS1_3_VERSION)]
            listen.finish()
    assert seen == {
        "none": ["", ""],
        "root": ["CN=EKUSCAN LAB Public Root R1,O=EKUSCAN LAB Public Trust,C=ZZ"] * 2,
    }


def _ca_names_seen(port: int, tls_max: int) -> str:
    """The CA names of the listener's certificate request, as a pyOpenSSL client sees them."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        conn = SSL.Connection(client_context(tls_max=tls_max), sock)
        conn.set_connect_state()
        blocking(sock, conn.do_handshake, 10)
        listed = conn.get_client_ca_list()
        conn.shutdown()
    return ";".join(
        ",".join(f"{k.decode()}={v.decode()}" for k, v in reversed(name.get_components())) for name in listed
    )


def test_a_listen_session_is_recorded_as_a_run_of_kind_listen(pki: LabPKI, tmp_path: Path) -> None:
    from scanner.store import RunKind, RunStatus, open_store

    leaf, chain = pki.leaf("expc", LeafKind.PRIVATE_BOTH)
    db = tmp_path / "history.sqlite"
    with ListenProcess(["--db", str(db), "--scanner", "jump1", "--max-clients", "1", "-f", "json"]) as listen:
        pyopenssl_client(listen.port, leaf, chain)
        code, out = listen.finish()
    assert code == 0
    assert any("run-recorded" in line and "endpoints=1" in line for line in listen.stderr_lines)
    with open_store(str(db)) as store:
        [run] = store.runs()
        assert (run.kind, run.status, run.scanner, run.endpoints) == (
            RunKind.LISTEN,
            RunStatus.COMPLETE,
            "jump1",
            1,
        )
        [document] = store.endpoint_documents(run.id)
    [written] = endpoints_of(out)
    assert document == written  # the record is the JSON document, direction and all
    assert document["direction"] == "inbound"


def test_ekuscans_own_probe_as_the_client() -> None:
    """``ekuscan scan`` dials a listener on the SIP port: both ends are ekuscan. The scan sees the
    generated certificate and the listener's SIP banner; the listener sees a client that asked
    nothing of it but OPTIONS, presented no certificate (until ``scan --client-cert``), and said
    who it is. (The probe presenting ``--client-cert`` is added where issue 11's parts merge.)"""
    from tests.addresses import LISTEN_HOST

    with ListenProcess(
        ["--sip", "--max-clients", "1", "-f", "json"], address=LISTEN_HOST, port=5061
    ) as listen:
        scanned = run_cli("scan", f"{LISTEN_HOST}:5061", "-f", "json", "--timeout", "5")
        code, out = listen.finish()
    assert code == 0
    [scan_side] = endpoints_of(scanned.stdout)
    assert scan_side["direction"] == "outbound"
    assert scan_side["sip_server"] == "ekuscan-listen"
    assert scan_side["client_cert_requested"] is True and scan_side["client_ca_names"] == []
    assert scan_side["chain"][0]["subject"].startswith("CN=ekuscan-listen.invalid")
    [listen_side] = endpoints_of(out)
    assert (listen_side["status"], listen_side["sip_server"]) == ("no-certificate", "ekuscan")
    assert listen_side["ip"].startswith("127.")  # the kernel's source address for loopback: 127.0.0.1


def test_ekuscans_own_probe_presents_its_client_cert_to_the_listener(identities, tmp_path) -> None:
    """Both parts of issue 11 at once: ``scan --client-cert`` presents a candidate to ``listen``.
    The listener catches exactly that certificate and judges it as a client certificate; the
    scan reports that the server (which asks and accepts anything) accepted it."""
    from tests.addresses import LISTEN_HOST

    leaf, chain = identities["private"]
    cert = write_pem(tmp_path / "candidate.pem", leaf)
    key = write_pem(tmp_path / "candidate.key", leaf, key=True)
    issuers = write_pem(tmp_path / "chain.pem", *chain)
    with ListenProcess(
        ["--sip", "--max-clients", "1", "-f", "json"], address=LISTEN_HOST, port=5061
    ) as listen:
        scanned = run_cli(
            "scan",
            f"{LISTEN_HOST}:5061",
            "-f",
            "json",
            "--timeout",
            "5",
            "--client-cert",
            str(cert),
            "--client-key",
            str(key),
            "--client-chain",
            str(issuers),
        )
        code, out = listen.finish()
    assert code == 0
    [scan_side] = endpoints_of(scanned.stdout)
    test = scan_side["client_auth_test"]
    assert test["outcome"] == "accepted" and test["alert"] is None
    [listen_side] = endpoints_of(out)
    assert listen_side["status"] == "ok" and listen_side["direction"] == "inbound"
    assert listen_side["chain"][0]["sha256"] == test["certificate"]
    assert len(listen_side["chain"]) == 1 + len(chain)  # the chain came along with the leaf
    assert key.read_bytes() not in (scanned.stdout + out).encode()
