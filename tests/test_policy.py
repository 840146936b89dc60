"""The policy data: the packaged file, its validation (every problem, one line each), CA
cut-offs matched against real public certificates, the dates derived from it, and the CLI
that loads and shows it."""

from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.certs import ParsedCert, parse_der, split_certificates
from scanner.core.policy import PolicyError
from scanner.core.policy_schema import parse_policy
from scanner.edge.files import load_packaged_policy, packaged_policy_text
from scanner.model import Role, Use, Version
from tests.conftest import REALCERTS
from tests.test_cli import ekuscan

POLICY = load_packaged_policy()
DOCUMENT = json.loads(packaged_policy_text())


def real(name: str) -> ParsedCert:
    (der,) = split_certificates((REALCERTS / name).read_bytes())
    parsed = parse_der(der)
    assert isinstance(parsed, ParsedCert)
    return parsed


def test_the_packaged_policy_is_valid_and_sourced():
    assert POLICY.links and POLICY.public_cas and POLICY.releases.affected
    assert all(ca.source for ca in POLICY.public_cas)
    assert all(fact.source for fact in POLICY.dates.values())
    assert POLICY.releases.source and POLICY.max_validity_source


@pytest.mark.parametrize(
    ("certificate", "ca", "cutoff"),
    [
        # An intermediate's subject is the issuer its leaves name.
        ("letsencrypt-r11.pem", "Let's Encrypt", "2026-02-11"),
        ("letsencrypt-yr1.pem", "Let's Encrypt", "2026-02-11"),
        ("digicert-global-g2-tls-rsa-sha256-2020-ca1.pem", "DigiCert", "2027-03-01"),
        ("godaddy-secure-ca-g2.pem", "GoDaddy", "2026-06-15"),
        ("hydrantid-server-ca-o1.pem", "IdenTrust", "2027-03-15"),  # no IdenTrust date: Chrome's
    ],
)
def test_cutoffs_match_real_intermediates(certificate, ca, cutoff):
    facts = real(certificate).facts
    found = POLICY.cutoff_for(facts.subject_organization, facts.subject_common_name)
    assert found is not None and (found.ca, found.day.isoformat()) == (ca, cutoff)
    assert found.backstop is (ca == "IdenTrust")


def test_cutoff_of_a_real_leaf_comes_from_its_issuer():
    leaf = real("cryptography-io-leaf.pem").facts  # issued by RapidSSL SHA256 CA - G3 (DigiCert brand)
    found = POLICY.cutoff_for(leaf.issuer_organization, leaf.issuer_common_name)
    assert found is not None and found.ca == "DigiCert"


def test_an_unknown_ca_falls_back_to_chromes_date():
    found = POLICY.cutoff_for("Nobody Trust Ltd", "Nobody Issuing CA 1")
    assert found is not None and found.day == date(2027, 3, 15) and found.backstop


def test_a_ca_date_later_than_chromes_is_capped():
    doc = copy.deepcopy(DOCUMENT)
    doc["public_cas"][0]["clientauth_cutoff"] = "2028-01-01"
    found = parse_policy(doc).cutoff_for(doc["public_cas"][0]["organizations"][0], None)
    assert found is not None and found.day == date(2027, 3, 15) and found.backstop


@pytest.mark.parametrize(
    ("issued", "days"),
    [("2025-01-01", 398), ("2026-03-14", 398), ("2026-03-15", 200), ("2027-03-15", 100), ("2030-01-01", 47)],
)
def test_max_validity_schedule(issued, days):
    assert POLICY.max_validity_days(date.fromisoformat(issued)) == days


def test_last_day_a_public_certificate_can_carry_clientauth():
    # Issued 2027-03-14 (the day before Chrome's rule) for 200 days.
    assert POLICY.last_public_clientauth_day == date(2027, 9, 30)


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("X8.11.4", True),
        ("X14.0.0", True),
        ("X14.3.7", True),
        ("X14.4", False),
        ("X15.3.2", True),
        ("X15.4", False),
        ("X15.5.1", False),
    ],
)
def test_release_table(version, affected):
    assert POLICY.releases.is_affected(Version.parse(version)) is affected


def test_links_follow_the_release():
    def names(role: Role, version: str | None) -> set[str]:
        links = POLICY.links_for(role, Version.parse(version) if version else None)
        return {link.name for link in links if link.uses is Use.CLIENT}

    assert {"cluster", "mra-sip-service"} <= names(Role.EXPRESSWAY_E, None)  # unknown release: all
    assert {"cluster", "mra-sip-service"} <= names(Role.EXPRESSWAY_E, "X14.3.2")
    assert not {"cluster", "mra-sip-service"} & names(Role.EXPRESSWAY_E, "X15.4")
    assert {"traversal-zone", "ssh-tunnels"} <= names(Role.EXPRESSWAY_C, "X15.4")  # C: every release


def broken(mutate) -> list[str]:
    doc = copy.deepcopy(DOCUMENT)
    mutate(doc)
    with pytest.raises(PolicyError) as caught:
        parse_policy(doc)
    return caught.value.problems


