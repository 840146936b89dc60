"""Differential test: scanner.core.usage.usability() against ``openssl verify -purpose``.

Three tables, each verified by Debian's openssl binary for sslclient and sslserver, and the
engine must give the same answer on every chain:

* EKU pairs: every leaf EKU x intermediate EKU over EKU_PAIRS (144 chains under a root
  without EKU), single usages, both, anyEKU beside a usage, SGC, usages TLS does not know.
* the leaf's keyUsage x nsCertType x EKU (LEAF_KU x LEAF_NS x LEAF_EKU, 324 leaves under one
  intermediate): the three leaf checks of ``check_purpose_ssl_client/server``, together.
* the EKU on the trust anchor instead (root passed with -CAfile, as a public root from the
  bundle would be; the engine sees it as ``anchor_eku``).

openssl runs once per intermediate and purpose over all its leaves (tests/purpose_certs.py),
so the 936 verdicts cost about 30 runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from scanner.core.analysis import analyze
from scanner.core.certs import ParsedCert, parse_der
from scanner.core.trust import RootStore
from scanner.core.usage import usability
from scanner.model import CertFacts, Finding, Role, Use, Verdict
from tests.conftest import context
from tests.factories import ANY, CA_, EKU_SETS, SA, Made, make_chain, observation
from tests.purpose_certs import CA_KEY_USAGE, OPENSSL, make, ns_value, openssl_verdicts, write_pems

if OPENSSL is None:
    pytest.skip("the openssl binary is not installed", allow_module_level=True)

EMAIL = ExtendedKeyUsageOID.EMAIL_PROTECTION
CODE = ExtendedKeyUsageOID.CODE_SIGNING
MS_SGC = x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3")
NS_SGC = x509.ObjectIdentifier("2.16.840.1.113730.4.1")
EKU_PAIRS: dict[str, list[x509.ObjectIdentifier] | None] = {
    **EKU_SETS,  # none, serverAuth, clientAuth, both, anyEKU
    "serverAuth+anyEKU": [SA, ANY],
    "clientAuth+anyEKU": [CA_, ANY],
    "serverAuth+emailProtection": [SA, EMAIL],
    "clientAuth+codeSigning": [CA_, CODE],
    "emailProtection+codeSigning": [EMAIL, CODE],
    "msSGC": [MS_SGC],
    "nsSGC+clientAuth": [NS_SGC, CA_],
}
LEAF_KU: dict[str, tuple[str, ...] | None] = {
    "none": None,
    "digitalSignature": ("digitalSignature",),
    "keyEncipherment": ("keyEncipherment",),
    "keyAgreement": ("keyAgreement",),
    "digitalSignature+keyEncipherment": ("digitalSignature", "keyEncipherment"),
    "nonRepudiation": ("nonRepudiation",),
}
LEAF_NS: dict[str, tuple[str, ...] | None] = {
    "none": None,
    "sslClient": ("sslClient",),
    "sslServer": ("sslServer",),
    "sslClient+sslServer": ("sslClient", "sslServer"),
    "sslClient+smime": ("sslClient", "smime"),  # Easy-RSA 2's client profile
    "smime": ("smime",),
    "objectSigning": ("objectSigning",),
    "sslCA": ("sslCA",),
    "empty": (),  # the extension, with no bit set
}
LEAF_EKU = {name: EKU_PAIRS[name] for name in ("none", "serverAuth", "clientAuth", "both", "anyEKU", "msSGC")}
ROOT_EKUS = ["serverAuth", "clientAuth", "anyEKU"]
K = TypeVar("K", bound=Hashable)
USES = [pytest.param(Use.CLIENT, id="sslclient"), pytest.param(Use.SERVER, id="sslserver")]


@dataclass(frozen=True)
class Judged:
    """One chain: its certificates (leaf first), their facts, and openssl's verdict per use."""

    made: tuple[Made, ...]
    facts: tuple[CertFacts, ...]
    openssl: dict[Use, bool]


def facts(made: Made) -> CertFacts:
    parsed = parse_der(made.der)
    assert isinstance(parsed, ParsedCert)
    return parsed.facts


