"""Product certificate models (issue 9): CUCM's certificate per service, CUBE's client-EKU
condition, Expressway-E's feature links from X15.4, and the target CSV's ``links`` column.

The expectations come from the policy data (``links`` in ``policy.json``) wherever a name, a
service or a condition is concerned; what is written here is how the judgement must use them.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.analysis import analyze, analyze_host
from scanner.core.certs import sha256_hex
from scanner.core.policy import ConditionScope, LinkSpec, PolicyError
from scanner.core.policy_schema import parse_policy
from scanner.core.targets import TargetError, expand, parse_csv, parse_links
from scanner.core.trust import RootStore
from scanner.edge.files import load_packaged_policy
from scanner.model import Endpoint, EndpointReport, Observation, Role, Status, Use, Verdict, Version
from scanner.report.document import host_dict
from scanner.report.inventory import HostReport, Inventory
from scanner.writers import OutputFormat, RunInfo, make_writer
from tests.conftest import REPO, context
from tests.factories import DAY, NOW, make_chain, observation

POLICY = load_packaged_policy()
CUCM_BANNER = "Cisco-CUCM14.0"


def specs(role: Role, version: str | None = None) -> tuple[LinkSpec, ...]:
    return POLICY.links_for(role, Version.parse(version) if version else None)


def by_name(report: EndpointReport | HostReport) -> dict[tuple[str, Use], object]:
    return {(link.name, link.uses): link for link in report.links}


def host_of(reports: list[EndpointReport]) -> HostReport:
    inventory = Inventory(now=NOW)
    for report in reports:
        inventory.add(report)
    (host,) = inventory.each_host()
    return host


# --- CUCM: a certificate per service ---------------------------------------------------------

PUBLIC_ROOT, PUBLIC_CA, TOMCAT = make_chain("serverAuth", leaf_cn="cucm.example.test")
PRIVATE_ROOT, PRIVATE_CA, CALLMANAGER = make_chain("both", leaf_cn="cucm.example.test")
ROOTS = RootStore.from_ders([PUBLIC_ROOT.der])


def callmanager(port: int = 5061, **kw: object) -> Observation:
    return observation(CALLMANAGER, PRIVATE_CA, PRIVATE_ROOT, port=port, sip_server=CUCM_BANNER, **kw)  # type: ignore[arg-type]


def tomcat(port: int = 8443, **kw: object) -> Observation:
    return observation(TOMCAT, PUBLIC_CA, port=port, **kw)  # type: ignore[arg-type]


def service_links(service: str, use: Use) -> set[str]:
    return {s.name for s in specs(Role.CUCM) if s.service == service and s.uses is use}


def test_the_policy_gives_cucm_a_certificate_per_service():
    """FN74345: CallManager (5061, the trunks' client certificate), Tomcat (8443/443), TVS, IPSec."""
    services = {s.service for s in specs(Role.CUCM)}
    assert services == {"callmanager", "tomcat", "tvs", "ipsec"}
    ports = {s.service: s.ports for s in specs(Role.CUCM) if s.uses is Use.SERVER}
    assert ports["callmanager"] == {5061} and ports["tomcat"] == {8443, 443}
    assert "ipsec" not in ports  # IKE, not TLS: no port shows it
    assert "sip-tls-trunk-out" in service_links("callmanager", Use.CLIENT)
    assert all(s.source.startswith("Cisco FN74345") for s in specs(Role.CUCM))


def test_cucm_client_links_are_judged_on_their_service_certificate():
    """Tomcat on 8443 is public serverAuth-only, CallManager on 5061 private with clientAuth:
    the trunks work; only Tomcat's own client uses break (where they are used)."""
    reports = analyze_host([callmanager(), tomcat()], context(ROOTS))
    on_5061, on_8443 = (by_name(r) for r in reports)
    for name in service_links("callmanager", Use.CLIENT):
        assert on_5061[(name, Use.CLIENT)].verdict is Verdict.OK  # type: ignore[attr-defined]
        assert (name, Use.CLIENT) not in on_8443  # never judged on Tomcat's certificate
    for name in service_links("tomcat", Use.CLIENT):
        link = on_8443[(name, Use.CLIENT)]
        assert link.verdict is Verdict.BREAKS and link.reason == "leaf EKU lacks clientAuth"  # type: ignore[attr-defined]
        spec = next(s for s in specs(Role.CUCM) if s.name == name)
        assert spec.condition is not None and link.condition == spec.condition.text  # type: ignore[attr-defined]
        assert (name, Use.CLIENT) not in on_5061
    assert reports[0].services == ("callmanager",) and reports[1].services == ("tomcat",)
    # Tomcat's client uses need clientAuth: the finding says so on 8443, not on 5061.
    assert "EKU_NO_CLIENTAUTH" in {f.code for f in reports[1].findings}
    assert "EKU_NO_CLIENTAUTH" not in {f.code for f in reports[0].findings}


def test_the_host_reports_its_certificates_by_service():
    host = host_of(analyze_host([callmanager(), tomcat(), tomcat(443)], context(ROOTS)))
    by_service = host.certificates_by_service
    assert set(by_service) == {"callmanager", "tomcat"}
    assert [c.sha256 for c in by_service["callmanager"]] == [sha256_hex(CALLMANAGER.der)]
    assert by_service["tomcat"][0].ports == (443, 8443) and by_service["tomcat"][0].trust.value == "public"
    assert not host.certificate_mismatch  # a certificate per service is CUCM's design, not a mismatch
    assert by_name(host)[("sip-tls-trunk-out", Use.CLIENT)].verdict is Verdict.OK  # type: ignore[attr-defined]
    document = host_dict(host)
    assert set(document["certificates_by_service"]) == {"callmanager", "tomcat"}
    assert document["certificates_by_service"]["tomcat"][0]["ports"] == [443, 8443]
    assert {tuple(c["services"]) for c in document["certificates"]} == {("callmanager",), ("tomcat",)}


def test_two_certificates_on_one_cucm_service_are_a_mismatch():
    other_root, other_ca, other_tomcat = make_chain("serverAuth", leaf_cn="cucm.example.test")
    extra = observation(other_tomcat, other_ca, other_root, port=443)
    host = host_of(analyze_host([callmanager(), tomcat(), extra], context(ROOTS)))
    assert host.certificate_mismatch


def test_an_expressway_keeps_one_certificate_for_every_link():
    """The same two certificates on an Expressway-C: every client link is judged on each, so the
    serverAuth-only one breaks them (what a one-certificate reading of CUCM would wrongly say)."""
    reports = analyze_host(
        [callmanager(role=Role.EXPRESSWAY_C), tomcat(role=Role.EXPRESSWAY_C)], context(ROOTS)
    )
    client = {s.name for s in specs(Role.EXPRESSWAY_C) if s.uses is Use.CLIENT}
    for report in reports:
        assert {n for n, u in by_name(report) if u is Use.CLIENT} == client
        assert report.services == ()
    assert by_name(host_of(reports))[("traversal-zone", Use.CLIENT)].verdict is Verdict.BREAKS  # type: ignore[attr-defined]
    assert host_of(reports).certificate_mismatch  # one certificate expected, two seen


def test_a_service_certificate_nobody_probed_is_unknown_not_guessed():
    """Only 8443 probed: the trunks' CallManager certificate is unseen, and the link says where it is."""
    (report,) = analyze_host([tomcat(sip_server=CUCM_BANNER)], context(ROOTS))
    link = by_name(report)[("sip-tls-trunk-out", Use.CLIENT)]
    assert link.verdict is Verdict.UNKNOWN  # type: ignore[attr-defined]
    assert link.reason == "the callmanager certificate is presented on 5061, which this scan did not probe"  # type: ignore[attr-defined]
    ipsec = by_name(report)[("ipsec", Use.CLIENT)]
    assert ipsec.verdict is Verdict.UNKNOWN and "not presented on any TLS port" in ipsec.reason  # type: ignore[attr-defined]
    assert report.verdict is Verdict.BREAKS  # Tomcat's own client links


def test_unseen_service_links_are_listed_once_per_host():
    reports = analyze_host([callmanager(), tomcat(), tomcat(443)], context(ROOTS))
    holders = [r.endpoint.port for r in reports if ("online-capf", Use.CLIENT) in by_name(r)]
    assert holders == [443]  # the host's lowest probed port


def test_a_closed_service_port_leaves_its_links_unknown():
    closed = Observation(Endpoint("192.0.2.10", "192.0.2.10", "192.0.2.10", 5061), Status.CLOSED)
    reports = analyze_host([closed, tomcat(sip_server=CUCM_BANNER)], context(ROOTS))
    trunk = by_name(reports[0])[("sip-tls-trunk-out", Use.CLIENT)]
    assert (trunk.verdict, trunk.reason) == (Verdict.UNKNOWN, "no certificate: closed")  # type: ignore[attr-defined]
    assert ("sip-tls-trunk-out", Use.CLIENT) not in by_name(reports[1])


def test_a_public_serverauth_only_callmanager_breaks_the_trunks():
    """The old lab story still holds where it is true: CallManager itself renewed without clientAuth."""
    root, inter, leaf = make_chain("serverAuth")
    (report,) = analyze_host(
        [observation(leaf, inter, sip_server=CUCM_BANNER)], context(RootStore.from_ders([root.der]))
    )
    assert by_name(report)[("sip-tls-trunk-out", Use.CLIENT)].verdict is Verdict.BREAKS  # type: ignore[attr-defined]


def test_a_file_stands_for_any_service():
    """``inspect`` (port 0) judges every link of the role on the file's certificate."""
    report = analyze(observation(TOMCAT, PUBLIC_CA, port=0, role=Role.CUCM), context(ROOTS))
    assert {name for name, _ in by_name(report)} == {s.name for s in specs(Role.CUCM)}
    assert all(link.verdict is not Verdict.UNKNOWN for link in report.links)


# --- CUBE: peers' client EKU checked only where configured (FN74350) --------------------------

LE_R11 = "CN=R11,O=Let's Encrypt,C=US"  # a CA of the policy's public CA table


def cube(banner: str | None, role: Role | None = None, **leaf_kw: object) -> EndpointReport:
    root, inter, leaf = make_chain("both", **leaf_kw)  # type: ignore[arg-type]
    obs = observation(leaf, inter, root, requested=True, ca_names=(LE_R11,), sip_server=banner, role=role)
    return analyze(obs, context())


CUBE_CONDITION = next(s for s in specs(Role.CUBE) if s.uses is Use.SERVER).condition


def test_the_cube_condition_is_policy_data():
    assert CUBE_CONDITION is not None and CUBE_CONDITION.scope is ConditionScope.CLIENT_EKU_CHECK
    assert "match eku client-auth" in CUBE_CONDITION.text and "FN74350" in CUBE_CONDITION.source
    assert CUBE_CONDITION.before_version == Version.parse("26.1.1")


@pytest.mark.parametrize(
    ("banner", "role", "conditional"),
    [
        ("Cisco-SIPGateway/IOS-17.6.5", None, True),
        ("Cisco-SIPGateway/IOS-16.12.4", None, True),
        ("Cisco-SIPGateway/IOS-26.1.1", None, False),  # the fix checks the client EKU itself
        ("Cisco-SIPGateway/IOS-27.1", None, False),
        (None, Role.CUBE, True),  # release unknown: counted as before the fix
    ],
)
def test_cube_inbound_links_are_at_risk_only_under_strict_eku_checking(banner, role, conditional):
    assert CUBE_CONDITION is not None
    report = cube(banner, role)
    assert report.role is Role.CUBE
    server = [link for link in report.links if link.uses is Use.SERVER]
    assert server and all(link.verdict is Verdict.AT_RISK for link in server)
    for link in server:
        assert link.condition == (CUBE_CONDITION.text if conditional else None)
        assert ("match eku client-auth" in link.reason) is conditional
    # CUBE's own client certificate is judged by its peers: no condition there.
    assert all(link.condition is None for link in report.links if link.uses is Use.CLIENT)


def test_a_cube_verdict_from_its_own_certificate_carries_no_condition():
    report = cube("Cisco-SIPGateway/IOS-17.6.5", not_after=NOW - DAY)
    server = [link for link in report.links if link.uses is Use.SERVER]
    assert server and all((link.verdict, link.condition) == (Verdict.BREAKS, None) for link in server)


def test_an_expressway_accepting_public_cas_is_at_risk_unconditionally():
    report = cube("TANDBERG/4137 (X14.3.2)", Role.EXPRESSWAY_E)
    server = [link for link in report.links if link.uses is Use.SERVER]
    assert server and all((link.verdict, link.condition) == (Verdict.AT_RISK, None) for link in server)


# --- Expressway-E from X15.4: client links that exist only where their feature is used ---------

E_FEATURE_LINKS = {"b2b-federation", "webex-hybrid", "cloud-onboarding", "xmpp-federation", "neighbour-zones"}


def expe(release: str | None, role: Role = Role.EXPRESSWAY_E) -> EndpointReport:
    root, inter, leaf = make_chain("serverAuth")
    banner = f"TANDBERG/4137 ({release})" if release else None
    obs = observation(leaf, inter, role=role, sip_server=banner)
    return analyze(obs, context(RootStore.from_ders([root.der])))


def test_from_x15_4_the_e_client_links_are_the_feature_links_of_tn225482():
    client = {s.name for s in specs(Role.EXPRESSWAY_E, "X15.4") if s.uses is Use.CLIENT}
    assert client == E_FEATURE_LINKS
    for spec in specs(Role.EXPRESSWAY_E):
        if spec.name in E_FEATURE_LINKS:
            assert spec.condition is not None and spec.condition.from_version == Version.parse("X15.4")
            assert spec.condition.scope is ConditionScope.LINK and spec.condition.source


@pytest.mark.parametrize("release", [None, "X14.3.2", "X15.3.2", "X15.4", "X15.4.1", "X15.5.1"])
def test_e_client_links_carry_their_condition_from_x15_4(release):
    report = expe(release)
    version = Version.parse(release) if release else None
    from_x154 = version is not None and version >= Version.parse("X15.4")
    for link in report.links:
        spec = next(
            s for s in specs(Role.EXPRESSWAY_E, release) if (s.name, s.uses) == (link.name, link.uses)
        )
        if link.uses is Use.SERVER or not from_x154:
            assert link.condition is None, link.name  # server links exist: we saw them listen
        else:
            assert spec.condition is not None and link.condition == spec.condition.text
    client = [link for link in report.links if link.uses is Use.CLIENT]
    separate = POLICY.releases.separate_client_store(version)
    assert client and all(
        link.verdict is (Verdict.UNKNOWN if separate else Verdict.BREAKS) for link in client
    )


def test_before_x15_4_the_single_certificate_links_are_unconditional():
    client = {link.name for link in expe("X14.3.2").links if link.uses is Use.CLIENT}
    assert {"mra-sip-service", "cluster"} <= client  # gone from X15.4 (TN225482)


@pytest.mark.parametrize("role", [Role.EXPRESSWAY_C, Role.EXPRESSWAY])
def test_expressway_c_links_stay_unconditional_on_x15_4(role):
    report = expe("X15.4", role)
    c_links = {s.name for s in specs(Role.EXPRESSWAY_C) if s.uses is Use.CLIENT}
    for link in report.links:
        if link.name in c_links:
            assert link.condition is None, link.name


def render(fmt: OutputFormat, reports: list[EndpointReport]) -> str:
    out = io.StringIO()
    writer = make_writer(fmt, out, RunInfo("test", NOW, NOW))
    inventory = Inventory(now=NOW)
    for report in reports:
        if inventory.add(report):
            writer.add(report)
    writer.finish(inventory, 1.0)
    return out.getvalue()


def test_the_outputs_say_breaks_if_the_feature_is_used():
    report = expe("X15.4")
    table = render(OutputFormat.TABLE, [report])
    assert "breaks, if B2B federation is used: b2b-federation (client): leaf EKU lacks clientAuth" in table
    assert "breaks: b2b-federation" not in table
    document = json.loads(render(OutputFormat.JSON, [report]))
    (b2b,) = [link for link in document["endpoints"][0]["links"] if link["name"] == "b2b-federation"]
    assert b2b["condition"] == "B2B federation is used"
    (host,) = document["hosts"]
    assert {link["name"]: link["condition"] for link in host["links"]}["b2b-federation"] == b2b["condition"]
    rows = list(csv.DictReader(io.StringIO(render(OutputFormat.CSV, [report]))))
    assert "b2b-federation/client: B2B federation is used" in rows[0]["link_conditions"].split(";")
    assert "if B2B federation is used" in render(OutputFormat.HTML, [report])


def test_the_cucm_table_lists_its_certificates_by_service():
    table = render(OutputFormat.TABLE, analyze_host([callmanager(), tomcat()], context(ROOTS)))
    assert "certificates by service:" in table
    assert "callmanager: cucm.example.test (private) on 5061" in table
    assert "tomcat: cucm.example.test (public) on 8443" in table
    assert "different certificates" not in table
    rows = list(csv.DictReader(io.StringIO(render(OutputFormat.CSV, [analyze(callmanager(), context())]))))
    assert rows[0]["services"] == "callmanager"


# --- the CSV's links column --------------------------------------------------------------------

CSV_HEADER = "target,ports,role,sni,label,links"


def csv_specs(*rows: str):
    return parse_csv([CSV_HEADER, *rows], "t.csv", link_names=POLICY.link_names)


def test_the_links_column_reaches_the_endpoints():
    (spec,) = csv_specs("192.0.2.10,5061;7001,expressway-e,,dmz,traversal-server; b2b-federation")
    assert spec.links == ("traversal-server", "b2b-federation")
    assert {e.links for e in expand([spec])} == {("traversal-server", "b2b-federation")}
    (plain,) = csv_specs("192.0.2.11,5061,expressway-e,,dmz,")
    assert plain.links is None  # empty: judge every link


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "192.0.2.10,5061,expressway-e,,,b2b-federaton",
            "t.csv:2: unknown link 'b2b-federaton' for role expressway-e",
        ),
        ("192.0.2.10,5061,expressway-e,,,traversal-zone", "t.csv:2: unknown link 'traversal-zone' for role"),
        ("192.0.2.10,5061,,,,no-such-link", "t.csv:2: unknown link 'no-such-link' for any role"),
    ],
)
def test_unknown_link_names_are_refused_naming_the_line(row, message):
    with pytest.raises(TargetError) as caught:
        csv_specs(row)
    assert str(caught.value).startswith(message)


