"""Servers that send their leaf alone, a wrong intermediate, or the whole chain, scanned and inspected
through the CLI: completion from the packaged set, --intermediates, --fetch-issuers, SCT inference.

The real leaves (tests/data/realcerts) are served by ``chainserver``, which presents a chain
without its key; generated leaves by the lab's pyOpenSSL servers. Issuers are published by an
HTTP server on loopback. Nothing here talks to anything but loopback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scanner.core.certs import split_certificates
from scanner.edge.files import packaged_intermediates
from scanner.lab import CLIENT_AUTH, SERVER_AUTH, Behaviour, Issued, LabPKI, issue
from scanner.store import open_store
from tests.addresses import ISSUERS
from tests.chainserver import background_servers, chain_only_handler
from tests.conftest import REALCERTS
from tests.issuerserver import issuer_server
from tests.netutil import context_for, tls_handler
from tests.test_cli import ekuscan, one_line_error

LE_LEAF = REALCERTS / "letsencrypt-org-leaf.pem"
FEB_2026 = "2026-02-01"  # the real leaves are valid then (and Let's Encrypt's cut-off is after it)
E7 = "CN=E7,O=Let's Encrypt,C=US"


def der_of(path: Path) -> bytes:
    (der,) = split_certificates(path.read_bytes())
    return der


def packaged(subject_part: bytes) -> bytes:
    return next(der for der in packaged_intermediates() if subject_part in der)


def endpoint_json(*args: str) -> dict:
    result = ekuscan(*args, "-f", "json")
    assert result.returncode in (0, 1), result.stderr
    (endpoint,) = json.loads(result.stdout)["endpoints"]
    return endpoint


def codes(endpoint: dict) -> set[str]:
    return {f["code"] for f in endpoint["findings"]}


def finding(endpoint: dict, code: str) -> dict:
    return next(f for f in endpoint["findings"] if f["code"] == code)


# --- real leaves, completed from the packaged intermediates -----------------------------------


@pytest.fixture(scope="module")
def real_servers():
    """The real Let's Encrypt leaf alone, with a wrong (real) intermediate, and with its E7."""
    leaf, r11, e7 = der_of(LE_LEAF), der_of(REALCERTS / "letsencrypt-r11.pem"), packaged(b"\x03\x13\x02E7")
    chains = {"alone": [leaf], "wrong": [leaf, r11], "whole": [leaf, e7]}
    with background_servers([chain_only_handler(c) for c in chains.values()]) as ports:
        yield dict(zip(chains, ports, strict=True))


def scan_real(port: int, *extra: str) -> dict:
    return endpoint_json("scan", f"127.0.0.1:{port}", "--role", "expressway-c", "--at", FEB_2026, *extra)


def test_a_public_leaf_served_alone_is_public_names_its_ca_and_gets_its_cutoff(real_servers):
    endpoint = scan_real(real_servers["alone"])
    assert (endpoint["status"], endpoint["trust"], endpoint["trust_basis"]) == ("ok", "public", "completed")
    assert len(endpoint["chain"]) == 1
    assert [(a["subject"], a["source"], a["url"]) for a in endpoint["chain_added"]] == [
        (E7, "packaged", None)
    ]
    sunset = finding(endpoint, "CLIENTAUTH_SUNSET")
    assert (sunset["details"]["ca"], sunset["details"]["clientauth_cutoff"]) == (
        "Let's Encrypt",
        "2026-02-11",
    )
    assert endpoint["verdict"] == "at-risk"
    assert (
        "was not sent. The chain was completed with " + E7 in finding(endpoint, "CHAIN_INCOMPLETE")["message"]
    )


def test_inspect_judges_the_same_leaf_file_the_same_way(real_servers):
    scanned = scan_real(real_servers["alone"])
    inspected = endpoint_json("inspect", str(LE_LEAF), "--role", "expressway-c", "--at", FEB_2026)
    for key in ("trust", "trust_anchor", "trust_basis", "chain_added", "verdict", "breaks_on"):
        assert inspected[key] == scanned[key], key
    assert codes(inspected) == codes(scanned)


def test_a_wrong_intermediate_is_passed_over_and_the_chain_completed(real_servers):
    endpoint = scan_real(real_servers["wrong"])
    assert len(endpoint["chain"]) == 2 and endpoint["trust_basis"] == "completed"
    assert [a["subject"] for a in endpoint["chain_added"]] == [E7]
    assert endpoint["verdict"] == "at-risk"