def judge_leaves(directory: Path, root: Made, inter: Made, leaves: Mapping[K, Made]) -> dict[K, Judged]:
    """openssl's verdicts for many leaves under one intermediate: one run per purpose."""
    cafile = write_pems(directory / "root.pem", root)
    untrusted = write_pems(directory / "int.pem", inter)
    paths = {
        name: write_pems(directory / f"leaf-{i}.pem", leaf) for i, (name, leaf) in enumerate(leaves.items())
    }
    verdicts = {
        use: openssl_verdicts(list(paths.values()), use, cafile=cafile, untrusted=untrusted) for use in Use
    }
    inter_facts = facts(inter)
    return {
        name: Judged(
            (leaf, inter, root), (facts(leaf), inter_facts), {u: verdicts[u][paths[name]] for u in Use}
        )
        for name, leaf in leaves.items()
    }


def ca(cn: str, issuer: Made | None = None, eku: list[x509.ObjectIdentifier] | None = None) -> Made:
    return make(cn, issuer=issuer, ca=True, ku=CA_KEY_USAGE, eku=eku)


# --- EKU pairs on the leaf and the intermediate --------------------------------------------------


@pytest.fixture(scope="module")
def eku_matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Judged]:
    base = tmp_path_factory.mktemp("eku-pairs")
    root = ca("Test Root")
    judged: dict[tuple[str, str], Judged] = {}
    for i, (inter_name, inter_eku) in enumerate(EKU_PAIRS.items()):
        inter = ca(f"Test Intermediate {inter_name}", root, inter_eku)
        leaves = {name: make("host.example.test", issuer=inter, eku=eku) for name, eku in EKU_PAIRS.items()}
        for leaf_name, chain in judge_leaves(base / f"int-{i}", root, inter, leaves).items():
            judged[(leaf_name, inter_name)] = chain
    return judged


CHAINS = [
    pytest.param(leaf, inter, id=f"leaf={leaf},int={inter}") for leaf in EKU_PAIRS for inter in EKU_PAIRS
]


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize(("leaf", "inter"), CHAINS)
def test_engine_agrees_with_openssl(
    eku_matrix: dict[tuple[str, str], Judged], leaf: str, inter: str, use: Use
) -> None:
    chain = eku_matrix[(leaf, inter)]
    assert usability(chain.facts, use).usable is chain.openssl[use]


def test_eku_matrix_is_not_trivial(eku_matrix: dict[tuple[str, str], Judged]) -> None:
    """Both answers occur for both purposes, on the leaf's EKU and on the intermediate's alone."""
    for use in Use:
        assert {c.openssl[use] for c in eku_matrix.values()} == {True, False}
        assert {eku_matrix[(name, "none")].openssl[use] for name in EKU_PAIRS} == {True, False}
        assert {eku_matrix[("none", name)].openssl[use] for name in EKU_PAIRS} == {True, False}


# --- keyUsage x nsCertType x EKU on the leaf ------------------------------------------------------

LEAF_CASES = list(itertools.product(LEAF_KU, LEAF_NS, LEAF_EKU))


@pytest.fixture(scope="module")
def leaf_matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], Judged]:
    root = ca("Test Root")
    inter = ca("Test Intermediate", root)
    leaves = {
        (ku, ns, eku): make(
            "host.example.test",
            issuer=inter,
            ku=LEAF_KU[ku],
            ns=None if LEAF_NS[ns] is None else ns_value(*(LEAF_NS[ns] or ())),
            eku=LEAF_EKU[eku],
        )
        for ku, ns, eku in LEAF_CASES
    }
    return judge_leaves(tmp_path_factory.mktemp("leaf-ku-ns-eku"), root, inter, leaves)


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize(
    ("ku", "ns", "eku"),
    [pytest.param(*case, id=f"ku={case[0]},ns={case[1]},eku={case[2]}") for case in LEAF_CASES],
)
def test_leaf_purpose_agrees_with_openssl(
    leaf_matrix: dict[tuple[str, str, str], Judged], ku: str, ns: str, eku: str, use: Use
) -> None:
    chain = leaf_matrix[(ku, ns, eku)]
    assert chain.facts[0].ns_cert_type == LEAF_NS[ns]
    assert usability(chain.facts, use).usable is chain.openssl[use]


