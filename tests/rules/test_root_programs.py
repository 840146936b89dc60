"""Root programs: which stores hold a chain's anchor, and the Chrome-only rules that follow.

Chrome's clientAuth phase-out binds Chrome-bound hierarchies (a root of the Chrome Root Store,
or of a ``--public-roots`` bundle); a CA's own cut-off binds its hierarchies whatever their
program. Membership is tested on real roots (certifi's, the packaged Chrome v21 list) and
real intermediates; verdicts on test chains whose anchor a test root store marks as
Mozilla-only, Chrome's or the user's (no test can sign under a real root).
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import certifi
import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.core.analysis import AnalysisContext, analyze
from scanner.core.certs import ParsedCert, name_attributes, parse_der, sha256_hex, split_certificates
from scanner.core.policy_schema import parse_policy
from scanner.core.trust import ProgramRoots, RootStore, classify, load_pem_bundle, pem_program_roots
from scanner.edge.files import load_packaged_policy, packaged_policy_text
from scanner.model import EndpointReport, RootProgram, TrustClass, TrustResult, Use, Verdict
from scanner.report.inventory import Inventory
from scanner.writers import OutputFormat, RunInfo, make_writer
from tests.conftest import REALCERTS, context
from tests.factories import NOW, Made, make_cert, make_chain, observation
from tests.test_cli import ekuscan

POLICY = load_packaged_policy()
DOCUMENT = json.loads(packaged_policy_text())
CHROME, MOZILLA, USER = RootProgram.CHROME, RootProgram.MOZILLA, RootProgram.USER
PUBLIC_SECTOR_ROOT = "CN=IdenTrust Public Sector Root CA 1,O=IdenTrust,C=US"
ASSURED_ID_G2 = "CN=DigiCert Assured ID Root G2,OU=www.digicert.com,O=DigiCert Inc,C=US"
LE_R11 = "CN=R11,O=Let's Encrypt,C=US"
ISRG_X1 = "CN=ISRG Root X1,O=Internet Security Research Group,C=US"
COMMERCIAL_ROOT = "CN=IdenTrust Commercial Root CA 1,O=IdenTrust,C=US"


@pytest.fixture(scope="module")
def mozilla() -> RootStore:
    """certifi's bundle, as ekuscan loads it by default: the Mozilla program."""
    return load_pem_bundle(Path(certifi.where()).read_bytes(), RootProgram.MOZILLA)


def certifi_root(store: RootStore, subject: str) -> ParsedCert:
    (root,) = [p for group in store.by_subject.values() for p in group if p.facts.subject == subject]
    return root


def real(name: str) -> ParsedCert:
    (der,) = split_certificates((REALCERTS / name).read_bytes())
    parsed = parse_der(der)
    assert isinstance(parsed, ParsedCert)
    return parsed


def chrome_programs() -> tuple[ProgramRoots, ...]:
    return context(RootStore()).other_programs


# --- membership of real roots ------------------------------------------------------------------


def test_the_packaged_list_is_chrome_root_store_v21_with_its_source():
    listed = POLICY.chrome_root_store
    assert listed is not None and listed.version == 21
    section = DOCUMENT["chrome_root_store"]
    assert section["repository"] == "chromium/chromium"
    assert section["path"] == "net/data/ssl/chrome_root_store/root_store.md"
    assert len(section["commit"]) == 40 and listed.source.startswith("https://")
    assert (len(section["trusted_roots"]), len(section["constrained_roots"])) == (108, 10)
    assert {r.constrained for r in listed.roots} == {True, False}
    assert len(listed.fingerprints) == len(listed.roots)


def test_listed_roots_that_certifi_holds_carry_the_same_names(mozilla):
    """The list was copied by hand: every root certifi also holds must match it by (CN, O)."""
    listed = POLICY.chrome_root_store
    assert listed is not None
    by_print = {p.facts.sha256: p.facts for group in mozilla.by_subject.values() for p in group}
    shared = [root for root in listed.roots if root.sha256 in by_print]
    assert len(shared) >= 80, "certifi should hold most of Chrome's roots"
    for root in shared:
        names = name_attributes(root.subject)
        facts = by_print[root.sha256]
        assert (names.get("CN"), names.get("O")) == (facts.subject_common_name, facts.subject_organization)