def test_the_full_chain_needs_no_completion(real_servers):
    endpoint = scan_real(real_servers["whole"])
    assert (endpoint["trust"], endpoint["trust_basis"], endpoint["chain_added"]) == (
        "public",
        "presented",
        [],
    )
    assert "CHAIN_INCOMPLETE" not in codes(endpoint) and "CLIENTAUTH_SUNSET" in codes(endpoint)


def test_a_real_serverauth_only_leaf_alone_breaks_client_links():
    with background_servers([chain_only_handler([der_of(REALCERTS / "sectigo-com-leaf.pem")])]) as (port,):
        endpoint = scan_real(port)
    assert (endpoint["trust"], endpoint["trust_basis"]) == ("public", "completed")
    assert endpoint["chain_added"][0]["subject"].startswith(
        "CN=Sectigo Public Server Authentication CA OV R36"
    )
    assert "EKU_NO_CLIENTAUTH" in codes(endpoint) and endpoint["verdict"] == "breaks"


def test_a_real_leaf_whose_issuer_cannot_be_had_is_public_by_its_scts():
    leaf = REALCERTS / "badssl-invalid-expected-sct-leaf.pem"
    args = ("--role", "expressway-c", "--at", "2017-06-01")
    with background_servers([chain_only_handler([der_of(leaf)])]) as (port,):
        scanned = endpoint_json("scan", f"127.0.0.1:{port}", *args)
    inspected = endpoint_json("inspect", str(leaf), *args)
    for endpoint in (scanned, inspected):
        assert (endpoint["trust"], endpoint["trust_basis"], endpoint["trust_anchor"]) == (
            "public",
            "inferred",
            None,
        )
        sunset = finding(endpoint, "CLIENTAUTH_SUNSET")
        assert (sunset["details"]["ca"], sunset["details"]["trust_basis"]) == ("DigiCert", "inferred")
        assert "the anchor inferred, not verified" in finding(endpoint, "CHAIN_INCOMPLETE")["message"]


# --- generated leaves: --intermediates and --fetch-issuers --------------------------------------


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime.now(UTC))


def leaf_under(pki: LabPKI, ca: Issued, cn: str, aia: str | None = None) -> Issued:
    """A serverAuth+clientAuth leaf under one of the lab's public CAs, naming ``aia`` as its issuer URL."""
    return issue(
        cn,
        "Example Corp",
        issuer=ca,
        not_before=pki.now - timedelta(days=30),
        not_after=pki.now + timedelta(days=90),
        ca=False,
        eku=[SERVER_AUTH, CLIENT_AUTH],
        dns_names=[cn],
        ca_issuers=[aia] if aia else [],
    )


