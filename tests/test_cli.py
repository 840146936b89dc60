"""The command line as users run it: a real process, real exit codes, real files.

Scans go to the test lab on loopback (tests/conftest.py) and nowhere else.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from scanner.core.rules import ALL_RULES, EVERY_RULE
from scanner.core.targets import parse_csv
from scanner.lab import ESTATE, targets_csv
from scanner.model import Status, Verdict
from tests.addresses import CLI_LAB, CLI_LAB_BASE
from tests.conftest import REALCERTS
from tests.factories import SA, make_chain
from tests.watch import progress_done, start_on_terminal

ENDPOINT_FIELDS = {
    "target",
    "host",
    "ip",
    "port",
    "role",
    "label",
    "sni",
    "status",
    "error",
    "tls_version",
    "cipher",
    "client_cert_requested",
    "client_ca_names",
    "sip_server",
    "http_server",
    "product",
    "software_version",
    "role_source",
    "chain",
    "trust",
    "trust_basis",  # presented | completed | inferred (issue 9)
    "chain_added",  # what completed the chain: [{sha256, subject, source, url}]
    "findings",
    "verdict",
    "breaks_on",
    "links",
}
CHAIN_FIELDS = {
    "subject",
    "issuer",
    "serial",
    "sha256",
    "not_before",
    "not_after",
    "eku",
    "key_usage",
    "is_ca",
    "san",
}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def ekuscan(
    *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def lab_files(lab, tmp_path_factory) -> tuple[Path, Path]:
    """The test lab's targets CSV and public root, as `ekuscan lab --write-targets` writes them."""
    directory = tmp_path_factory.mktemp("lab")
    targets = directory / "targets.csv"
    targets.write_text(targets_csv(lab.services))
    root = directory / "root.pem"
    root.write_bytes(lab.pki.public_root.pem)
    intermediates_for(targets).write_bytes(b"".join(ca.pem for ca in lab.pki.public_intermediates))
    return targets, root


def intermediates_for(targets: Path) -> Path:
    """The lab's public intermediates, beside its targets as `ekuscan lab --write-targets` writes them:
    expc-alone sends its leaf alone, and a scan completes its chain with them."""
    return targets.with_name(targets.stem + "-intermediates.pem")


def lab_scan_args(targets: Path, root: Path) -> list[str]:
    """What a scan of the whole lab is given, as `make demo` gives it: its targets, its public
    root, and its public intermediates (to complete the chain that expc-alone sends short)."""
    return [
        "-i",
        str(targets),
        "--public-roots",
        str(root),
        "--intermediates",
        str(intermediates_for(targets)),
    ]


def lab_target(lab, host: str, port: int) -> str:
    return lab.find(host, port).target


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ekuscan: error: ")
    return lines[0]


# --- exit codes -------------------------------------------------------------------------------


def test_exit_0_when_nothing_breaks(lab, lab_files):
    _, root = lab_files
    result = ekuscan("scan", lab_target(lab, "expc-private", 5061), "--public-roots", str(root), "-f", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["endpoints"][0]["verdict"] == "ok"


def test_exit_1_when_something_breaks(lab, lab_files):
    _, root = lab_files
    result = ekuscan("scan", lab_target(lab, "expe-public", 5061), "--public-roots", str(root), "-f", "json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["endpoints"][0]["verdict"] == "breaks"


@pytest.mark.parametrize(("fail_on", "code"), [("breaks", 0), ("at-risk", 1), ("never", 0)])
def test_fail_on_threshold(lab, lab_files, fail_on, code):
    _, root = lab_files
    target = lab_target(lab, "expc-public", 443)
    result = ekuscan("scan", target, "--public-roots", str(root), "-f", "json", "--fail-on", fail_on)
    assert result.returncode == code, result.stderr
    assert json.loads(result.stdout)["endpoints"][0]["verdict"] == "at-risk"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["scan"], "nothing to scan"),
        (["scan", "10.0.0.1:99999"], "10.0.0.1:99999"),
        (["scan", "not a host"], "not a host"),
        (["scan", "127.0.0.1", "--at", "next tuesday"], "next tuesday"),
        (["scan", "127.0.0.1", "--role", "toaster"], "toaster"),
        (["scan", "127.0.0.1", "-p", "5061,x"], "'x'"),
        (["scan", "-i", "does-not-exist.csv"], "does-not-exist.csv"),
        (["scan", "127.0.0.1", "--public-roots", "nope.pem"], "nope.pem"),
        (["scan", "--no-such-option"], "--no-such-option"),
        (["inspect", "nope.pem"], "nope.pem"),
        (["rules", "NO_SUCH_CODE"], "NO_SUCH_CODE"),
        (["lab", "--base", "192.0.2.1"], "loopback"),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, list) else None,
)
def test_exit_2_usage_errors_are_one_line(args, needle):
    assert needle in one_line_error(ekuscan(*args))