@pytest.mark.parametrize("axis", [0, 1, 2], ids=["keyUsage", "nsCertType", "EKU"])
def test_each_leaf_check_alone_decides_some_case(
    leaf_matrix: dict[tuple[str, str, str], Judged], axis: int
) -> None:
    """For each of keyUsage, nsCertType and EKU, and each purpose, two leaves that differ in
    that extension alone get different answers from openssl: each check is exercised."""
    for use in Use:
        deciding = [
            (a, b)
            for a, b in itertools.combinations(LEAF_CASES, 2)
            if all(a[i] == b[i] for i in range(3) if i != axis)
            and leaf_matrix[a].openssl[use] != leaf_matrix[b].openssl[use]
        ]
        assert deciding, f"no case where axis {axis} alone decides {use.value} use"


def explains(finding: Finding, use: Use) -> bool:
    """The finding says why the leaf cannot be used for ``use``."""
    if finding.code == "KEY_USAGE_MISMATCH":
        return f"TLS {use.value} use" in finding.message
    return finding.code in LEAF_CODES[use]


LEAF_CODES = {
    Use.CLIENT: {"EKU_NO_CLIENTAUTH", "NS_CERT_TYPE_NO_CLIENT"},
    Use.SERVER: {"EKU_NO_SERVERAUTH", "NS_CERT_TYPE_NO_SERVER"},
}


def test_links_and_findings_follow_openssl_over_the_leaf_matrix(
    leaf_matrix: dict[tuple[str, str, str], Judged],
) -> None:
    """Through the whole analysis (the private root presented): every link of a use breaks
    exactly when openssl rejects the chain for it, and then a finding of that use says why."""
    for case, chain in leaf_matrix.items():
        report = analyze(observation(*chain.made, role=Role.EXPRESSWAY), context())
        for use in Use:
            verdicts = {link.verdict for link in report.links if link.uses is use}
            assert verdicts == ({Verdict.OK} if chain.openssl[use] else {Verdict.BREAKS}), (case, use)
            explained = any(explains(f, use) for f in report.findings)
            assert explained is not chain.openssl[use], (case, use, [f.code for f in report.findings])


# --- the EKU on the trust anchor -------------------------------------------------------------------


@pytest.fixture(scope="module")
def anchored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Judged]:
    base = tmp_path_factory.mktemp("eku-anchor")
    judged = {}
    for root_eku in ROOT_EKUS:
        root, inter, leaf = make_chain("both", "none", root_eku)
        (chain,) = judge_leaves(base / root_eku, root, inter, {"leaf": leaf}).values()
        judged[root_eku] = chain
    return judged


@pytest.mark.parametrize("use", USES)
@pytest.mark.parametrize("root_eku", ROOT_EKUS, ids=lambda r: f"root={r},int=none,leaf=both")
def test_anchor_eku_agrees_with_openssl(anchored: dict[str, Judged], root_eku: str, use: Use) -> None:
    chain = anchored[root_eku]
    leaf, inter, root = chain.made
    root_facts = facts(root)
    assert root_facts.eku is not None
    verdict = chain.openssl[use]
    assert usability(chain.facts, use, anchor_eku=root_facts.eku).usable is verdict
    # The same through the whole analysis: the root is a public root the server did not send.
    report = analyze(observation(leaf, inter, role=Role.EXPRESSWAY), context(RootStore.from_ders([root.der])))
    assert report.trust.anchor_eku == root_facts.eku
    links = [link for link in report.links if link.uses is use]
    assert links
    assert all((link.verdict is not Verdict.BREAKS) is verdict for link in links)


def test_serveronly_anchor_blocks_client_use_in_openssl(anchored: dict[str, Judged]) -> None:
    """The case the issue names: a root whose EKU is serverAuth only, no explicit trust settings."""
    assert not anchored["serverAuth"].openssl[Use.CLIENT]
    assert anchored["serverAuth"].openssl[Use.SERVER]
