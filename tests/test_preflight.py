"""The preflight (``scan --client-cert``) against real servers that verify client certificates.

Debian's ``openssl s_server`` and the lab's pyOpenSSL servers, TLS 1.2 and 1.3, trusting one lab
CA, are scanned by the real CLI with a candidate certificate: a good one is accepted, a
serverAuth-only one rejected with unsupported_certificate, one from another CA with unknown_ca,
an expired one with certificate_expired; a server that asks but does not verify accepts
anything, and one that never asks gets nothing. Then the bad inputs (exit 2, one line), and the
key, which appears in no output and no database.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from scanner.lab import CLIENT_AUTH, SERVER_AUTH, Behaviour, Issued, issue, verifying_context
from tests.addresses import PREFLIGHT
from tests.netutil import serve, tls_handler

OPENSSL = shutil.which("openssl")
DAY = timedelta(days=1)
E_TRAVERSAL = str(PREFLIGHT[1])  # an Expressway-E's traversal server zone on 7001


@dataclass(frozen=True)
class Candidate:
    cert: Path
    key: Path
    issued: Issued


@dataclass(frozen=True)
class PreflightPKI:
    ca: Issued  # the one CA the verifying servers trust
    other_ca: Issued
    server: Issued
    files: Path
    candidates: dict[str, Candidate]


def _key_pem(issued: Issued, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return issued.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PreflightPKI:
    now = datetime.now(UTC)
    files = tmp_path_factory.mktemp("preflight")

    def root(cn: str) -> Issued:
        return issue(
            cn,
            "Preflight Lab",
            issuer=None,
            not_before=now - DAY,
            not_after=now + 90 * DAY,
            ca=True,
            eku=None,
        )

    ca, other_ca = root("Preflight Lab CA"), root("Another Lab CA")

    def leaf(
        cn: str, issuer: Issued, eku: list, start: datetime = now - DAY, end: datetime = now + 30 * DAY
    ) -> Issued:
        return issue(
            cn,
            "Example Corp",
            issuer=issuer,
            not_before=start,
            not_after=end,
            ca=False,
            eku=eku,
            dns_names=[cn],
        )

    server = leaf("expe.preflight.test", ca, [SERVER_AUTH])
    issued = {
        "good": leaf("expc.preflight.test", ca, [SERVER_AUTH, CLIENT_AUTH]),
        "server-only": leaf("expc-renewed.preflight.test", ca, [SERVER_AUTH]),
        "other-ca": leaf("expc-other.preflight.test", other_ca, [SERVER_AUTH, CLIENT_AUTH]),
        "expired": leaf("expc-old.preflight.test", ca, [SERVER_AUTH, CLIENT_AUTH], now - 60 * DAY, now - DAY),
    }
    candidates = {}
    for name, cert in issued.items():
        (files / f"{name}.pem").write_bytes(cert.pem)
        (files / f"{name}.key").write_bytes(_key_pem(cert))
        candidates[name] = Candidate(files / f"{name}.pem", files / f"{name}.key", cert)
    for name, cert in (("ca", ca), ("server", server)):
        (files / f"{name}.pem").write_bytes(cert.pem)
    (files / "server.key").write_bytes(_key_pem(server))
    return PreflightPKI(ca, other_ca, server, files, candidates)


# --- the servers --------------------------------------------------------------------------------


def _s_server(pki: PreflightPKI, version: str, verify: bool) -> tuple[subprocess.Popen[str], int]:
    """Debian's openssl s_server on loopback, serving until killed. ``verify``: -Verify 1 with
    -verify_return_error (a verification error ends the handshake); else -verify 1, which asks
    for a certificate and, as s_server does without -verify_return_error, accepts whatever comes."""
    assert OPENSSL is not None
    command = [OPENSSL, "s_server", "-accept", "127.0.0.1:0", f"-{version}"]
    command += ["-cert", str(pki.files / "server.pem"), "-key", str(pki.files / "server.key")]
    command += ["-CAfile", str(pki.files / "ca.pem")]
    command += ["-Verify", "1", "-verify_return_error"] if verify else ["-verify", "1"]
    server = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert server.stdout is not None
    while line := server.stdout.readline():  # "ACCEPT 127.0.0.1:40123" once it listens
        if line.startswith("ACCEPT"):
            # What it prints about each connection is read away, so that a full pipe never stops it.
            threading.Thread(target=server.stdout.read, daemon=True).start()
            return server, int(line.rsplit(":", 1)[1])
    raise AssertionError("s_server did not start")


@dataclass(frozen=True)
class Servers:
    """Each server's target, by what it is."""

    targets: dict[str, str]


