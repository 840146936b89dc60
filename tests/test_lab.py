"""The lab's address and port plan for machines without many loopback addresses or privileges."""

from __future__ import annotations

import ast
from datetime import UTC, datetime

import pytest

from scanner.core.targets import parse_csv
from scanner.lab import (
    ESTATE,
    SINGLE_ADDRESS_PORT_BASE,
    UNPRIVILEGED_OFFSET,
    LabPKI,
    LeafKind,
    plan,
    targets_csv,
)
from scanner.model import Role, Verdict
from tests.addresses import PLAN, PLAN_BASE
from tests.conftest import REPO


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.generate(datetime(2026, 11, 27, tzinfo=UTC))


def test_one_address_per_host_with_the_expressway_ports(pki):
    lab = plan(pki, PLAN_BASE)
    assert {(s.address, s.port) for s in lab.services if s.host.name == "expe-public"} == {
        (str(PLAN[1]), 5061),
        (str(PLAN[1]), 7001),
        (str(PLAN[1]), 8443),
        (str(PLAN[1]), 443),
    }
    assert not lab.notes


def test_without_privileges_low_ports_move_up_and_the_lab_says_so(pki):
    lab = plan(pki, PLAN_BASE, privileged=False)
    ports = {s.port for s in lab.services}
    assert 443 not in ports and 443 + UNPRIVILEGED_OFFSET in ports
    assert any(str(UNPRIVILEGED_OFFSET) in note for note in lab.notes)


def test_single_address_mode_gives_every_service_its_own_port(pki):
    lab = plan(pki, "127.0.0.1", single_address=True)
    assert {s.address for s in lab.services} == {"127.0.0.1"}
    ports = [s.port for s in lab.services]
    assert len(set(ports)) == len(ports) == sum(len(h.services) for h in ESTATE)
    assert min(ports) >= SINGLE_ADDRESS_PORT_BASE and lab.notes


def test_targets_csv_round_trips(pki):
    lab = plan(pki, PLAN_BASE)
    specs = parse_csv(targets_csv(lab.services).splitlines(), "lab.csv")
    assert [(s.text, s.ports[0], s.role, s.sni, s.label) for s in specs] == [
        (b.address, b.port, b.host.role if b.host.role_in_csv else None, b.sni, b.host.label)
        for b in lab.services
    ]
    # Hosts whose role the scan must infer: an E from its banner and listeners, CUCM, CUBE.
    assert {b.host.name for b in lab.services if not b.host.role_in_csv} == {
        "expe-public",
        "expe-x155",
        "cucm",
        "cube",
    }


def test_every_lab_host_has_a_leaf_that_matches_its_story(pki):
    for host in ESTATE:
        if host.leaf is None:
            continue
        leaf, chain = pki.leaf(host.name, host.leaf)
        assert leaf.cert.subject.rfc4514_string().startswith(f"CN={host.name}.")
        # Every lab host sends at least its issuing CA, but the one whose intermediate was never uploaded.
        assert bool(chain) is (host.leaf is not LeafKind.PUBLIC_BOTH_LEAF_ONLY)


def test_the_host_that_sends_its_leaf_alone_is_issued_by_a_published_intermediate(pki):
    (alone,) = [h for h in ESTATE if h.leaf is LeafKind.PUBLIC_BOTH_LEAF_ONLY]
    leaf, _ = pki.leaf(alone.name, LeafKind.PUBLIC_BOTH_LEAF_ONLY)
    assert leaf.cert.issuer in {ca.cert.subject for ca in pki.public_intermediates}
    assert alone.role is Role.EXPRESSWAY_C and {s.expect_verdict for s in alone.services} == {Verdict.AT_RISK}


def test_the_lab_imports_only_the_layers_below_the_application():
    """The lab uses model, core, protocol, edge and itself; never cli, app, writers or store."""
    allowed = ("scanner.model", "scanner.core.", "scanner.protocol.", "scanner.edge.", "scanner.lab.")
    modules = sorted((REPO / "scanner" / "lab").glob("*.py"))
    assert {m.stem for m in modules} >= {"__init__", "pki", "fleet", "servers"}
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in (n for n in names if n == "scanner" or n.startswith("scanner.")):
                assert name.startswith(allowed), f"{path.name} imports {name}"