@pytest.mark.parametrize(
    ("subject", "programs"),
    [
        # FN74362 workaround 1's root: in certifi, not in Chrome Root Store v21 (domain.md Q7)
        pytest.param(PUBLIC_SECTOR_ROOT, (MOZILLA,), id="IdenTrust-Public-Sector-Root-CA-1"),
        pytest.param(ASSURED_ID_G2, (CHROME, MOZILLA), id="DigiCert-Assured-ID-Root-G2"),
        pytest.param(
            "CN=ISRG Root X1,O=Internet Security Research Group,C=US", (CHROME, MOZILLA), id="ISRG-X1"
        ),
    ],
)
def test_real_roots_are_looked_up_in_both_programs(mozilla, subject, programs):
    root = certifi_root(mozilla, subject)
    result = classify([root], mozilla, chrome_programs())
    assert (result.trust, result.anchor, result.root_programs) == (TrustClass.PUBLIC, subject, programs)
    assert result.chrome_bound is (CHROME in programs)


@pytest.mark.parametrize(
    ("filename", "anchor", "programs"),
    [
        ("identrust-public-sector-server-ca-1.pem", PUBLIC_SECTOR_ROOT, (MOZILLA,)),
        (
            "hydrantid-server-ca-o1.pem",
            "CN=IdenTrust Commercial Root CA 1,O=IdenTrust,C=US",
            (CHROME, MOZILLA),
        ),
        ("digicert-global-g2-tls-rsa-sha256-2020-ca1.pem", None, (CHROME, MOZILLA)),
    ],
)
def test_real_intermediates_name_the_programs_of_their_root(mozilla, filename, anchor, programs):
    result = classify([real(filename)], mozilla, chrome_programs())
    assert result.trust is TrustClass.PUBLIC and result.root_programs == programs
    assert anchor is None or result.anchor == anchor


def test_a_user_bundle_is_chrome_bound_and_mozilla_membership_is_still_reported(mozilla):
    root = certifi_root(mozilla, PUBLIC_SECTOR_ROOT)
    user = RootStore.from_ders([root.cert.public_bytes(Encoding.DER)])  # --public-roots holding this root
    ctx = dataclasses.replace(context(user), mozilla_roots=mozilla.program_roots)
    result = classify([root], user, ctx.other_programs)
    assert result.root_programs == (MOZILLA, USER) and result.chrome_bound


def test_a_policy_without_the_list_takes_every_public_root_for_chromes(mozilla):
    """A policy file written before root programs existed keeps its old meaning."""
    doc = copy.deepcopy(DOCUMENT)
    del doc["chrome_root_store"]
    ctx = dataclasses.replace(context(mozilla), policy=parse_policy(doc))
    result = classify([certifi_root(mozilla, PUBLIC_SECTOR_ROOT)], mozilla, ctx.other_programs)
    assert result.root_programs == (CHROME, MOZILLA) and result.chrome_bound


def test_a_public_result_with_no_known_program_counts_as_chrome_bound():
    """Judged public on other evidence (no anchor at hand): Chrome's rules, as before."""
    assert TrustResult(TrustClass.PUBLIC, None, False, (0,)).chrome_bound
    assert not TrustResult(TrustClass.PRIVATE, None, False, (0,)).chrome_bound
    assert not TrustResult(TrustClass.PUBLIC, "x", True, (0,), root_programs=(MOZILLA,)).chrome_bound


# --- CLIENTAUTH_SUNSET / CLIENTAUTH_OUTSIDE_CHROME on a chain whose anchor's program is set ----


def public_chain(program: RootProgram, *, org: str = "Test Org", cn: str = "Test Issuing CA") -> tuple:
    """root -> intermediate (O=org, CN=cn) -> leaf with serverAuth+clientAuth, as an Expressway-C
    presents it (the root not sent); the root store says which program holds the root."""
    root, _, _ = make_chain("both")
    inter = make_cert(cn, issuer=root, ca=True, eku=None, org=org)
    leaf = make_cert("expc.example.test", issuer=inter, eku="both", dns=["expc.example.test"])
    store = RootStore.from_ders([root.der], program)
    return root, inter, leaf, store


