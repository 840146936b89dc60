"""Release rules (AFFECTED_RELEASE, FIXED_RELEASE, SEPARATE_CLIENT_STORE) and the link verdicts
per role and release, table-driven from the packaged policy's release table and link table."""

from __future__ import annotations

import pytest

from scanner.core.analysis import analyze
from scanner.core.rules import RULES_BY_CODE
from scanner.edge.files import load_packaged_policy
from scanner.model import EffectKind, LinkEffect, Role, Use, Verdict, Version
from tests.conftest import context
from tests.factories import SA, make_chain, observation

POLICY = load_packaged_policy()


def report(banner: str | None, *, role: Role | None = None, leaf_eku: object = "both", port: int = 5061):
    root, inter, leaf = make_chain(leaf_eku)
    return analyze(observation(leaf, inter, root, role=role, port=port, sip_server=banner), context())


def codes(r) -> list[str]:
    return [f.code for f in r.findings]


@pytest.mark.parametrize(
    ("banner", "role", "expected"),
    [
        ("TANDBERG/4137 (X14.3.2)", None, {"AFFECTED_RELEASE"}),
        ("TANDBERG/4137 (X14.0.0)", Role.EXPRESSWAY_C, {"AFFECTED_RELEASE"}),
        ("TANDBERG/4137 (X15.3.2)", Role.EXPRESSWAY_E, {"AFFECTED_RELEASE"}),
        # maintenance releases FN74362 does not list: every X14 and X15 before X15.4 is affected
        ("TANDBERG/4137 (X14.3.8)", None, {"AFFECTED_RELEASE"}),
        ("TANDBERG/4137 (X14.4.1)", Role.EXPRESSWAY_C, {"AFFECTED_RELEASE"}),
        ("TANDBERG/4138 (X15.3.3)", Role.EXPRESSWAY_E, {"AFFECTED_RELEASE"}),
        ("TANDBERG/4136 (X8.11.4)", None, {"AFFECTED_RELEASE"}),  # older than the notice: same design
        ("TANDBERG/4352 (X8.10.2-b2bua-1.0)", None, {"AFFECTED_RELEASE"}),
        ("TANDBERG/4138 (X15.4)", None, {"FIXED_RELEASE"}),
        ("TANDBERG/4139 (X15.5.1)", None, {"FIXED_RELEASE", "SEPARATE_CLIENT_STORE"}),
        ("TANDBERG/4139 (X15.5.1)", Role.SERVER, set()),  # the user says it is no Expressway
        ("TANDBERG/4137 (XC4.3.1)", None, set()),  # Conductor: not an Expressway release
        ("Cisco-CUCM14.0", None, set()),
        ("Cisco-SIPGateway/IOS-17.6.5", None, set()),
        (None, None, set()),  # no banner: the release is unknown, nothing is claimed
    ],
)
def test_release_findings(banner, role, expected):
    found = set(codes(report(banner, role=role))) & {
        "AFFECTED_RELEASE",
        "FIXED_RELEASE",
        "SEPARATE_CLIENT_STORE",
    }
    assert found == expected


def test_affected_release_messages_name_the_release_and_the_notice():
    (message,) = [
        f.message for f in report("TANDBERG/4137 (X14.3.2)").findings if f.code == "AFFECTED_RELEASE"
    ]
    assert "X14.3.2" in message and "FN74362" in message and "every X14, X15 before X15.4" in message
    (older,) = [f.message for f in report("TANDBERG/4136 (X8.11.4)").findings if f.code == "AFFECTED_RELEASE"]
    assert "older than every release" in older


def test_affected_release_fix_never_suggests_upgrading_e_alone():
    """C and E must run the same release (FN74362): the fix text says so and names both."""
    fix = RULES_BY_CODE["AFFECTED_RELEASE"].fix
    assert "C and E must run the same release" in fix and "together" in fix
    assert "E alone" not in fix and "-E alone" not in fix


def test_fixed_release_names_the_newest_fix_included():
    (message,) = [f.message for f in report("TANDBERG/4139 (X15.5.1)").findings if f.code == "FIXED_RELEASE"]
    assert "fix of X15.5" in message and "separate" in message


@pytest.mark.parametrize(
    ("leaf_eku", "outlook"), [([SA], "client links break"), ("both", "client links work")]
)
def test_separate_client_store_says_what_the_copied_certificate_would_do(leaf_eku, outlook):
    r = report("TANDBERG/4139 (X15.5.1)", leaf_eku=leaf_eku)
    (message,) = [f.message for f in r.findings if f.code == "SEPARATE_CLIENT_STORE"]
    assert outlook in message
    # Client links are not judged, and no client rule fires on a server-only certificate.
    assert "EKU_NO_CLIENTAUTH" not in codes(r)
    client = [link for link in r.links if link.uses is Use.CLIENT]
    assert client and all(link.verdict is Verdict.UNKNOWN for link in client)


RELEASES = [None, "X14.3.2", "X15.4", "X15.5.1"]
ROLES = [Role.EXPRESSWAY_C, Role.EXPRESSWAY_E, Role.EXPRESSWAY]


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("role", ROLES)
def test_link_verdicts_per_role_and_release(role, release):
    """A serverAuth-only leaf: which links break, per role and release, from the policy data."""
    banner = f"TANDBERG/4137 ({release})" if release else None
    r = report(banner, role=role, leaf_eku=[SA], port=5061)
    version = Version.parse(release) if release else None
    specs = POLICY.links_for(role, version)
    client_names = {s.name for s in specs if s.uses is Use.CLIENT}
    got = {(link.name, link.uses): link.verdict for link in r.links}
    assert {name for name, use in got if use is Use.CLIENT} == client_names
    separate = POLICY.releases.separate_client_store(version)
    for (name, use), verdict in got.items():
        if use is Use.SERVER:
            assert verdict is Verdict.OK, name
        elif separate:
            assert verdict is Verdict.UNKNOWN, name
        else:
            assert verdict is Verdict.BREAKS, name  # no clientAuth: every client link it still has breaks
    if role is Role.EXPRESSWAY_E and release in ("X15.4",):
        assert "cluster" not in client_names and "mra-sip-service" not in client_names
    if role is Role.EXPRESSWAY_C:
        assert "traversal-zone" in client_names or separate


@pytest.mark.parametrize("leaf_eku", [[SA], "both"], ids=["serverAuth-only", "both"])
def test_separate_client_store_leaves_client_links_unknown_and_server_links_alone(leaf_eku):
    r = report("TANDBERG/4139 (X15.5.1)", leaf_eku=leaf_eku)
    (finding,) = [f for f in r.findings if f.code == "SEPARATE_CLIENT_STORE"]
    reason = (
        "Expressway X15.5.1 keeps the client certificate in a separate store; "
        "a server-side scan cannot see it"
    )
    assert finding.effect == LinkEffect(EffectKind.UNJUDGED, frozenset({Use.CLIENT}), reason, None)
    client = {(link.verdict, link.reason, link.breaks_on) for link in r.links if link.uses is Use.CLIENT}
    assert client == {(Verdict.UNKNOWN, reason, None)}
    assert {link.verdict for link in r.links if link.uses is Use.SERVER} == {Verdict.OK}


def test_other_release_findings_have_no_effect_on_links():
    for banner in ("TANDBERG/4137 (X14.3.2)", "TANDBERG/4138 (X15.4)"):
        r = report(banner)
        found = [f for f in r.findings if f.code in ("AFFECTED_RELEASE", "FIXED_RELEASE")]
        assert found and all(f.effect is None for f in found)