@pytest.fixture(scope="module")
def servers(pki: PreflightPKI) -> Iterator[Servers]:
    if OPENSSL is None:
        pytest.skip("openssl is not installed")
    started = []
    targets: dict[str, str] = {}
    for version in ("tls1_2", "tls1_3"):
        for verify in (True, False):
            process, port = _s_server(pki, version, verify)
            started.append(process)
            targets[f"s_server {version} {'verifying' if verify else 'not verifying'}"] = f"127.0.0.1:{port}"
    contexts = {
        "lab tls1_2 verifying": (verifying_context(pki.server, pki.ca, SSL.TLS1_2_VERSION), None),
        "lab tls1_3 verifying": (
            verifying_context(pki.server, pki.ca, SSL.TLS1_3_VERSION),
            (E_TRAVERSAL, 7001),
        ),
        "lab tls1_3 not verifying": (verifying_context(pki.server, None, SSL.TLS1_3_VERSION), None),
        "lab never asks": (_plain_context(pki.server), None),
    }
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def main() -> None:
        with trio.CancelScope() as scope:
            holder["scope"], holder["token"] = scope, trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                for name, (context, fixed) in contexts.items():
                    host, port = fixed or ("127.0.0.1", 0)
                    port = await serve(nursery, tls_handler(context, Behaviour.TLS), host=host, port=port)
                    targets[name] = f"{host}:{port}"
                ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    assert ready.wait(30), "the lab servers did not start"
    try:
        yield Servers(targets)
    finally:
        token, scope = holder["token"], holder["scope"]
        assert isinstance(token, trio.lowlevel.TrioToken) and isinstance(scope, trio.CancelScope)
        token.run_sync_soon(scope.cancel)
        thread.join(10)
        for process in started:
            process.kill()
            process.wait(10)
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()


def _plain_context(leaf: Issued) -> SSL.Context:
    tls_context = SSL.Context(SSL.TLS_METHOD)
    tls_context.use_certificate(leaf.cert)
    tls_context.use_privatekey(leaf.key)
    return tls_context


def ekuscan(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def preflight(servers: Servers, candidate: Candidate, *extra: str) -> dict[str, dict]:
    """Scan every server presenting ``candidate``; each endpoint's JSON by server name."""
    result = ekuscan(
        "scan",
        *servers.targets.values(),
        "--client-cert",
        str(candidate.cert),
        "--client-key",
        str(candidate.key),
        "--timeout",
        "3",
        "-f",
        "json",
        *extra,
    )
    assert result.returncode in (0, 1), result.stderr
    by_target = {f"{e['ip']}:{e['port']}": e for e in json.loads(result.stdout)["endpoints"]}
    return {name: by_target[target] for name, target in servers.targets.items()}


VERIFYING = (
    "s_server tls1_2 verifying",
    "s_server tls1_3 verifying",
    "lab tls1_2 verifying",
    "lab tls1_3 verifying",
)
NOT_VERIFYING = ("s_server tls1_2 not verifying", "s_server tls1_3 not verifying", "lab tls1_3 not verifying")


# --- what the servers did -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("candidate", "outcome", "alert", "predicted"),
    [
        pytest.param("good", "accepted", None, "ok", id="good"),
        pytest.param("server-only", "rejected", "unsupported_certificate", "breaks", id="serverAuth-only"),
        pytest.param("other-ca", "rejected", "unknown_ca", "ok", id="another-CA"),
        pytest.param("expired", "rejected", "certificate_expired", "breaks", id="expired"),
    ],
)
def test_verifying_servers_answer_as_openssl_maps_the_verify_error(
    pki, servers, candidate, outcome, alert, predicted
):
    endpoints = preflight(servers, pki.candidates[candidate])
    sha256 = hashlib.sha256(pki.candidates[candidate].issued.der).hexdigest().upper()
    assert endpoints["lab never asks"]["client_auth_test"]["certificate"] == sha256
    for name in VERIFYING:
        test = endpoints[name]["client_auth_test"]
        assert (test["outcome"], test["alert"]) == (outcome, alert), (name, test)
        assert test["certificate"] == sha256 and test["meaning"], name
        observed = [link["observed"] for link in endpoints[name]["links"] if link["uses"] == "server"]
        assert observed and all(
            o == {"outcome": outcome, "alert": alert, "predicted": predicted, "contradicts": o["contradicts"]}
            for o in observed
        ), name
        codes = {f["code"] for f in endpoints[name]["findings"]}
        assert ("CLIENT_CERT_REJECTED" in codes) is (outcome == "rejected"), name
        # Predicted to work but rejected (by the issuer, which no prediction can know): a contradiction.
        contradicts = (outcome == "rejected") == (predicted == "ok")
        assert ("CLIENT_AUTH_OBSERVATION_CONTRADICTS" in codes) is (contradicts and outcome == "rejected"), (
            name
        )
    # A server that asks but does not verify takes anything, and that is what is reported.
    for name in NOT_VERIFYING:
        test = endpoints[name]["client_auth_test"]
        assert (test["outcome"], test["alert"]) == ("accepted", None), (name, test)
        codes = {f["code"] for f in endpoints[name]["findings"]}
        assert ("CLIENT_AUTH_OBSERVATION_CONTRADICTS" in codes) is (predicted == "breaks"), name
    never = endpoints["lab never asks"]
    assert never["client_auth_test"]["outcome"] == "not-requested"
    assert never["client_auth_test"]["alert"] is None
    assert all(link["observed"] is None for link in never["links"])