def test_a_link_of_any_role_is_accepted_when_the_row_has_none():
    (spec,) = csv_specs("192.0.2.10,5061,,,,traversal-zone;sip-tls-trunk-out")
    assert spec.links == ("traversal-zone", "sip-tls-trunk-out")


def with_links(obs: Observation, links: tuple[str, ...]) -> Observation:
    from dataclasses import replace

    return replace(obs, endpoint=replace(obs.endpoint, links=links))


def test_only_the_named_links_are_judged_and_named_ones_lose_their_condition():
    report = expe("X15.4")
    used = ("mra-sip", "b2b-federation")
    root, inter, leaf = make_chain("serverAuth")
    obs = with_links(
        observation(leaf, inter, role=Role.EXPRESSWAY_E, sip_server="TANDBERG/4137 (X15.4)"), used
    )
    narrowed = analyze(obs, context(RootStore.from_ders([root.der])))
    assert {link.name for link in narrowed.links} == set(used)
    b2b = by_name(narrowed)[("b2b-federation", Use.CLIENT)]
    assert (b2b.verdict, b2b.condition) == (Verdict.BREAKS, None)  # type: ignore[attr-defined]
    assert len(report.links) > len(narrowed.links)


def test_a_host_said_to_use_only_server_links_has_no_client_findings():
    root, inter, leaf = make_chain("serverAuth")
    obs = with_links(observation(leaf, inter, role=Role.EXPRESSWAY_E), ("mra-sip",))
    report = analyze(obs, context(RootStore.from_ders([root.der])))
    assert [(link.name, link.verdict) for link in report.links] == [("mra-sip", Verdict.OK)]
    assert "EKU_NO_CLIENTAUTH" not in {f.code for f in report.findings}


