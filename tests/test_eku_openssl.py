"""Differential test: scanner.core.usage.usability() against ``openssl verify -purpose``.

Every leaf EKU x intermediate EKU combination over EKU_SETS (25 chains under a root without
EKU) is verified by the openssl binary for sslclient and sslserver, and the engine must give
the same answer. A second table puts the EKU on the trust anchor instead (root passed with
-CAfile, as a public root from the bundle would be; the engine sees it as ``anchor_eku``).
The evaluation time is pinned with -attime, so the certificates' dates never matter.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from scanner.core.analysis import analyze
from scanner.core.certs import ParsedCert, parse_der
from scanner.core.trust import RootStore
from scanner.core.usage import usability
from scanner.model import CertFacts, Role, Use, Verdict
from tests.conftest import context
from tests.factories import EKU_SETS, NOW, Made, make_chain, observation

OPENSSL = shutil.which("openssl")
if OPENSSL is None:
    pytest.skip("the openssl binary is not installed", allow_module_level=True)

NAMES = list(EKU_SETS)
PURPOSES = {Use.CLIENT: "sslclient", Use.SERVER: "sslserver"}
ROOT_EKUS = ["serverAuth", "clientAuth", "anyEKU"]


@dataclass(frozen=True)
class Files:
    root: Path
    inter: Path
    leaf: Path
    made: tuple[Made, Made, Made]  # root, intermediate, leaf
    facts: tuple[CertFacts, CertFacts, CertFacts]


def _facts(made: Made) -> CertFacts:
    parsed = parse_der(made.der)
    assert isinstance(parsed, ParsedCert)
    return parsed.facts


def _write(directory: Path, chain: tuple[Made, Made, Made]) -> Files:
    directory.mkdir(parents=True)
    paths = []
    for name, made in zip(("root", "int", "leaf"), chain, strict=True):
        path = directory / f"{name}.pem"
        path.write_bytes(made.pem)
        paths.append(path)
    root, inter, leaf = chain
    return Files(paths[0], paths[1], paths[2], chain, (_facts(root), _facts(inter), _facts(leaf)))


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Files]:
    base = tmp_path_factory.mktemp("eku-matrix")
    return {
        (leaf, inter): _write(base / f"leaf-{leaf}-int-{inter}", make_chain(leaf, inter, "none"))
        for leaf in NAMES
        for inter in NAMES
    }


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Files]:
    base = tmp_path_factory.mktemp("eku-anchor")
    return {root: _write(base / f"root-{root}", make_chain("both", "none", root)) for root in ROOT_EKUS}


def openssl_accepts(files: Files, use: Use) -> bool:
    assert OPENSSL is not None
    result = subprocess.run(
        [
            OPENSSL,
            "verify",
            "-attime",
            str(int(NOW.timestamp())),
            "-purpose",
            PURPOSES[use],
            "-CAfile",
            str(files.root),
            "-untrusted",
            str(files.inter),
            str(files.leaf),
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return result.returncode == 0 and "OK" in result.stdout


USES = [pytest.param(Use.CLIENT, id="sslclient"), pytest.param(Use.SERVER, id="sslserver")]
CHAINS = [pytest.param(leaf, inter, id=f"leaf={leaf},int={inter}") for leaf in NAMES for inter in NAMES]


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize(("leaf", "inter"), CHAINS)
def test_engine_agrees_with_openssl(
    matrix: dict[tuple[str, str], Files], leaf: str, inter: str, use: Use
) -> None:
    files = matrix[(leaf, inter)]
    _root, inter_facts, leaf_facts = files.facts
    engine = usability((leaf_facts, inter_facts), use).usable
    assert engine is openssl_accepts(files, use)


def test_matrix_is_not_trivial(matrix: dict[tuple[str, str], Files]) -> None:
    """Both answers occur for both purposes, so agreement means something."""
    for use in Use:
        answers = {usability((f.facts[2], f.facts[1]), use).usable for f in matrix.values()}
        assert answers == {True, False}


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize("root_eku", ROOT_EKUS, ids=lambda r: f"root={r},int=none,leaf=both")
def test_anchor_eku_agrees_with_openssl(anchored: dict[str, Files], root_eku: str, use: Use) -> None:
    files = anchored[root_eku]
    root_facts, inter_facts, leaf_facts = files.facts
    assert root_facts.eku is not None
    verdict = openssl_accepts(files, use)
    assert usability((leaf_facts, inter_facts), use, anchor_eku=root_facts.eku).usable is verdict
    # The same through the whole analysis: the root is a public root the server did not send.
    root, inter, leaf = files.made
    report = analyze(observation(leaf, inter, role=Role.EXPRESSWAY), context(RootStore.from_ders([root.der])))
    assert report.trust.anchor_eku == root_facts.eku
    links = [link for link in report.links if link.uses is use]
    assert links
    assert all((link.verdict is not Verdict.BREAKS) is verdict for link in links)


def test_serveronly_anchor_blocks_client_use_in_openssl(anchored: dict[str, Files]) -> None:
    """The case the issue names: a root whose EKU is serverAuth only, no explicit trust settings."""
    files = anchored["serverAuth"]
    assert not openssl_accepts(files, Use.CLIENT)
    assert openssl_accepts(files, Use.SERVER)
