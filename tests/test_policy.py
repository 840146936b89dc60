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
from scanner.model import Product, Role, Use, Version
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


# --- the refreshed CA facts (domain.md Q7), each with its source ---------------------------------


@pytest.mark.parametrize(
    ("organization", "common_name", "ca", "cutoff", "source"),
    [
        (
            "Google Trust Services",
            "WR1",
            "Google Trust Services",
            "2026-04-13",
            "pki.goog/updates/may2025-clientauth",
        ),
        (
            "SSL Corporation",
            "SSL.com RSA SSL subCA",
            "SSL.com",
            "2025-09-15",
            "ssl.com/blogs/removal-of-the-client",
        ),
        (
            "Actalis S.p.A.",
            "Actalis Organization Validated Server CA G3",
            "Actalis",
            "2026-06-15",
            "actalis.com/news",
        ),
        (
            "Asseco Data Systems S.A.",
            "Certum OV TLS G2 R39 CA",
            "Certum",
            "2026-05-15",
            "https://support.certum.eu/en/technical-news/sunsetting-the-clientauth-eku-from-certum-ssl-tls-certificates",
        ),
        (
            "Sectigo Limited",
            "Sectigo RSA Domain Validation Secure Server CA",
            "Sectigo",
            "2026-05-15",
            "sectigo.com",
        ),
    ],
)
def test_refreshed_ca_cutoffs_and_their_sources(organization, common_name, ca, cutoff, source):
    found = POLICY.cutoff_for(organization, common_name)
    assert found is not None and (found.ca, found.day.isoformat(), found.backstop) == (ca, cutoff, False)
    assert source in found.source


def test_globalsigns_date_is_the_r3_issuance_stop_not_a_clientauth_cutoff():
    found = POLICY.cutoff_for("GlobalSign nv-sa", "GlobalSign Atlas R3 DV TLS CA 2025 Q3")
    assert found is not None and found.backstop and found.day == date(2027, 3, 15)
    globalsign = POLICY.public_ca("GlobalSign nv-sa", None)
    assert globalsign is not None and globalsign.clientauth_cutoff is None
    assert "not a clientAuth date" in globalsign.note and "R3" in globalsign.note
    r3 = POLICY.dates["globalsign_r3_tls_issuance_stop"]
    assert r3.day == date(2026, 3, 15) and "not a clientAuth date" in r3.note and r3.source


def test_sectigo_notes_the_resellers_later_issuance():
    sectigo = POLICY.public_ca("Sectigo Limited", None)
    assert sectigo is not None and sectigo.clientauth_cutoff == date(2026, 5, 15)
    assert (
        "2026-10-31" in sectigo.note
        and "2027-02-10" in sectigo.note
        and "reseller" in sectigo.note.casefold()
    )


def test_identrust_public_sector_names_match_their_own_entry_first():
    public_sector = POLICY.public_ca("IdenTrust", "IdenTrust Public Sector Server CA 1")
    assert public_sector is not None and not public_sector.chrome_bound
    commercial = POLICY.public_ca("IdenTrust", "HydrantID Server CA O1")
    assert commercial is not None and commercial.name == "IdenTrust" and commercial.chrome_bound