def test_the_alert_meanings_are_the_policys(pki, servers):
    endpoints = preflight(servers, pki.candidates["server-only"])
    policy = json.loads(ekuscan("policy", "show").stdout)
    meanings = policy["client_cert_alerts"]["alerts"]
    test = endpoints["lab tls1_2 verifying"]["client_auth_test"]
    assert test["meaning"] == meanings["unsupported_certificate"]
    assert "purpose" in test["meaning"] and "statem_lib.c" in policy["client_cert_alerts"]["source"]


def test_the_traversal_link_shows_the_observation_in_table_and_html(pki, servers, tmp_path):
    target = servers.targets["lab tls1_3 verifying"]
    candidate = pki.candidates["server-only"]
    common = [
        "scan",
        target,
        "--role",
        "expressway-e",
        "--client-cert",
        str(candidate.cert),
        "--client-key",
        str(candidate.key),
    ]
    result = ekuscan(*common, "-f", "json")
    (endpoint,) = json.loads(result.stdout)["endpoints"]
    traversal = next(link for link in endpoint["links"] if link["name"] == "traversal-server")
    assert traversal["observed"]["outcome"] == "rejected"
    assert traversal["observed"]["alert"] == "unsupported_certificate"
    table = " ".join(ekuscan(*common, "-f", "table").stdout.split())  # one line, however it wraps
    assert "client certificate on 7001: rejected (unsupported_certificate)" in table
    assert "predicted for it: breaks" in table
    html = tmp_path / "report.html"
    assert ekuscan(*common, "-o", str(html)).returncode in (0, 1)
    assert "rejected (unsupported_certificate)" in html.read_text()


def test_workers_present_the_candidate_too(pki, servers):
    # Two hosts (127.0.0.1 and the traversal address), two processes: each presents the candidate.
    endpoints = preflight(servers, pki.candidates["good"], "--workers", "2")
    assert endpoints["lab tls1_3 verifying"]["client_auth_test"]["outcome"] == "accepted"
    assert endpoints["s_server tls1_2 verifying"]["client_auth_test"]["outcome"] == "accepted"


def test_an_accepting_tls13_server_is_known_by_its_session_ticket(pki, servers):
    # Without the ticket the probe would wait out its bounded read (a second) for an alert that
    # never comes; the ticket, sent once the server took our Finished, ends the wait at once.
    endpoints = preflight(servers, pki.candidates["good"])
    for name in ("s_server tls1_3 verifying", "lab tls1_3 not verifying"):  # 7001 waits for SIP
        assert endpoints[name]["client_auth_test"]["outcome"] == "accepted"
        assert endpoints[name]["tls_version"] == "TLSv1.3"
        assert endpoints[name]["duration_ms"] < 900, endpoints[name]["duration_ms"]


def test_without_client_cert_there_is_no_test(servers):
    result = ekuscan("scan", servers.targets["lab tls1_2 verifying"], "-f", "json", "--timeout", "3")
    (endpoint,) = json.loads(result.stdout)["endpoints"]
    assert endpoint["client_auth_test"] is None
    assert all(link["observed"] is None for link in endpoint["links"])


# --- the key stays secret -----------------------------------------------------------------------


