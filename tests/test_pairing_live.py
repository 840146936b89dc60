"""Pairing over real handshakes: the lab's C/E pairs, and openssl s_server as an E that really verifies.

The lab's pair-dmz E names another CA than the one that issued its C: the scan must break the
C's traversal zone and the E's traversal server, and only those. openssl s_server, trusting
one CA, says for itself whether it accepts the C's certificate (openssl s_client presents it):
the prediction from the CA names it sent must be what it does.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import trio
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.core.peers import link_pairs
from scanner.core.targets import expand, parse_csv
from scanner.edge.files import load_packaged_policy
from scanner.lab import LabPKI, LeafKind, targets_csv
from scanner.lab.pki import Issued
from scanner.model import EndpointReport, Role, Status, Use, Verdict
from scanner.report.inventory import HostReport, Inventory
from tests.addresses import PAIRING
from tests.conftest import context
from tests.factories import judge, observation
from tests.netutil import endpoint, scan

PAIRS = ("pair-dmz", "pair-private", "pair-public")
PAIRED_LINKS = {("traversal-zone", Use.CLIENT), ("traversal-server", Use.SERVER)}


def inventory_of(reports: list[EndpointReport], now) -> Inventory:
    inventory = Inventory(now=now, link_pairs=link_pairs(load_packaged_policy()))
    for report in sorted(reports, key=lambda r: (r.endpoint.group, r.endpoint.port)):
        inventory.add(report)
    return inventory


@pytest.fixture(scope="module")
def paired(lab, lab_roots) -> tuple[dict[str, list[EndpointReport]], Inventory]:
    """The lab's C/E pairs scanned through the lab's own target CSV, by host name."""
    services = [s for s in lab.services if s.host.label in PAIRS]
    specs = parse_csv(targets_csv(services).splitlines(), "lab.csv")
    observations = trio.run(lambda: scan(expand(specs), seconds=1.5))
    reports = list(judge(observations, context(lab_roots, now=lab.pki.now)))
    names = {s.address: s.host.name for s in services}
    by_host: dict[str, list[EndpointReport]] = {}
    for report in reports:
        by_host.setdefault(names[report.endpoint.host], []).append(report)
    return by_host, inventory_of(reports, lab.pki.now)


def hosts_by_name(inventory: Inventory, by_host: dict[str, list[EndpointReport]]) -> dict[str, HostReport]:
    address = {name: reports[0].endpoint.host for name, reports in by_host.items()}
    hosts = {h.host: h for h in inventory.each_host()}
    return {name: hosts[address[name]] for name in by_host}


def link(host: HostReport, name: str, uses: Use):
    (found,) = [x for x in host.links if (x.name, x.uses) == (name, uses)]
    return found


def test_the_e_sends_the_other_cas_name_as_der(paired, lab):
    by_host, _ = paired
    (traversal,) = [r for r in by_host["expe-dmz"] if r.endpoint.port == 7001]
    obs = traversal.observation
    assert obs.status is Status.OK and obs.client_cert_requested
    assert obs.client_ca_names_der == (lab.pki.other_private_root.cert.subject.public_bytes(),)
    assert obs.client_ca_names == ("CN=Example Corp DMZ Root,O=Example Corp,C=ZZ",)


def test_the_pair_whose_e_trusts_another_ca_breaks_on_both_links(paired):
    by_host, inventory = paired
    (finding,) = [f for f in inventory.summary().findings if f.code == "TRAVERSAL_CA_NOT_ACCEPTED"]
    hosts = hosts_by_name(inventory, by_host)
    c, e = hosts["expc-dmz"], hosts["expe-dmz"]
    assert (dict(finding.details)["client_host"], dict(finding.details)["server_host"]) == (c.host, e.host)
    for host, name, uses in ((c, "traversal-zone", Use.CLIENT), (e, "traversal-server", Use.SERVER)):
        judged = link(host, name, uses)
        assert judged.verdict is Verdict.BREAKS and "Example Corp DMZ Root" in judged.reason
        assert host.verdict is Verdict.BREAKS
    # Everything else of the pair is as the certificates alone make it: ok.
    others = [x for h in (c, e) for x in h.links if (x.name, x.uses) not in PAIRED_LINKS]
    assert others and {x.verdict for x in others} == {Verdict.OK}
    # Each endpoint alone is fine: the break is the pairing's, not a certificate's.
    assert {r.verdict for name in ("expc-dmz", "expe-dmz") for r in by_host[name]} == {Verdict.OK}


def test_pairs_whose_e_names_the_cs_root_are_accepted(paired):
    by_host, inventory = paired
    hosts = hosts_by_name(inventory, by_host)
    refused = [f for f in inventory.summary().findings if f.code == "TRAVERSAL_CA_NOT_ACCEPTED"]
    assert len(refused) == 1  # pair-dmz only
    assert link(hosts["expe-private"], "traversal-server", Use.SERVER).verdict is Verdict.OK
    assert link(hosts["expc-private"], "traversal-zone", Use.CLIENT).verdict is Verdict.OK
    # pair-public's E names the public root, its C's chain builds to it: at risk (a public
    # client CA), not broken.
    assert link(hosts["expe-public"], "traversal-server", Use.SERVER).verdict is Verdict.AT_RISK
    assert inventory.summary().hosts_by_verdict["breaks"] == 3  # expe-public on EKU, the dmz pair on trust


# --- openssl s_server as the E ----------------------------------------------------------------

OPENSSL = shutil.which("openssl")
TRAVERSAL_PORT = 7001  # the traversal-server link's first port: the link table pairs it with the C's zone
# What the E trusts, whether it accepts partial chains, what openssl does with the C's chain (the lab's
# private CA and root), and what the estate says: the prediction never breaks a link OpenSSL accepts.
CASES = {
    "private_root": ("private_root", False, True, set()),
    "private_ca": ("private_ca", False, False, {"TRAVERSAL_CA_ROOT_NOT_NAMED"}),
    "private_ca+partial_chain": ("private_ca", True, True, {"TRAVERSAL_CA_ROOT_NOT_NAMED"}),
    "other_private_root": ("other_private_root", False, False, {"TRAVERSAL_CA_NOT_ACCEPTED"}),
    "public_root": ("public_root", False, False, {"TRAVERSAL_CA_NOT_ACCEPTED"}),
}


def write(path: Path, *issued: Issued) -> Path:
    path.write_bytes(b"".join(i.pem for i in issued))
    return path


@contextmanager
def s_server(
    directory: Path, pki: LabPKI, trusted: Issued, tls: str, address: str, partial_chain: bool = False
) -> Iterator[int]:
    """openssl s_server as an Expressway-E traversal port (7001 on ``address``): demands a client
    certificate and verifies it against ``trusted``, whose name it sends (-CAfile); answers an
    HTTP GET with a status page and closes (-www), so that a client sees the end either way."""
    leaf, chain = pki.leaf("expe-openssl", LeafKind.PRIVATE_BOTH)
    cert, key = write(directory / "e.pem", leaf, *chain), directory / "e.key"
    key.write_bytes(leaf.key.private_bytes(Encoding.PEM, *_pkcs8()))
    port = TRAVERSAL_PORT
    args = [OPENSSL, "s_server", "-www", "-accept", f"{address}:{port}", "-cert", str(cert), "-key", str(key)]
    args += [
        "-CAfile",
        str(write(directory / "trusted.pem", trusted)),
        "-Verify",
        "2",
        "-verify_return_error",  # without it, s_server reports a verify error and carries on
        f"-{tls}",
        *(["-partial_chain"] if partial_chain else []),
        "-naccept",
        "2",
    ]
    with subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # s_server says ACCEPT once it listens
                if line.startswith(b"ACCEPT"):
                    break
            else:
                pytest.fail("openssl s_server did not start")
            yield port
        finally:
            proc.kill()


def _pkcs8():
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return PrivateFormat.PKCS8, NoEncryption()


def openssl_accepts(
    directory: Path, address: str, port: int, leaf: Issued, chain: tuple[Issued, ...]
) -> bool:
    """Present the C's certificate with openssl s_client: did the server accept it?"""
    cert, key = write(directory / "c.pem", leaf), directory / "c.key"
    key.write_bytes(leaf.key.private_bytes(Encoding.PEM, *_pkcs8()))
    extra = ["-cert_chain", str(write(directory / "c-chain.pem", *chain))] if chain else []
    result = subprocess.run(
        [
            OPENSSL,
            "s_client",
            "-connect",
            f"{address}:{port}",
            "-cert",
            str(cert),
            "-key",
            str(key),
            "-ign_eof",
            *extra,
        ],
        input=b"GET / HTTP/1.0\r\n\r\n",
        capture_output=True,
        timeout=20,
    )
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    refused = "alert unknown ca" in text
    accepted = "HTTP/1.0 200 ok" in text  # TLS 1.3 too: the server verified before it answered
    assert refused is not accepted, text
    return accepted


