"""Differential test, continued: what makes a CA certificate a CA to OpenSSL, and malformed nsCertType.

* CA_VARIANTS: basicConstraints (CA:TRUE, CA:FALSE, absent) x keyUsage x nsCertType x EKU on
  a CA certificate, once as the root at the top of the path (the server presents it, openssl
  gets it with -CAfile) and once as an intermediate under a proper root (-untrusted). OpenSSL
  3 judges the two positions differently (``check_extensions``: strict for intermediates).
* malformed nsCertType values on the leaf, the intermediate and the root, and Hypothesis-made
  values on the leaf: where openssl's decoder refuses one, it rejects the certificate for
  every purpose, and the engine must say so too.

Every chain goes through analyze() (trust classification builds the path the rules see),
and its link verdicts must follow openssl's answer for each use.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import certifi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.analysis import analyze
from scanner.core.certs import ParsedCert, parse_der, split_certificates
from scanner.core.usage import ca_refusal, usability
from scanner.model import EndpointReport, Role, Use, Verdict
from tests.conftest import context
from tests.factories import CA_, SA, Made, observation
from tests.purpose_certs import (
    CA_KEY_USAGE,
    OPENSSL,
    make,
    make_v1_root,
    ns_value,
    openssl_verdicts,
    write_pems,
)

if OPENSSL is None:
    pytest.skip("the openssl binary is not installed", allow_module_level=True)

K = TypeVar("K", bound=Hashable)
BOTH = [SA, CA_]
# name -> make() arguments for the CA certificate under test; "v1" is an X.509 v1 root.
CA_VARIANTS: dict[str, dict[str, object]] = {
    "bc-ca": {"ca": True, "ku": CA_KEY_USAGE},
    "bc-ca+ns-smimeCA": {"ca": True, "ku": CA_KEY_USAGE, "ns": ns_value("smimeCA")},
    "bc-ca+ns-sslServer,no-ku": {"ca": True, "ns": ns_value("sslServer")},
    "bc-not-ca+ns-sslCA": {"ca": False, "ns": ns_value("sslCA")},
    "bc-ca+ku-digitalSignature": {"ca": True, "ku": ("digitalSignature",)},
    "no-bc+ku-certSign": {"ku": CA_KEY_USAGE},
    "no-bc+ku-certSign+ns-smimeCA": {"ku": CA_KEY_USAGE, "ns": ns_value("smimeCA")},
    "no-bc+ku-digitalSignature+ns-sslCA": {"ku": ("digitalSignature",), "ns": ns_value("sslCA")},
    "no-bc+ns-sslCA": {"ns": ns_value("sslCA")},
    "no-bc+ns-smimeCA": {"ns": ns_value("smimeCA")},
    "no-bc+ns-objectSigningCA": {"ns": ns_value("objectSigningCA")},
    "no-bc+ns-sslCA+smimeCA": {"ns": ns_value("sslCA", "smimeCA")},
    "no-bc+ns-sslClient+sslServer": {"ns": ns_value("sslClient", "sslServer")},
    "no-bc+ns-empty": {"ns": ns_value()},
    "no-bc": {},
    "no-bc+ns-sslCA+eku-serverAuth": {"ns": ns_value("sslCA"), "eku": [SA]},
    "no-bc+ns-sslCA+eku-both": {"ns": ns_value("sslCA"), "eku": BOTH},
    "v1": {},
}
POSITIONS = ("root", "intermediate")
CA_CASES = [(name, pos) for pos in POSITIONS for name in CA_VARIANTS if not (name == "v1" and pos != "root")]


@dataclass(frozen=True)
class Judged:
    presented: tuple[Made, ...]  # what the server sends, leaf first
    openssl: dict[Use, bool]


def _ca_under_test(name: str, cn: str, issuer: Made | None) -> Made:
    if name == "v1":
        return make_v1_root(cn)
    return make(cn, issuer=issuer, **CA_VARIANTS[name])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def ca_table(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Judged]:
    """All roots in one -CAfile, all intermediates in one -untrusted: four openssl runs in all.
    Every CA certificate has its own name, so no chain can pick another's issuer."""
    base = tmp_path_factory.mktemp("ca-table")
    proper_root = make("Proper Root", ca=True, ku=CA_KEY_USAGE)
    cas: dict[tuple[str, str], Made] = {}
    presented: dict[tuple[str, str], tuple[Made, ...]] = {}
    for i, (name, pos) in enumerate(CA_CASES):
        if pos == "root":
            root = cas[(name, pos)] = _ca_under_test(name, f"Root {i}", None)
            presented[(name, pos)] = (make("host.example.test", issuer=root, eku=BOTH), root)
        else:
            inter = cas[(name, pos)] = _ca_under_test(name, f"Intermediate {i}", proper_root)
            presented[(name, pos)] = (make("host.example.test", issuer=inter, eku=BOTH), inter, proper_root)
    roots = [c for (_, pos), c in cas.items() if pos == "root"]
    cafile = write_pems(base / "roots.pem", proper_root, *roots)
    untrusted = write_pems(base / "intermediates.pem", *(c for (_, pos), c in cas.items() if pos != "root"))
    leaves = {
        case: write_pems(base / f"leaf-{i}.pem", chain[0])
        for i, (case, chain) in enumerate(presented.items())
    }
    verdicts = {
        use: openssl_verdicts(list(leaves.values()), use, cafile=cafile, untrusted=untrusted) for use in Use
    }
    return {case: Judged(presented[case], {u: verdicts[u][leaves[case]] for u in Use}) for case in presented}