def judged(leaf: Made, inter: Made, ctx: AnalysisContext) -> EndpointReport:
    return analyze(observation(leaf, inter), ctx)


def codes(report: EndpointReport) -> set[str]:
    return {f.code for f in report.findings}


def client_verdicts(report: EndpointReport) -> set[Verdict]:
    return {link.verdict for link in report.links if link.uses is Use.CLIENT}


def test_a_mozilla_only_root_is_not_told_it_will_lose_clientauth():
    _root, inter, leaf, store = public_chain(MOZILLA)
    report = judged(leaf, inter, context(store))
    assert report.trust.root_programs == (MOZILLA,) and not report.trust.chrome_bound
    assert "CLIENTAUTH_SUNSET" not in codes(report)
    (outside,) = [f for f in report.findings if f.code == "CLIENTAUTH_OUTSIDE_CHROME"]
    assert outside.effect is None and outside.breaks_on is None
    assert dict(outside.details)["root_programs"] == "mozilla"
    assert "2027-03-15" in outside.message and "does not bind it" in outside.message
    assert client_verdicts(report) == {Verdict.OK}


@pytest.mark.parametrize("program", [USER, CHROME], ids=["public-roots-bundle", "chrome-store"])
def test_a_chrome_bound_root_is(program):
    root, inter, leaf, store = public_chain(MOZILLA if program is CHROME else USER)
    policy = POLICY
    if program is CHROME:  # the test root listed in Chrome's store, as a real Chrome root is
        doc = copy.deepcopy(DOCUMENT)
        doc["chrome_root_store"]["trusted_roots"].append(
            {"sha256": sha256_hex(root.der), "subject": "CN=Test Root"}
        )
        policy = parse_policy(doc)
    report = judged(leaf, inter, dataclasses.replace(context(store), policy=policy))
    assert program in report.trust.root_programs and report.trust.chrome_bound
    (sunset,) = [f for f in report.findings if f.code == "CLIENTAUTH_SUNSET"]
    assert dict(sunset.details)["clientauth_cutoff"] == "2027-03-15"
    assert dict(sunset.details)["chrome_bound"] == "true"
    assert "CLIENTAUTH_OUTSIDE_CHROME" not in codes(report)
    assert client_verdicts(report) == {Verdict.AT_RISK}


def test_a_cas_own_cutoff_applies_outside_chromes_store_too():
    """Sectigo's own date binds Sectigo's hierarchies whatever their root program."""
    _root, inter, leaf, store = public_chain(MOZILLA, org="Sectigo Limited", cn="Sectigo Test CA")
    report = judged(leaf, inter, context(store))
    (sunset,) = [f for f in report.findings if f.code == "CLIENTAUTH_SUNSET"]
    details = dict(sunset.details)
    assert (details["ca"], details["clientauth_cutoff"]) == ("Sectigo", "2026-05-15")
    assert (details["cutoff_is_chrome_backstop"], details["chrome_bound"]) == ("false", "false")
    assert "outside Chrome's root store" in sunset.message
    assert "CLIENTAUTH_OUTSIDE_CHROME" not in codes(report)
    assert client_verdicts(report) == {Verdict.AT_RISK}


def test_outside_chrome_a_cas_later_date_is_not_capped_at_chromes():
    doc = copy.deepcopy(DOCUMENT)
    sectigo = next(ca for ca in doc["public_cas"] if ca["name"] == "Sectigo")
    sectigo["clientauth_cutoff"] = "2028-01-01"
    policy = parse_policy(doc)
    bound = policy.cutoff_for("Sectigo Limited", None)
    unbound = policy.cutoff_for("Sectigo Limited", None, chrome_bound=False)
    assert bound is not None and (bound.day, bound.backstop) == (date(2027, 3, 15), True)
    assert unbound is not None and (unbound.day, unbound.backstop) == (date(2028, 1, 1), False)
    assert policy.cutoff_for("Nobody Trust Ltd", None, chrome_bound=False) is None