def test_the_key_is_in_no_output_and_not_in_the_database(pki, servers, tmp_path):
    candidate = pki.candidates["good"]
    db = tmp_path / "history.sqlite"
    outputs = {fmt: tmp_path / f"inventory.{fmt}" for fmt in ("json", "jsonl", "csv", "html", "prom")}
    streams = []
    for path in outputs.values():
        result = ekuscan(
            *("scan", *servers.targets.values(), "--timeout", "3", "-o", str(path)),
            *("--client-cert", str(candidate.cert), "--client-key", str(candidate.key)),
            *("--db", str(db), "--scanner-name", "preflight"),
        )
        assert result.returncode in (0, 1), result.stderr
        streams += [result.stdout, result.stderr]
    table = ekuscan(
        "scan",
        *servers.targets.values(),
        "--client-cert",
        str(candidate.cert),
        "--client-key",
        str(candidate.key),
        "-f",
        "table",
    )
    streams += [table.stdout, table.stderr]
    key_pem = candidate.key.read_bytes()
    secrets = [key_pem, *(line for line in key_pem.splitlines() if b"-----" not in line)]
    private = candidate.issued.key.private_numbers().private_value
    secrets.append(private.to_bytes(32, "big"))
    secrets.append(format(private, "x").encode())
    for blob in [
        *(p.read_bytes() for p in outputs.values()),
        db.read_bytes(),
        *(s.encode() for s in streams),
    ]:
        for secret in secrets:
            assert secret not in blob
    sha256 = json.loads(outputs["json"].read_text())["endpoints"][0]["client_auth_test"]["certificate"]
    with sqlite3.connect(db) as connection:
        documents = " ".join(str(row) for row in connection.execute("select * from observations"))
    assert sha256 in documents, "the history records the candidate's SHA-256"


# --- bad input: exit 2, one line -----------------------------------------------------------------


def test_a_key_that_is_not_the_certificates(pki, tmp_path):
    good, other = pki.candidates["good"], pki.candidates["other-ca"]
    line = one_line_error(
        ekuscan("scan", "127.0.0.1:1", "--client-cert", str(good.cert), "--client-key", str(other.key))
    )
    assert "--client-key" in line and "not the private key" in line


def test_an_encrypted_key_needs_its_passphrase(pki, tmp_path):
    good = pki.candidates["good"]
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(_key_pem(good.issued, b"s3cret passphrase"))
    base = [
        "scan",
        "127.0.0.1:1",
        "--client-cert",
        str(good.cert),
        "--client-key",
        str(encrypted),
        "--timeout",
        "1",
    ]
    line = one_line_error(ekuscan(*base))  # stdin is not a terminal: no prompt
    assert "encrypted" in line and "--client-key-password-file" in line
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it\n")
    line = one_line_error(ekuscan(*base, "--client-key-password-file", str(wrong)))
    assert "passphrase does not decrypt" in line and "s3cret" not in line
    right = tmp_path / "right.txt"
    right.write_text("s3cret passphrase\n")
    result = ekuscan(*base, "--client-key-password-file", str(right), "-f", "json")
    assert result.returncode in (0, 1), result.stderr
    assert "s3cret" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        pytest.param(
            lambda c, t: ["--client-cert", str(t / "missing.pem"), "--client-key", str(c.key)],
            "cannot read",
            id="missing-cert",
        ),
        pytest.param(
            lambda c, t: ["--client-cert", str(c.key), "--client-key", str(c.key)],
            "is not a PEM certificate",
            id="cert-not-pem",
        ),
        pytest.param(
            lambda c, t: ["--client-cert", str(c.cert), "--client-key", str(c.cert)],
            "is not a PEM private key",
            id="key-not-pem",
        ),
        pytest.param(
            lambda c, t: ["--client-key", str(c.key)],
            "--client-key needs --client-cert",
            id="key-without-cert",
        ),
        pytest.param(
            lambda c, t: ["--client-cert", str(c.cert)],
            "--client-cert needs --client-key",
            id="cert-without-key",
        ),
        pytest.param(
            lambda c, t: [
                "--client-cert",
                str(c.cert),
                "--client-key",
                str(c.key),
                "--client-chain",
                str(c.key),
            ],
            "--client-chain",
            id="chain-not-pem",
        ),
    ],
)
def test_bad_client_cert_input_is_one_line(pki, tmp_path, make, needle):
    args = make(pki.candidates["good"], tmp_path)
    line = one_line_error(ekuscan("scan", "127.0.0.1:1", *args))
    assert needle in line
    assert b"PRIVATE KEY" not in line.encode()


def test_the_rules_are_documented():
    for code in ("CLIENT_AUTH_OBSERVATION_CONTRADICTS", "CLIENT_CERT_REJECTED"):
        result = ekuscan("rules", code)
        assert result.returncode == 0 and "--client-cert" in result.stdout, result.stdout