def test_cucm_and_cube_fixed_releases_from_their_field_notices():
    notices = {n.product: n for n in POLICY.product_notices}
    cucm, cube = notices[Product.CUCM], notices[Product.CUBE]
    assert (cucm.notice, cucm.fixed_in, cucm.fix_published) == ("FN74345", "15 SU5", False)
    assert "every release" in cucm.affected and "fn74345" in cucm.source
    assert (cube.notice, cube.fixed_in_version) == ("FN74350", Version.parse("26.1.1"))
    assert "ISR4000" in cube.note and "fn74350" in cube.source


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
        # FN74362's list of numbers is illustrative: every X14, every X15 before X15.4 (domain.md Q7)
        ("X14.3.8", True),
        ("X14.4", True),
        ("X14.9.12", True),
        ("X15.3.2", True),
        ("X15.3.3", True),
        ("X15.1.9", True),
        ("X15.4", False),
        ("X15.4.0.1", False),
        ("X15.5.1", False),
        ("X16.0", False),
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
        (lambda d: d["expressway_releases"]["affected"].append({"train": "X15.4"}), "affected[2].train"),
        (
            lambda d: d["expressway_releases"]["affected"].append({"train": "X14", "before": "X15.4"}),
            "affected[2].before",
        ),
        (lambda d: d["expressway_releases"]["affected"].append({"trian": "X14"}), "affected[2].trian"),
        (lambda d: d["public_cas"][0].update(chrome_bound="no"), "policy.public_cas[0].chrome_bound"),
        (lambda d: d["product_notices"][0].update(product="toaster"), "policy.product_notices[0].product"),
        (
            lambda d: d["product_notices"][1].update(fixed_in_version="soon"),
            "product_notices[1].fixed_in_version",
        ),
        (lambda d: d["chrome_root_store"].update(version="v21"), "policy.chrome_root_store.version"),
        (
            lambda d: d["chrome_root_store"]["trusted_roots"][3].update(sha256="abc"),
            "policy.chrome_root_store.trusted_roots[3].sha256",
        ),
        (
            lambda d: d["chrome_root_store"]["constrained_roots"].append(
                d["chrome_root_store"]["trusted_roots"][0]
            ),
            "is listed twice",
        ),
        (lambda d: d["chrome_root_store"].update(roots=[]), "policy.chrome_root_store.roots: unknown field"),
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


def test_policy_show_prints_it_all():
    """Everything the refresh added is in what `policy show` prints, with its sources."""
    shown = json.loads(ekuscan("policy", "show").stdout)
    chrome = shown["chrome_root_store"]
    assert (chrome["version"], chrome["repository"], chrome["path"]) == (
        21,
        "chromium/chromium",
        "net/data/ssl/chrome_root_store/root_store.md",
    )
    assert len(chrome["trusted_roots"]) + len(chrome["constrained_roots"]) == 118
    assert {n["notice"] for n in shown["product_notices"]} == {"FN74345", "FN74350"}
    assert shown["expressway_releases"]["affected"][0] == {
        "train": "X14",
        "note": "every X14 release; FN74362 lists X14.0.0-X14.3.7",
    }
    cas = {ca["name"]: ca for ca in shown["public_cas"]}
    for name in ("Google Trust Services", "SSL.com", "Actalis", "Certum", "Sectigo", "GlobalSign"):
        assert cas[name]["source"].startswith(("https://", "SSL.com blog", "Actalis news")), name
    assert "globalsign_r3_tls_issuance_stop" in shown["dates"]


def test_a_user_policy_without_root_programs_keeps_its_meaning(tmp_path):
    """A copy of the policy from before root programs (no chrome_root_store) is still valid, and
    its public bundle counts as Chrome's: a Mozilla-only root keeps Chrome's deadline there."""
    doc = copy.deepcopy(DOCUMENT)
    del doc["chrome_root_store"], doc["product_notices"]
    doc["expressway_releases"]["affected"] = [["X14.0.0", "X14.3.7"], ["X15.0.0", "X15.3.2"]]
    path = tmp_path / "old-policy.json"
    path.write_text(json.dumps(doc))
    cert = str(REALCERTS / "identrust-public-sector-server-ca-1.pem")
    old = json.loads(
        ekuscan("inspect", cert, "-f", "json", "--at", "2027-01-01", "--policy", str(path)).stdout
    )
    (endpoint,) = old["endpoints"]
    assert endpoint["root_programs"] == ["chrome", "mozilla"]
    assert "CLIENTAUTH_SUNSET" in {f["code"] for f in endpoint["findings"]}
    assert not parse_policy(doc).releases.is_affected(Version.parse("X14.4"))  # the old pairs, as written


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
        [
            "links",
            "dates",
            "max_validity",
            "public_cas",
            "expressway_releases",
            "defaults",
            "schema",
            "product_notices",
            "chrome_root_store",
        ]
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
    # A valid new name leaves the link whole, but a peer that named it by its old name is broken
    # now: that problem is the peer's (policy.links[ROLE/NAME].peer), and it names the old name.
    renamed = f"no server link {DOCUMENT['links'][index]['name']!r}"
    assert (
        not problems
        or any(f"policy.links[{index}]" in p for p in problems)
        or (key == "name" and all(".peer: " in p and renamed in p for p in problems))
    )
