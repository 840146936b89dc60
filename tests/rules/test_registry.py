"""The rule registry: stable codes, documentation, coverage by tests, and engine error isolation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from scanner.core.certs import ParsedCert, parse_der
from scanner.core.rules import EVERY_RULE, RULES_BY_CODE, ChainUnderTest, Hit, RuleContext, evaluate
from scanner.core.rules._engine import ENGINE_ERROR, rule
from scanner.core.trust import RootStore, classify
from scanner.core.usage import usability
from scanner.model import Role, Severity, Use
from tests.factories import DAY, NOW, make_chain

CODE = re.compile(r"^[A-Z][A-Z0-9_]+$")
# The DESIGN.md codes this release implements.
DESIGN_CODES = (
    "EKU_NO_CLIENTAUTH",
    "EKU_NO_SERVERAUTH",
    "EKU_ABSENT",
    "CHAIN_EKU_NO_CLIENTAUTH",
    "CHAIN_EKU_NO_SERVERAUTH",
    "CLIENTAUTH_SUNSET",
    "EXPIRED",
    "NOT_YET_VALID",
    "EXPIRES_SOON",
    "SELF_SIGNED",
    "CHAIN_INCOMPLETE",
    "HOSTNAME_MISMATCH",
    "WEAK_KEY",
    "WEAK_SIGNATURE",
    "CLIENT_CERT_REQUESTED",
    "PUBLIC_CLIENT_CA_TRUSTED",
    "AFFECTED_RELEASE",
    "FIXED_RELEASE",
    "SEPARATE_CLIENT_STORE",
)
RULE_IDS = [r.code for r in EVERY_RULE]


def test_codes_are_unique() -> None:
    codes = [r.code for r in EVERY_RULE]
    assert len(codes) == len(set(codes))
    assert set(RULES_BY_CODE) == set(codes)
    assert all(RULES_BY_CODE[r.code] is r for r in EVERY_RULE)


@pytest.mark.parametrize("code", RULE_IDS)
def test_code_shape(code: str) -> None:
    assert CODE.match(code)
    assert code != ENGINE_ERROR


@pytest.mark.parametrize("code", RULE_IDS)
def test_rule_is_documented(code: str) -> None:
    r = RULES_BY_CODE[code]
    assert isinstance(r.severity, Severity)
    assert r.summary.strip()
    assert "\n" not in r.summary
    assert len(r.doc.split()) >= 8, "the docstring is the rule's documentation"


@pytest.mark.parametrize("code", DESIGN_CODES)
def test_design_code_is_registered(code: str) -> None:
    assert code in RULES_BY_CODE


def _rule_test_sources() -> dict[str, str]:
    here = Path(__file__).resolve().parent
    return {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted(here.glob("*.py"))
        if p.name != Path(__file__).name
    }


@pytest.mark.parametrize("code", RULE_IDS)
def test_every_rule_code_is_tested(code: str) -> None:
    sources = _rule_test_sources()
    assert sources, "no rule test files found next to this one"
    literal = re.compile(rf"""["']{code}["']""")
    assert [name for name, text in sources.items() if literal.search(text)], (
        f"{code} is in no tests/rules file"
    )


# --- engine error isolation -----------------------------------------------------------------------


@rule("TEST_BOOM", Severity.LOW, "a rule that always fails")
def boom(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """Raises, standing in for a bug in one rule."""
    raise RuntimeError("kaboom")


def _chain_under_test() -> ChainUnderTest:
    root, inter, leaf = make_chain("none")
    parsed = [parse_der(c.der) for c in (leaf, inter, root)]
    trust = classify(parsed, RootStore())
    path = tuple(p.facts for p in (parsed[i] for i in trust.path) if isinstance(p, ParsedCert))
    assert len(path) == 3
    return ChainUnderTest(
        presented=tuple(p.facts for p in parsed if isinstance(p, ParsedCert)),
        path=path,
        trust=trust,
        client=usability(path, Use.CLIENT),
        server=usability(path, Use.SERVER),
    )


@pytest.mark.parametrize(
    "boom_first", [pytest.param(True, id="failing-rule-first"), pytest.param(False, id="failing-rule-last")]
)
def test_rule_that_raises_becomes_engine_error(boom_first: bool) -> None:
    real = RULES_BY_CODE["EKU_ABSENT"]
    rules = [boom, real] if boom_first else [real, boom]
    ctx = RuleContext(now=NOW, warn=30 * DAY, role=Role.EXPRESSWAY, uses=frozenset(Use))
    findings = evaluate(_chain_under_test(), ctx, rules)
    assert sorted(f.code for f in findings) == sorted([ENGINE_ERROR, "EKU_ABSENT"])
    (error,) = [f for f in findings if f.code == ENGINE_ERROR]
    assert error.severity is Severity.HIGH
    assert "TEST_BOOM" in error.message
    assert "kaboom" in error.message
    # findings keep rule order
    assert [f.code for f in findings] == (
        [ENGINE_ERROR, "EKU_ABSENT"] if boom_first else ["EKU_ABSENT", ENGINE_ERROR]
    )


def test_boom_rule_keeps_its_docstring() -> None:
    assert boom.doc == "Raises, standing in for a bug in one rule."
    assert boom.code == "TEST_BOOM"