ROLES_WITH_LINKS = [Role.EXPRESSWAY_C, Role.EXPRESSWAY_E, Role.EXPRESSWAY, Role.CUCM, Role.CUBE]


@settings(max_examples=60, deadline=None)
@given(
    role=st.sampled_from(ROLES_WITH_LINKS),
    port=st.sampled_from([0, 443, 5061, 7001, 8443, 2445]),
    data=st.data(),
)
def test_the_links_judged_are_never_more_than_those_named(role, port, data):
    names = sorted({s.name for s in specs(role)})
    used = tuple(data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True)))
    obs = observation(CALLMANAGER, PRIVATE_CA, PRIVATE_ROOT, role=role, port=port)
    report = analyze(with_links(obs, used), context())
    judged = {link.name for link in report.links}
    assert judged <= set(used)
    # Unserviced client links present the host's one certificate: named, they are judged everywhere.
    everywhere = {s.name for s in specs(role) if s.uses is Use.CLIENT and s.service is None}
    assert everywhere & set(used) <= judged
    # A named link exists: it has no condition left (no public client CAs here, so neither CUBE's).
    assert all(link.condition is None for link in report.links)


@settings(max_examples=80, deadline=None)
@given(
    picked=st.lists(st.sampled_from(sorted(POLICY.link_names(Role.CUCM))), min_size=1, max_size=6),
    separators=st.lists(st.sampled_from([";", "; ", " ;", ",", ";;"]), min_size=6, max_size=6),
)
def test_parse_links_keeps_the_order_and_drops_repeats(picked, separators):
    text = "".join(name + sep for name, sep in zip(picked, separators, strict=False))
    assert parse_links(text, Role.CUCM, POLICY.link_names) == tuple(dict.fromkeys(picked))


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=20))
def test_parse_links_refuses_what_the_policy_does_not_name(name):
    known = POLICY.link_names(None)
    if name in known or not name.strip("-"):
        return
    with pytest.raises(TargetError, match="unknown link"):
        parse_links(name, None, POLICY.link_names)