def test_real_mozilla_only_intermediate_through_the_cli():
    """`ekuscan inspect` on IdenTrust Public Sector Server CA 1 (serverAuth+clientAuth, digitalSignature),
    judged as if it were the host's certificate: Mozilla-only, so no Chrome deadline; HydrantID
    Server CA O1, the same CA under its Chrome root, gets Chrome's."""

    def endpoint(name: str) -> dict:
        out = ekuscan("inspect", str(REALCERTS / name), "-f", "json", "--at", "2027-01-01").stdout
        (only,) = json.loads(out)["endpoints"]
        return only

    public_sector = endpoint("identrust-public-sector-server-ca-1.pem")
    assert (
        public_sector["root_programs"] == ["mozilla"] and public_sector["trust_anchor"] == PUBLIC_SECTOR_ROOT
    )
    found = {f["code"] for f in public_sector["findings"]}
    assert "CLIENTAUTH_OUTSIDE_CHROME" in found and "CLIENTAUTH_SUNSET" not in found
    assert {link["verdict"] for link in public_sector["links"]} == {"ok"}
    hydrant = endpoint("hydrantid-server-ca-o1.pem")
    assert hydrant["root_programs"] == ["chrome", "mozilla"]
    (sunset,) = [f for f in hydrant["findings"] if f["code"] == "CLIENTAUTH_SUNSET"]
    assert sunset["details"]["clientauth_cutoff"] == "2027-03-15"
    assert {link["verdict"] for link in hydrant["links"] if link["uses"] == "client"} == {"at-risk"}


# --- PUBLIC_CLIENT_CA_TRUSTED / CLIENT_CA_OUTSIDE_CHROME: the CA names a listener accepts --------


def listener(ctx: AnalysisContext, *names: str) -> EndpointReport:
    root, inter, leaf = make_chain("both")
    return analyze(observation(leaf, inter, root, port=7001, requested=True, ca_names=names), ctx)


def by_code(report: EndpointReport, code: str) -> list:
    return [f for f in report.findings if f.code == code]


def server_verdicts(report: EndpointReport) -> set[Verdict]:
    return {link.verdict for link in report.links if link.uses is Use.SERVER}


def test_accepting_a_mozilla_only_root_is_not_chromes_deadline(mozilla):
    report = listener(context(mozilla), PUBLIC_SECTOR_ROOT)
    assert by_code(report, "PUBLIC_CLIENT_CA_TRUSTED") == []
    (outside,) = by_code(report, "CLIENT_CA_OUTSIDE_CHROME")
    assert dict(outside.details) == {"outside_chrome_cas": PUBLIC_SECTOR_ROOT}
    assert outside.effect is None
    assert server_verdicts(report) == {Verdict.OK}


def test_accepting_an_issuing_ca_the_policy_places_outside_chrome():
    """TrustID RSA ClientAuth CA 2 (under the Public Sector root) arrives as text only: the policy
    says where it sits."""
    name = "CN=TrustID RSA ClientAuth CA 2,O=IdenTrust,C=US"
    report = listener(context(), name)
    assert by_code(report, "PUBLIC_CLIENT_CA_TRUSTED") == []
    assert [f.details for f in by_code(report, "CLIENT_CA_OUTSIDE_CHROME")] == [
        (("outside_chrome_cas", name),)
    ]


def test_accepting_a_chrome_root_is_chromes_deadline(mozilla):
    report = listener(context(mozilla), ASSURED_ID_G2)
    (trusted,) = by_code(report, "PUBLIC_CLIENT_CA_TRUSTED")
    assert trusted.breaks_on == datetime(2027, 9, 30, tzinfo=UTC)
    assert by_code(report, "CLIENT_CA_OUTSIDE_CHROME") == []
    assert server_verdicts(report) == {Verdict.AT_RISK}


def test_each_name_goes_to_its_rule(mozilla):
    report = listener(context(mozilla), PUBLIC_SECTOR_ROOT, LE_R11)
    (trusted,) = by_code(report, "PUBLIC_CLIENT_CA_TRUSTED")
    assert [v for k, v in trusted.details if k == "public_ca"] == [LE_R11]
    (outside,) = by_code(report, "CLIENT_CA_OUTSIDE_CHROME")
    assert dict(outside.details) == {"outside_chrome_cas": PUBLIC_SECTOR_ROOT}
    assert server_verdicts(report) == {Verdict.AT_RISK}  # the peers under Let's Encrypt will fail