def test_every_problem_is_reported_with_its_path():
    def mutate(doc):
        doc["links"][0]["ports"] = [0, "x"]
        doc["links"][1]["role"] = "toaster"
        doc["public_cas"][0]["clientauth_cutoff"] = "soon"
        doc["expressway_releases"]["affected"][0] = ["X14", "banana"]
        doc["max_validity"]["steps"][1]["days"] = -1
        doc["dates"]["chrome_leaf_serverauth_only"]["date"] = "15/03/2027"
        doc["publc_cas"] = []

    problems = broken(mutate)
    assert len(problems) == 7, problems
    expected = [
        "policy.links[0].ports",
        "policy.links[1].role",
        "policy.public_cas[0].clientauth_cutoff",
        "policy.expressway_releases.affected[0][1]",
        "policy.max_validity.steps[1].days",
        "policy.dates.chrome_leaf_serverauth_only.date",
        "policy.publc_cas: unknown field",
    ]
    for where in expected:
        assert any(p.startswith(where) for p in problems), (where, problems)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(schema="ekuscan/policy/9"), "policy.schema"),
        (lambda d: d.update(links={}), "policy.links"),
        (lambda d: d["links"][0].update(uses="both"), "policy.links[0].uses"),
        (lambda d: d["links"][0].update(from_version="X15.5", before_version="X15.4"), "policy.links[0]"),
        (
            lambda d: d["public_cas"][0].update(organizations=[], issuer_common_names=[]),
            "policy.public_cas[0]",
        ),
        (lambda d: d["max_validity"]["steps"].reverse(), "policy.max_validity.steps"),
        (lambda d: d["defaults"].update(warn_days=True), "policy.defaults.warn_days"),
        (
            lambda d: d["expressway_releases"].update(separate_client_store_from=15.5),
            "separate_client_store_from",
        ),
    ],
)
def test_single_problems(mutate, where):
    problems = broken(mutate)
    assert any(where in p for p in problems), problems


def test_cli_reports_a_broken_policy_one_line_per_problem(tmp_path):
    doc = copy.deepcopy(DOCUMENT)
    doc["links"][0]["ports"] = ["x"]
    doc["public_cas"][1]["clientauth_cutoff"] = "next year"
    path = tmp_path / "my-policy.json"
    path.write_text(json.dumps(doc))
    result = ekuscan("inspect", str(REALCERTS / "letsencrypt-r11.pem"), "--policy", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3 and "2 problems" in lines[0]
    assert "policy.links[0].ports" in lines[1] and "policy.public_cas[1].clientauth_cutoff" in lines[2]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content", ["{not json", ""])
def test_cli_reports_a_policy_that_is_not_json(tmp_path, content):
    path = tmp_path / "p.json"
    path.write_text(content)
    result = ekuscan("policy", "show", "--policy", str(path))
    assert result.returncode == 2 and "not valid JSON" in result.stderr and "Traceback" not in result.stderr


def test_policy_show_prints_what_policy_accepts(tmp_path):
    shown = ekuscan("policy", "show").stdout
    assert json.loads(shown) == DOCUMENT
    edited = json.loads(shown)
    edited["defaults"]["warn_days"] = 45
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))
    again = ekuscan("policy", "show", "--policy", str(path)).stdout
    assert json.loads(again)["defaults"]["warn_days"] == 45


def test_a_user_policy_changes_the_verdict(tmp_path):
    """The link table of a user policy is the one the verdicts use."""
    doc = copy.deepcopy(DOCUMENT)
    doc["links"] = [link for link in doc["links"] if link["uses"] == "server"]  # nothing dials out
    path = tmp_path / "servers-only.json"
    path.write_text(json.dumps(doc))
    leaf = REALCERTS / "cryptography-io-leaf.pem"
    default = json.loads(ekuscan("inspect", str(leaf), "-f", "json", "--at", "2018-06-01").stdout)
    custom = json.loads(
        ekuscan("inspect", str(leaf), "-f", "json", "--at", "2018-06-01", "--policy", str(path)).stdout
    )
    assert any(link["uses"] == "client" for link in default["endpoints"][0]["links"])
    assert all(link["uses"] == "server" for link in custom["endpoints"][0]["links"])


def problems_of(doc) -> list[str]:
    """The problems parse_policy reports; any other exception fails the test."""
    try:
        parse_policy(doc)
    except PolicyError as exc:
        problems = exc.problems
    else:
        return []
    assert problems, "a PolicyError names at least one problem"
    return problems


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    section=st.sampled_from(
        ["links", "dates", "max_validity", "public_cas", "expressway_releases", "defaults", "schema"]
    ),
    value=json_values,
)
def test_any_broken_section_is_a_policy_error_never_a_crash(section, value):
    doc = copy.deepcopy(DOCUMENT)
    doc[section] = value
    assert all(p.startswith("policy") for p in problems_of(doc))


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, len(DOCUMENT["links"]) - 1),
    key=st.sampled_from(["role", "uses", "ports", "name", "from_version", "before_version"]),
    value=json_values,
)
def test_any_broken_link_field_is_a_policy_error_never_a_crash(index, key, value):
    doc = copy.deepcopy(DOCUMENT)
    doc["links"][index][key] = value
    problems = problems_of(doc)
    assert not problems or any(f"policy.links[{index}]" in p for p in problems)