def test_exit_2_names_the_bad_csv_line(tmp_path):
    bad = tmp_path / "targets.csv"
    bad.write_text("# comment\ntarget,ports,role\n127.0.0.1,5061,expressway-c\n127.0.0.2,5061;abc,cucm\n")
    assert f"{bad}:4:" in one_line_error(ekuscan("scan", "-i", str(bad)))


def test_exit_2_for_a_file_without_certificates(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    assert "no certificate found" in one_line_error(ekuscan("inspect", str(junk)))


def test_exit_3_when_the_output_cannot_be_written(lab, tmp_path):
    result = ekuscan(
        "scan", lab_target(lab, "expc-private", 5061), "-o", str(tmp_path / "missing" / "inv.json")
    )
    assert result.returncode == 3
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_exit_130_or_143_when_stopped_with_valid_output(lab, tmp_path, sig, code):
    out = tmp_path / "partial.json"
    targets = [lab_target(lab, "expc-private", 5061), lab_target(lab, "silent", 7001)]
    proc, terminal = start_on_terminal(
        [sys.executable, "-m", "scanner", "scan", *targets, "--timeout", "30", "-o", str(out)]
    )
    try:
        # The progress line says when the healthy endpoint is done; the silent one holds the scan.
        assert progress_done(terminal, 1, 60), terminal.text(0)
        proc.send_signal(sig)
        proc.wait(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == code, terminal.text()
    document = json.loads(out.read_text())
    assert [e["verdict"] for e in document["endpoints"]] == ["ok"]
    assert not list(tmp_path.glob(".partial.json.*"))  # no temporary file left behind


def test_failed_run_leaves_existing_output_untouched(tmp_path):
    out = tmp_path / "inv.json"
    out.write_text("previous inventory\n")
    assert ekuscan("scan", "bad target!", "-o", str(out)).returncode == 2
    assert out.read_text() == "previous inventory\n"


# --- formats ----------------------------------------------------------------------------------


def test_json_follows_the_schema(lab_files, tmp_path):
    targets, root = lab_files
    out = tmp_path / "inv.json"
    result = ekuscan(
        "scan",
        *lab_scan_args(targets, root),
        "-o",
        str(out),
        "--timeout",
        "1.5",
    )
    assert result.returncode == 1, result.stderr
    doc = json.loads(out.read_text())
    assert doc["schema"] == "ekuscan/inventory/1"
    assert {"tool_version", "started_at", "evaluated_at", "endpoints", "hosts", "summary"} <= doc.keys()
    assert ISO.match(doc["started_at"]) and ISO.match(doc["evaluated_at"])
    assert len(doc["endpoints"]) == sum(len(h.services) for h in ESTATE)
    for endpoint in doc["endpoints"]:
        assert ENDPOINT_FIELDS <= endpoint.keys()
        assert endpoint["status"] in {
            "ok",
            "closed",
            "timeout",
            "unreachable",
            "dns-error",
            "no-tls",
            "tls-error",
        }
        for cert in endpoint["chain"]:
            assert CHAIN_FIELDS <= cert.keys()
            assert ISO.match(cert["not_after"])
        for finding in endpoint["findings"]:
            assert finding["severity"] in {"critical", "high", "medium", "low", "info"}
        for link in endpoint["links"]:
            assert {"name", "uses", "verdict"} <= link.keys() and link["uses"] in {"server", "client"}
    for endpoint in doc["endpoints"]:
        assert endpoint["trust_basis"] in {"presented", "completed", "inferred"}
        assert all({"sha256", "subject", "source", "url"} == a.keys() for a in endpoint["chain_added"])
    alone = next(e for e in doc["endpoints"] if e["label"] == "expc-alone")
    assert (alone["trust"], alone["trust_basis"], [a["source"] for a in alone["chain_added"]]) == (
        "public",
        "completed",
        ["user"],
    )
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert len(hosts) == len(ESTATE)
    assert doc["summary"]["hosts_by_verdict"] == expected_host_verdicts()


def expected_host_verdicts() -> dict[str, int]:
    """The lab's host verdicts, from what each service is designed to show (and the estate, for a
    pair that breaks together)."""
    counts = Counter(h.expected_verdict.value for h in ESTATE)
    return {v.value: counts[v.value] for v in Verdict}


def test_jsonl_streams_one_endpoint_per_line(lab, lab_files):
    _, root = lab_files
    targets = [lab_target(lab, "expe-public", p) for p in (5061, 7001)]
    result = ekuscan("scan", *targets, "--public-roots", str(root), "-f", "jsonl")
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        record = json.loads(line)
        assert record["schema"] == "ekuscan/inventory/1" and ENDPOINT_FIELDS <= record.keys()


def test_csv_has_a_row_per_endpoint(lab, lab_files):
    _, root = lab_files
    result = ekuscan(
        "scan",
        lab_target(lab, "expc-public", 5061),
        lab_target(lab, "plaintext", 5061),
        "--public-roots",
        str(root),
        "-f",
        "csv",
    )
    rows = sorted(  # streamed: any order
        csv.DictReader(io.StringIO(result.stdout)), key=lambda r: ipaddress.ip_address(r["host"])
    )
    assert [r["status"] for r in rows] == ["ok", "no-tls"]
    assert rows[0]["verdict"] == "at-risk" and "CLIENTAUTH_SUNSET" in rows[0]["findings"]


def test_table_fits_120_columns_and_has_no_colour_off_a_terminal(lab_files):
    targets, root = lab_files
    result = ekuscan(
        "scan",
        *lab_scan_args(targets, root),
        "-f",
        "table",
        "--timeout",
        "1.5",
    )
    assert "\x1b[" not in result.stdout
    widths = [len(line) for line in result.stdout.splitlines()]
    assert max(widths) <= 120, max(widths)
    assert "expe-public" in result.stdout and "breaks: " in result.stdout
    n = sum(len(h.services) for h in ESTATE)
    v = expected_host_verdicts()
    assert re.search(
        rf"{len(ESTATE)} hosts, {n} endpoints, {n} probes .* {v['breaks']} break, {v['at-risk']} at risk, "
        rf"{v['ok']} ok, {v['unknown']} unknown",
        result.stdout,
    )


def test_table_colour_respects_no_color(lab, lab_files):
    pty = pytest.importorskip("pty")
    _, root = lab_files
    target = lab_target(lab, "expe-public", 5061)
    for no_color, expect_colour in ((None, True), ("1", False)):
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        if no_color:
            env["NO_COLOR"] = no_color
        primary, secondary = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "scanner", "scan", target, "--public-roots", str(root)],
            stdout=secondary,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(30)
        os.close(primary)
        text = b"".join(chunks).decode()
        assert ("\x1b[31;1m" in text) is expect_colour, text


def test_at_moves_the_evaluation_date(lab, lab_files):
    _, root = lab_files
    target = lab_target(lab, "expc-private", 5061)
    later = ekuscan("scan", target, "--public-roots", str(root), "-f", "json", "--at", "2031-01-01")
    doc = json.loads(later.stdout)
    assert doc["evaluated_at"] == "2031-01-01T00:00:00Z"
    assert "EXPIRED" in {f["code"] for f in doc["endpoints"][0]["findings"]}
    assert later.returncode == 1


def test_warn_days_widens_the_expiry_window(lab, lab_files):
    _, root = lab_files
    target = lab_target(lab, "expc-private", 443)
    doc = json.loads(
        ekuscan("scan", target, "--public-roots", str(root), "-f", "json", "--warn-days", "800").stdout
    )
    assert doc["endpoints"][0]["verdict"] == "at-risk"
    assert "EXPIRES_SOON" in {f["code"] for f in doc["endpoints"][0]["findings"]}


def test_duplicate_targets_are_scanned_once(lab, lab_files):
    _, root = lab_files
    service = lab.find("expc-private", 5061)
    result = ekuscan(
        "scan",
        service.target,
        f"{service.address}/32",
        f"{service.address}-{service.address}",
        service.target,
        "-p",
        str(service.port),
        "--public-roots",
        str(root),
        "-f",
        "json",
    )
    doc = json.loads(result.stdout)
    assert doc["summary"]["probes"] == 1
    assert [e["ip"] for e in doc["endpoints"]] == [service.address]


# --- inspect ----------------------------------------------------------------------------------


def test_inspect_matches_a_live_scan(lab, lab_files, tmp_path):
    _, root = lab_files
    leaf, chain = lab.pki.leaf("expe-public", ESTATE[0].leaf)
    pem = tmp_path / "new-cert.pem"
    pem.write_bytes(leaf.pem + b"".join(c.pem for c in chain))
    result = ekuscan("inspect", str(pem), "--role", "expressway-e", "--public-roots", str(root), "-f", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)["endpoints"][0]
    assert {"EKU_NO_CLIENTAUTH"} <= {f["code"] for f in report["findings"]}
    assert report["trust"] == "public" and len(report["chain"]) == 2


def test_inspect_real_certificates_der_and_pem(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = tmp_path / "yr1.der"
    der.write_bytes(
        x509.load_pem_x509_certificate((REALCERTS / "letsencrypt-yr1.pem").read_bytes()).public_bytes(
            Encoding.DER
        )
    )
    result = ekuscan("inspect", str(REALCERTS / "cryptography-io-leaf.pem"), str(der), "-f", "json")
    report = json.loads(result.stdout)["endpoints"][0]
    codes = {f["code"] for f in report["findings"]}
    assert "EXPIRED" in codes  # the leaf expired in 2018
    assert report["chain"][0]["eku"] == ["serverAuth", "clientAuth"]
    assert report["chain"][1]["eku"] == ["serverAuth"]
    assert result.returncode == 1


def test_inspect_table_output(tmp_path):
    result = ekuscan("inspect", str(REALCERTS / "letsencrypt-r11.pem"), "-f", "table", "--at", "2026-01-01")
    assert "R11" in result.stdout and result.returncode in (0, 1)


# --- lab, rules, help -------------------------------------------------------------------------


def test_lab_writes_targets_that_scan(tmp_path):
    targets = tmp_path / "t.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scanner",
            "lab",
            "--base",
            CLI_LAB_BASE,
            "--write-targets",
            str(targets),
            "--duration",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(150):
            if targets.exists():
                break
            time.sleep(0.1)
        assert targets.exists(), "the lab did not write its targets"
        specs = parse_csv(targets.read_text().splitlines(), "t.csv")
        assert len(specs) == sum(len(h.services) for h in ESTATE)
        root = tmp_path / "t-public-root.pem"
        assert root.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        intermediates = tmp_path / "t-intermediates.pem"
        assert intermediates.read_bytes().count(b"-----BEGIN CERTIFICATE-----") == 2
        result = ekuscan(
            "scan",
            "-i",
            str(targets),
            "--public-roots",
            str(root),
            "--intermediates",
            str(intermediates),
            "-f",
            "json",
            "--timeout",
            "1.5",
        )
        doc = json.loads(result.stdout)
        assert doc["summary"]["by_status"]["ok"] == sum(
            1 for h in ESTATE for svc in h.services if svc.expect_status is Status.OK
        )
        assert doc["summary"]["hosts_by_verdict"] == expected_host_verdicts()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert f"{CLI_LAB[1]}:5061" in out and "scan it with: ekuscan scan -i" in out


def test_rules_lists_and_explains_every_code():
    listing = ekuscan("rules")
    assert listing.returncode == 0
    for r in ALL_RULES:
        assert r.code in listing.stdout
    one = ekuscan("rules", "chain_eku_no_clientauth")
    assert one.returncode == 0 and "YR1" in one.stdout and "Fix:" in one.stdout


@pytest.mark.parametrize(
    "command", [[], ["scan"], ["inspect"], ["rules"], ["lab"]], ids=lambda c: "-".join(c) or "top"
)
def test_help_is_complete(command):
    result = ekuscan(*command, "--help", env={"COLUMNS": "120"})
    assert result.returncode == 0
    assert "Usage:" in result.stdout


def test_scan_help_documents_every_option():
    text = ekuscan("scan", "--help", env={"COLUMNS": "200"}).stdout
    for option in (
        "--input",
        "--ports",
        "--role",
        "--sni",
        "--public-roots",
        "--at",
        "--warn-days",
        "--concurrency",
        "--timeout",
        "--format",
        "--output",
        "--fail-on",
    ):
        assert option in text


def test_console_script_and_module_agree():
    script = Path(sys.executable).with_name("ekuscan")
    if not script.exists():
        pytest.skip("console script not installed next to this interpreter")
    via_script = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=False, timeout=30
    )
    assert via_script.stdout == ekuscan("--version").stdout and via_script.stdout.startswith("ekuscan ")


def test_output_to_a_device_is_written_straight(tmp_path):
    result = ekuscan("inspect", str(REALCERTS / "letsencrypt-yr1.pem"), "-f", "json", "-o", os.devnull)
    assert result.returncode in (0, 1) and not result.stderr


# --- issue 3: what breaks, when, and on which host ---------------------------------------------


def lab_json(lab_files, *extra: str) -> dict:
    targets, root = lab_files
    result = ekuscan(
        "scan",
        *lab_scan_args(targets, root),
        "-f",
        "json",
        "--timeout",
        "1.5",
        *extra,
    )
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_json_hosts_show_role_product_release_and_links(lab, lab_files):
    doc = lab_json(lab_files)
    hosts = {h["label"]: h for h in doc["hosts"] if h["label"] in ("expe-x155", "cucm")}
    x155 = hosts["expe-x155"]
    assert (x155["role"], x155["role_source"], x155["product"], x155["software_version"]) == (
        "expressway-e",
        "inferred",
        "expressway-e",
        "X15.5.1",
    )
    assert {link["verdict"] for link in x155["links"] if link["uses"] == "client"} == {"unknown"}
    assert hosts["cucm"]["role"] == "cucm" and hosts["cucm"]["verdict"] == "breaks"
    mismatch, pairing = doc["summary"]["findings"]
    assert mismatch["code"] == "EXPRESSWAY_VERSION_MISMATCH"
    assert pairing["code"] == "TRAVERSAL_CA_NOT_ACCEPTED" and pairing["severity"] == "high"
    sunset = [
        f
        for e in doc["endpoints"]
        for f in e["findings"]
        if f["code"] == "CLIENTAUTH_SUNSET" and e["label"] == "pair-public"
    ]
    assert sunset and all(
        f["breaks_on"] and f["details"]["clientauth_cutoff"] == "2027-03-15" for f in sunset
    )
    timeline = doc["summary"]["timeline"]
    assert timeline["last_public_clientauth_day"] == "2027-09-30"
    counts = [entry["links"] for entry in timeline["links_broken_by"]]
    assert counts == sorted(counts) and counts[-1] <= timeline["links_broken_by_last_public_clientauth_day"]


def test_at_a_later_date_more_links_are_broken(lab, lab_files):
    today = lab_json(lab_files)["summary"]
    later = lab_json(lab_files, "--at", "2027-03-15")["summary"]
    assert later["hosts_by_verdict"]["breaks"] > today["hosts_by_verdict"]["breaks"]
    assert later["timeline"]["links_broken_by"][0]["links"] > today["timeline"]["links_broken_by"][0]["links"]


def test_table_says_what_breaks_when(lab, lab_files):
    targets, root = lab_files
    result = ekuscan(
        "scan",
        *lab_scan_args(targets, root),
        "-f",
        "table",
        "--timeout",
        "1.5",
    )
    out = result.stdout
    assert "role expressway-e (inferred)  Expressway-E X14.3.2" in out
    assert "role cube (inferred)  CUBE 17.6.5" in out
    assert "[expc-alone]  role expressway-c  Expressway X14.3.2  verdict at-risk" in out
    assert "chain completed; " in out  # expc-alone: its leaf came alone, the note says so
    assert "estate: EXPRESSWAY_VERSION_MISMATCH" in out
    # pair-dmz: each certificate is fine alone, the E does not trust the C's CA (as `make demo` shows).
    flat = " ".join(out.split())
    assert "estate: TRAVERSAL_CA_NOT_ACCEPTED: " in flat and "names CN=Example Corp DMZ Root" in flat
    assert re.search(r"\[pair-dmz\] role expressway-c Expressway X14.3.2 verdict breaks", flat)
    assert re.search(r"breaks: traversal-zone \(client\): \S+ accepts client certificates only from", flat)
    assert re.search(r"breaks: traversal-server \(server\): \S+ accepts client certificates only from", flat)
    assert re.search(
        r"links broken now: \d+; by \S+ \(30 days\): \d+; by \S+ \(90 days\): \d+; by 2027-09-30",
        " ".join(out.split()),
    )
    assert max(len(line) for line in out.splitlines()) <= 120


def test_rules_lists_every_code_with_a_paragraph_and_explains_one():
    listing = ekuscan("rules").stdout
    for r in EVERY_RULE:
        assert f"{r.code}  ({r.severity.label})" in listing
    one = ekuscan("rules", "clientauth_sunset")
    assert one.returncode == 0 and "Fix:" in one.stdout and "breaks_on" in one.stdout


@pytest.mark.parametrize(
    ("release", "codes", "client_verdicts"),
    [
        ("X14.3.2", {"AFFECTED_RELEASE"}, {"breaks"}),
        ("15.4", {"FIXED_RELEASE"}, {"breaks"}),
        ("X15.5.1", {"FIXED_RELEASE", "SEPARATE_CLIENT_STORE"}, {"unknown"}),
    ],
)
def test_inspect_judges_a_file_against_a_release(tmp_path, release, codes, client_verdicts):
    # A serverAuth-only leaf, as a public CA issues it today, checked before it is uploaded.
    root, inter, leaf = make_chain([SA])
    pem = tmp_path / "new-cert.pem"
    pem.write_bytes(leaf.pem + inter.pem + root.pem)
    result = ekuscan("inspect", str(pem), "--role", "expressway-e", "--release", release, "-f", "json")
    endpoint = json.loads(result.stdout)["endpoints"][0]
    assert codes <= {f["code"] for f in endpoint["findings"]}
    assert {link["verdict"] for link in endpoint["links"] if link["uses"] == "client"} == client_verdicts


def test_inspect_refuses_a_release_it_cannot_read(tmp_path):
    assert "--release" in one_line_error(
        ekuscan("inspect", str(REALCERTS / "letsencrypt-r11.pem"), "--release", "new")
    )
