"""Estate rules: EXPRESSWAY_VERSION_MISMATCH over the hosts of an inventory."""

from __future__ import annotations

import pytest

from scanner.core.rules import ESTATE_RULES, RULES_BY_CODE, HostIdentity, evaluate_estate
from scanner.core.rules._engine import estate_rule
from scanner.core.software import from_sip
from scanner.model import Role, Severity


def host(name: str, role: Role, banner: str | None, label: str = "") -> HostIdentity:
    return HostIdentity(name, role, from_sip(banner), label)


C, E, X = Role.EXPRESSWAY_C, Role.EXPRESSWAY_E, Role.EXPRESSWAY


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ([host("c", C, "TANDBERG/1 (X14.3.2)"), host("e", E, "TANDBERG/1 (X15.4)")], 1),
        ([host("c", C, "TANDBERG/1 (X15.4)"), host("e", E, "TANDBERG/1 (X15.4.0)")], 0),  # same release
        (
            [host("c", C, "TANDBERG/1 (X14.3.2)", "a"), host("e", E, "TANDBERG/1 (X15.4)", "b")],
            0,
        ),  # two pairs
        ([host("c", C, "TANDBERG/1 (X14.3.2)", "a"), host("e", X, "TANDBERG/1 (X15.4)", "a")], 1),
        ([host("c", C, "TANDBERG/1 (X14.3.2)"), host("e", E, None)], 0),  # release unknown
        ([host("c", C, "TANDBERG/1 (X14.3.2)"), host("u", Role.CUCM, "Cisco-CUCM14.0")], 0),
        ([host("c", C, "TANDBERG/1 (X14.3.2)"), host("k", Role.SERVER, "TANDBERG/1 (XC4.3)")], 0),
        ([], 0),
    ],
)
def test_expressway_version_mismatch(hosts, expected):
    found = [f for f in evaluate_estate(hosts, ESTATE_RULES) if f.code == "EXPRESSWAY_VERSION_MISMATCH"]
    assert len(found) == expected
    for f in found:
        assert f.severity is RULES_BY_CODE["EXPRESSWAY_VERSION_MISMATCH"].severity
        assert "X14.3.2 on c" in f.message


def test_a_failing_estate_rule_is_reported_not_raised():
    @estate_rule("TEST_ESTATE_BOOM", Severity.LOW, "a rule that always fails")
    def boom(hosts):
        """Always fails, to show the engine reports it."""
        raise RuntimeError("boom")

    hosts = [host("c", C, "TANDBERG/1 (X14.3.2)"), host("e", E, "TANDBERG/1 (X15.4)")]
    findings = evaluate_estate(hosts, (boom, *ESTATE_RULES))
    assert [f.code for f in findings] == ["ENGINE_ERROR", "EXPRESSWAY_VERSION_MISMATCH"]
    assert "TEST_ESTATE_BOOM" in findings[0].message and "boom" in findings[0].message