def links_follow(report: EndpointReport, openssl: dict[Use, bool]) -> None:
    for use in Use:
        verdicts = {link.verdict for link in report.links if link.uses is use}
        assert verdicts == ({Verdict.OK} if openssl[use] else {Verdict.BREAKS}), (use, report.findings)


@pytest.mark.parametrize(("name", "position"), [pytest.param(*c, id=f"{c[1]}:{c[0]}") for c in CA_CASES])
def test_ca_certificate_agrees_with_openssl(
    ca_table: dict[tuple[str, str], Judged], name: str, position: str
) -> None:
    judged = ca_table[(name, position)]
    report = analyze(observation(*judged.presented, role=Role.EXPRESSWAY), context())
    assert len(report.trust.path) == len(judged.presented), "the presented chain must link up"
    links_follow(report, judged.openssl)
    codes = {f.code for f in report.findings}
    refused = codes & {"CHAIN_NOT_A_CA", "CHAIN_NS_CERT_TYPE_NO_SSL_CA"}
    eku_refused = codes & {"CHAIN_EKU_NO_CLIENTAUTH", "CHAIN_EKU_NO_SERVERAUTH"}
    assert bool(refused or eku_refused) is not all(judged.openssl.values())


def test_ca_table_is_not_trivial(ca_table: dict[tuple[str, str], Judged]) -> None:
    """The Netscape SSL CA bit decides a root without basicConstraints; an intermediate without
    basicConstraints fails whatever it carries; and both answers occur in both positions."""
    accepted = {case: judged.openssl[Use.CLIENT] for case, judged in ca_table.items()}
    assert accepted[("no-bc+ns-sslCA", "root")] and not accepted[("no-bc+ns-smimeCA", "root")]
    assert not accepted[("no-bc+ns-sslCA", "intermediate")]
    assert accepted[("v1", "root")]
    for pos in POSITIONS:
        assert {ok for (_, p), ok in accepted.items() if p == pos} == {True, False}