@pytest.mark.skipif(OPENSSL is None, reason="the openssl binary is not installed")
@pytest.mark.parametrize("tls", ["tls1_2", "tls1_3"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_prediction_is_what_a_verifying_openssl_server_does(tmp_path, tls, case):
    trusts, partial_chain, openssl_accepts_it, expected = CASES[case]
    pki = LabPKI.generate(time_now())
    trusted: Issued = getattr(pki, trusts)
    address = str(PAIRING[1 + 2 * list(CASES).index(case) + (tls == "tls1_3")])  # one per case: no TIME_WAIT
    with s_server(tmp_path, pki, trusted, tls, address, partial_chain) as port:
        (seen,) = trio.run(lambda: scan([endpoint(address, port, role=Role.EXPRESSWAY_E, label="pair")]))
        assert seen.client_cert_requested
        assert seen.client_ca_names_der == (trusted.cert.subject.public_bytes(),)
        leaf, chain = pki.leaf("expc-openssl", LeafKind.PRIVATE_BOTH)  # sent with its issuing CA and root
        accepted = openssl_accepts(tmp_path, address, port, leaf, chain)
    assert accepted is openssl_accepts_it, case  # the case is what it says
    c = replace(observation(leaf.der, *(i.der for i in chain), host="192.0.2.20", role=Role.EXPRESSWAY_C))
    c = replace(c, endpoint=replace(c.endpoint, label="pair", group=1))
    e = replace(seen, endpoint=replace(seen.endpoint, group=2))
    inventory = inventory_of(list(judge([c, e], context(now=pki.now))), pki.now)
    codes = {f.code for f in inventory.summary().findings if f.code.startswith("TRAVERSAL_")}
    assert codes == expected, [f.message for f in inventory.summary().findings]
    breaks = "TRAVERSAL_CA_NOT_ACCEPTED" in codes
    assert not (breaks and accepted)  # never a break where OpenSSL accepts
    assert breaks or accepted or "TRAVERSAL_CA_ROOT_NOT_NAMED" in codes  # a refusal is always told
    e_host = next(h for h in inventory.each_host() if h.host == address)
    traversal = next(x for x in e_host.links if x.name == "traversal-server")
    assert (traversal.verdict is Verdict.BREAKS) is breaks


def time_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