@pytest.fixture
def files(pki, tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(pki.public_root.pem)
    intermediates = tmp_path / "intermediates.pem"
    intermediates.write_bytes(b"".join(ca.pem for ca in pki.public_intermediates))
    return root, intermediates


def serve_alone(pki: LabPKI, *leaves: Issued, hosts: tuple[str, ...] = ()):
    """pyOpenSSL servers (the lab's) that send each leaf without its intermediate."""
    return background_servers(
        [tls_handler(context_for(pki, leaf, ()), Behaviour.TLS) for leaf in leaves], hosts
    )


def test_the_users_intermediates_complete_a_leaf_sent_alone(pki, files):
    root, intermediates = files
    with serve_alone(pki, leaf_under(pki, pki.public_ca, "alone.lab.ekuscan.test")) as (port,):
        target = f"127.0.0.1:{port}"
        without = endpoint_json("scan", target, "--role", "expressway-c", "--public-roots", str(root))
        completed = endpoint_json(
            "scan",
            target,
            "--role",
            "expressway-c",
            "--public-roots",
            str(root),
            "--intermediates",
            str(intermediates),
        )
    assert (without["trust"], without["trust_basis"], without["verdict"]) == ("private", "presented", "ok")
    assert (completed["trust"], completed["trust_basis"], completed["verdict"]) == (
        "public",
        "completed",
        "at-risk",
    )
    assert [a["source"] for a in completed["chain_added"]] == ["user"]
    sunset = finding(completed, "CLIENTAUTH_SUNSET")
    assert sunset["details"]["cutoff_is_chrome_backstop"] == "true"  # a CA the policy does not name


def test_a_leaf_alone_under_a_serverauth_only_intermediate_is_chain_eku_no_clientauth(pki, files):
    root, intermediates = files
    with serve_alone(pki, leaf_under(pki, pki.public_geny_ca, "geny-alone.lab.ekuscan.test")) as (port,):
        endpoint = endpoint_json(
            "scan",
            f"127.0.0.1:{port}",
            "--role",
            "expressway-c",
            "--public-roots",
            str(root),
            "--intermediates",
            str(intermediates),
        )
    hit = finding(endpoint, "CHAIN_EKU_NO_CLIENTAUTH")
    assert hit["cert_sha256"] == endpoint["chain_added"][0]["sha256"]
    assert endpoint["verdict"] == "breaks"


def test_issuers_are_fetched_only_when_asked_once_per_url_and_kept_in_the_history(pki, files, tmp_path):
    root, _ = files
    with issuer_server() as http:
        url = http.publish("/ca.crt", pki.public_ca.der)
        leaf = leaf_under(pki, pki.public_ca, "fetch.lab.ekuscan.test", aia=url)
        with serve_alone(pki, leaf) as (port,):
            base = ("scan", f"127.0.0.1:{port}", "--role", "expressway-c", "--public-roots", str(root))
            silent = endpoint_json(*base)
            assert http.asked == {}  # never by default: no traffic but the probe
            assert finding(silent, "CHAIN_INCOMPLETE")["message"].endswith(
                f"its certificate is published at {url}"
            )
            db = str(tmp_path / "history.sqlite")
            first = endpoint_json(*base, "--fetch-issuers", "--db", db, "-q")
            second = endpoint_json(*base, "--fetch-issuers", "--db", db, "-q")
    assert http.asked["/ca.crt"] == 1  # the second run took it from the history store
    for endpoint in (first, second):
        assert (endpoint["trust"], endpoint["trust_basis"]) == ("public", "completed")
        assert [(a["source"], a["url"]) for a in endpoint["chain_added"]] == [("fetched", url)]
    with open_store(db) as store:
        (stored,) = store.fetched_issuers("2000-01-01T00:00:00Z")
    assert stored[0] == url


def test_worker_processes_share_one_fetch_per_url(pki, files):
    root, _ = files
    hosts = (str(ISSUERS[1]), str(ISSUERS[2]))
    with issuer_server() as http:
        url = http.publish("/ca.crt", pki.public_ca.der, delay=0.2)
        leaves = [leaf_under(pki, pki.public_ca, f"w{n}.lab.ekuscan.test", aia=url) for n in (1, 2)]
        with serve_alone(pki, *leaves, hosts=hosts) as ports:
            targets = [f"{h}:{p}" for h, p in zip(hosts, ports, strict=True)]
            result = ekuscan(
                "scan", *targets, "--role", "expressway-c", "--public-roots", str(root),
                "--fetch-issuers", "--workers", "2", "-f", "json",
            )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    endpoints = json.loads(result.stdout)["endpoints"]
    assert [e["trust_basis"] for e in endpoints] == ["completed", "completed"]
    assert http.asked["/ca.crt"] == 1
    assert result.stderr.count("issuer-fetched") == 1


def test_inspect_fetches_issuers_when_asked(pki, files, tmp_path):
    root, _ = files
    with issuer_server() as http:
        url = http.publish("/ca.p7c", pki.public_ca.der, chunked=True)
        pem = tmp_path / "leaf.pem"
        pem.write_bytes(leaf_under(pki, pki.public_ca, "inspect.lab.ekuscan.test", aia=url).pem)
        plain = endpoint_json("inspect", str(pem), "--public-roots", str(root))
        fetched = endpoint_json("inspect", str(pem), "--public-roots", str(root), "--fetch-issuers")
    assert plain["trust_basis"] == "presented" and fetched["trust_basis"] == "completed"
    assert http.asked["/ca.p7c"] == 1


@pytest.mark.parametrize("command", ["scan", "inspect"])
def test_a_bad_intermediates_file_is_one_line_and_exit_2(command, tmp_path):
    target = ["127.0.0.1:9"] if command == "scan" else [str(LE_LEAF)]
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("these are not certificates\n")
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    for path, says in (
        (tmp_path / "missing.pem", "cannot read"),
        (not_pem, "holds no PEM certificate"),
        (broken, "could be parsed"),
    ):
        message = one_line_error(ekuscan(command, *target, "--intermediates", str(path)))
        assert "--intermediates" in message and says in message and str(path) in message