def test_a_mozilla_only_root_of_a_ca_with_a_cutoff_gets_the_cas_last_day():
    """Sectigo stops on 2026-05-15: issued the day before, for the 200 days allowed then."""
    root = make_cert("Sectigo Test Root", ca=True, eku=None, org="Sectigo Limited")
    ctx = context(RootStore.from_ders([root.der], MOZILLA))
    report = listener(ctx, "CN=Sectigo Test Root,O=Sectigo Limited")
    (trusted,) = by_code(report, "PUBLIC_CLIENT_CA_TRUSTED")
    assert trusted.breaks_on == datetime(2026, 11, 30, tzinfo=UTC)
    assert POLICY.last_clientauth_day(date(2026, 5, 15)) == date(2026, 11, 30)


def test_a_public_roots_bundle_root_is_chromes_deadline():
    root = make_cert("Corp Public Root", ca=True, eku=None, org="Nobody Trust Ltd")
    report = listener(context(RootStore.from_ders([root.der])), "CN=Corp Public Root,O=Nobody Trust Ltd")
    (trusted,) = by_code(report, "PUBLIC_CLIENT_CA_TRUSTED")
    assert trusted.breaks_on == datetime(2027, 9, 30, tzinfo=UTC)


# --- where people and machines see it ---------------------------------------------------------


@pytest.mark.parametrize(
    ("program", "in_table"),
    [(MOZILLA, True), (USER, False)],  # the table names the programs only where Chrome's rules do not bind
)
def test_the_writers_show_the_root_programs(program, in_table):
    _root, inter, leaf, store = public_chain(program)
    report = judged(leaf, inter, context(store))

    def render(fmt: OutputFormat) -> str:
        out = io.StringIO()
        writer = make_writer(fmt, out, RunInfo("test", NOW, NOW))
        inventory = Inventory()
        inventory.add(report)
        writer.add(report)
        writer.finish(inventory, 1.0)
        return out.getvalue()

    label = f"public ({program.value})"
    assert (label in render(OutputFormat.TABLE)) is in_table
    assert f"<td>{label}</td>" in render(OutputFormat.HTML)
    (row,) = csv.DictReader(io.StringIO(render(OutputFormat.CSV)))
    assert row["root_programs"] == program.value and row["trust"] == "public"
    (endpoint,) = json.loads(render(OutputFormat.JSON))["endpoints"]
    assert endpoint["root_programs"] == [program.value] and endpoint["trust"] == "public"


def test_certifis_roots_beside_a_user_bundle_are_the_same_roots(mozilla):
    """The light reading (fingerprints and names only) finds what the full RootStore finds."""
    light = pem_program_roots(Path(certifi.where()).read_bytes(), MOZILLA)
    assert (light.fingerprints, light.names) == (mozilla.fingerprints, mozilla.names)
    assert light.has_root_named("IdenTrust Public Sector Root CA 1", "IdenTrust")


@pytest.mark.parametrize(
    ("org", "cn", "cutoff", "said"),
    [
        # Google's own date has passed by NOW (2026-11-27): a renewal from it no longer helps
        (
            "Google Trust Services",
            "WR1",
            "2026-04-13",
            "stopped including clientAuth in certificates issued from",
        ),
        ("Actalis S.p.A.", "Actalis Organization Validated Server CA G3", "2026-06-15", "stopped including"),
        # GlobalSign published no clientAuth date (2026-03-15 is its R3 issuance stop): Chrome's
        (
            "GlobalSign nv-sa",
            "GlobalSign Atlas R3 OV TLS CA 2025 Q3",
            "2027-03-15",
            "a renewal before then still has it",
        ),
    ],
)
def test_the_refreshed_cutoffs_decide_what_a_renewal_buys(org, cn, cutoff, said):
    _root, inter, leaf, store = public_chain(USER, org=org, cn=cn)
    report = judged(leaf, inter, context(store))
    (sunset,) = [f for f in report.findings if f.code == "CLIENTAUTH_SUNSET"]
    assert dict(sunset.details)["clientauth_cutoff"] == cutoff and said in sunset.message
    assert sunset.breaks_on == leaf.cert.not_valid_after_utc  # the day the client links fail