def test_public_roots_are_cas_to_openssl() -> None:
    """Mozilla's roots (certifi): each is a CA to OpenSSL as the top of a path, so the CA model
    changes nothing for public chains."""
    roots = [parse_der(der) for der in split_certificates(Path(certifi.where()).read_bytes())]
    facts = [r.facts for r in roots if isinstance(r, ParsedCert)]
    assert len(facts) > 100
    assert [f.subject for f in facts if ca_refusal(f, top=True) is not None] == []
    assert [f.subject for f in facts if f.ns_cert_type is not None or f.ns_cert_type_error] == []


# --- malformed nsCertType ---------------------------------------------------------------------------

MALFORMED = {
    "octet-string": b"\x04\x01\x80",
    "truncated": b"\x03\x02\x00",
    "unused-bits-8": b"\x03\x02\x08\x80",
    "no-unused-bits-octet": b"\x03\x00",
    "empty-value": b"",
    "garbage": b"\xff\xff",
    "indefinite-length": b"\x03\x80\x07\x80\x00\x00",
}
# What DER forbids but OpenSSL's decoder takes, as the engine does.
LENIENT = {
    "trailing-bytes": ns_value("sslClient") + b"\x00",
    "dirty-unused-bits": b"\x03\x02\x07\x81",
    "long-form-length": b"\x03\x81\x02\x07\x80",
    "second-octet": b"\x03\x03\x00\x80\x40",
}
# What DER forbids and OpenSSL's BER decoder takes, but the engine does not (each is sslClient).
BER_ONLY = {
    "constructed": b"\x23\x04\x03\x02\x07\x80",
    "high-tag-number": b"\x1f\x03\x02\x07\x80",
}
BER_ONLY_STARTS = (b"\x23", b"\x1f", b"\x3f")  # constructed BIT STRING, high-tag-number forms
VALUES = {**MALFORMED, **LENIENT, **BER_ONLY}
BER_CASES = [(n, "leaf") for n in BER_ONLY]


def chain_with_ns(value: bytes | None, where: str, name: str) -> tuple[Made, ...]:
    """leaf -> intermediate -> root, named after ``name``, with ``value`` as the nsCertType of one."""
    root = make(f"Root {name}", ca=True, ku=CA_KEY_USAGE, ns=value if where == "root" else None)
    inter = make(
        f"Int {name}", issuer=root, ca=True, ku=CA_KEY_USAGE, ns=value if where == "intermediate" else None
    )
    leaf = make("host.example.test", issuer=inter, eku=BOTH, ns=value if where == "leaf" else None)
    return leaf, inter, root


def judge_chains(directory: Path, chains: dict[K, tuple[Made, ...]]) -> dict[K, Judged]:
    """openssl's verdicts on leaf -> intermediate -> root chains: one run per purpose for all."""
    cafile = write_pems(directory / "roots.pem", *(chain[2] for chain in chains.values()))
    untrusted = write_pems(directory / "ints.pem", *(chain[1] for chain in chains.values()))
    leaves = {
        case: write_pems(directory / f"leaf-{n}.pem", chain[0])
        for n, (case, chain) in enumerate(chains.items())
    }
    verdicts = {
        use: openssl_verdicts(list(leaves.values()), use, cafile=cafile, untrusted=untrusted) for use in Use
    }
    return {case: Judged(chains[case], {u: verdicts[u][leaves[case]] for u in Use}) for case in chains}


MALFORMED_CASES = [(n, "leaf") for n in (*MALFORMED, *LENIENT)] + [
    ("truncated", w) for w in ("intermediate", "root")
]


@pytest.fixture(scope="module")
def malformed(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Judged]:
    chains = {(n, w): chain_with_ns(VALUES[n], w, f"{n} {w}") for n, w in [*MALFORMED_CASES, *BER_CASES]}
    return judge_chains(tmp_path_factory.mktemp("malformed"), chains)