def test_the_example_targets_name_real_links():
    specs_ = parse_csv(
        (REPO / "targets.example.csv").read_text().splitlines(),
        "targets.example.csv",
        link_names=POLICY.link_names,
    )
    assert any(s.links for s in specs_)


def test_a_bad_link_name_is_a_usage_error_exit_2(tmp_path: Path):
    """No probe is sent: the CSV is refused before the scan starts."""
    targets = tmp_path / "t.csv"
    targets.write_text(f"{CSV_HEADER}\n127.0.0.1:9,,cucm,,,sip-tls-trunk;tomcat-htps\n")
    result = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", "-i", str(targets)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"ekuscan: error: {targets}:2: unknown link 'tomcat-htps' for role cucm")


# --- policy schema: service, condition and source are checked ----------------------------------


def test_link_conditions_are_validated_with_their_paths():
    document = json.loads(json.dumps(POLICY.document))
    links = document["links"]
    cube_at = next(i for i, link in enumerate(links) if link["role"] == "cube" and "condition" in link)
    links[cube_at]["condition"]["scope"] = "sometimes"
    links[cube_at]["condition"]["before_version"] = "soon"
    del links[cube_at]["condition"]["source"]
    links[0]["condition"] = {"text": "", "source": "x", "colour": "red"}
    links[1]["service"] = 5
    with pytest.raises(PolicyError) as caught:
        parse_policy(document)
    problems = caught.value.problems
    where = f"policy.links[{cube_at}].condition"
    for expected in (
        f"{where}.scope",
        f"{where}.before_version",
        f"{where}.source",
        "policy.links[0].condition.text",
        "policy.links[0].condition.colour",
        "policy.links[1].service",
    ):
        assert any(p.startswith(expected + ":") for p in problems), (expected, problems)
    assert len(problems) == 6, problems


def test_a_condition_without_a_scope_is_about_the_link():
    document = json.loads(json.dumps(POLICY.document))
    document["links"][0]["condition"] = {"text": "a feature is used", "source": "a note"}
    parsed = parse_policy(document)
    assert parsed.links[0].condition is not None and parsed.links[0].condition.scope is ConditionScope.LINK