@pytest.mark.parametrize(("name", "where"), [pytest.param(*c, id=f"{c[1]}:{c[0]}") for c in MALFORMED_CASES])
def test_malformed_ns_cert_type_agrees_with_openssl(
    malformed: dict[tuple[str, str], Judged], name: str, where: str
) -> None:
    judged = malformed[(name, where)]
    report = analyze(observation(*judged.presented, role=Role.EXPRESSWAY), context())
    links_follow(report, judged.openssl)
    flagged = [f for f in report.findings if f.code == "NS_CERT_TYPE_MALFORMED"]
    if name in MALFORMED:
        assert judged.openssl == {Use.CLIENT: False, Use.SERVER: False}
        assert len(flagged) == 1 and flagged[0].message
    else:
        assert flagged == []


@pytest.mark.parametrize(("name", "where"), [pytest.param(*c, id=f"{c[1]}:{c[0]}") for c in BER_CASES])
def test_ber_only_forms_are_the_one_known_divergence(
    malformed: dict[tuple[str, str], Judged], name: str, where: str
) -> None:
    """OpenSSL's BER decoder reads a constructed or high-tag-number nsCertType (here: sslClient);
    DER forbids both and the engine reports them as malformed, unusable for either side."""
    judged = malformed[(name, where)]
    assert judged.openssl == {Use.CLIENT: True, Use.SERVER: False}
    report = analyze(observation(*judged.presented, role=Role.EXPRESSWAY), context())
    assert [f.code for f in report.findings if f.code == "NS_CERT_TYPE_MALFORMED"] == [
        "NS_CERT_TYPE_MALFORMED"
    ]
    assert {link.verdict for link in report.links} == {Verdict.BREAKS}


# --- any nsCertType value at all (Hypothesis), on the leaf -------------------------------------------


@st.composite
def ns_values(draw: st.DrawFn) -> bytes:
    """Mostly BIT STRING-shaped values with every field wrong in turn; sometimes any bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=8).filter(lambda b: b[:1] not in BER_ONLY_STARTS))
    unused = draw(st.integers(0, 9))
    contents = bytes([unused]) + draw(st.binary(max_size=3)) if draw(st.integers(0, 9)) else b""
    tag = draw(st.sampled_from([0x03, 0x03, 0x03, 0x04, 0x30]))
    length = draw(st.sampled_from(["right", "long-form", "any"]))
    if length == "right":
        header = bytes([tag, len(contents)])
    elif length == "long-form":
        header = bytes([tag, 0x81, len(contents)])
    else:
        header = bytes([tag, draw(st.integers(0, 255))])
    return header + contents + draw(st.binary(max_size=2))


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Made]:
    directory = tmp_path_factory.mktemp("ns-fuzz")
    root = make("Fuzz Root", ca=True, ku=CA_KEY_USAGE)
    inter = make("Fuzz Intermediate", issuer=root, ca=True, ku=CA_KEY_USAGE)
    write_pems(directory / "root.pem", root)
    write_pems(directory / "int.pem", inter)
    return directory, inter


@settings(max_examples=60, deadline=None)
@given(value=ns_values())
def test_any_ns_cert_type_value_agrees_with_openssl(fuzz_dir: tuple[Path, Made], value: bytes) -> None:
    """Whatever the value: parsing never fails, and the engine's usability is openssl's."""
    directory, inter = fuzz_dir
    leaf = make("host.example.test", issuer=inter, eku=BOTH, ns=value)
    path = write_pems(directory / "leaf.pem", leaf)
    parsed = parse_der(leaf.der)
    assert isinstance(parsed, ParsedCert)
    assert (parsed.facts.ns_cert_type is None) is (parsed.facts.ns_cert_type_error is not None)
    inter_facts = parse_der(inter.der)
    assert isinstance(inter_facts, ParsedCert)
    for use in Use:
        (openssl,) = openssl_verdicts(
            [path], use, cafile=directory / "root.pem", untrusted=directory / "int.pem"
        ).values()
        assert usability((parsed.facts, inter_facts.facts), use).usable is openssl, (value.hex(), use)
