"""Estate effects on host links: what the inventory does with a pairing finding, and what it leaves alone."""

from __future__ import annotations

from dataclasses import replace

from scanner.core.analysis import analyze
from scanner.core.peers import ca_requests, client_chains, link_pairs
from scanner.edge.files import load_packaged_policy
from scanner.model import (
    EffectKind,
    Finding,
    LinkEffect,
    LinkTarget,
    Role,
    RoleSource,
    Severity,
    Use,
    Verdict,
)
from scanner.report.document import host_dict
from scanner.report.inventory import HostLink, HostReport, Inventory, estate_aims, with_estate_effects
from tests.conftest import context
from tests.factories import NOW, make_chain, observation

PAIRS = link_pairs(load_packaged_policy())


def host(links: tuple[HostLink, ...], verdict: Verdict = Verdict.OK) -> HostReport:
    return HostReport(
        "c", Role.EXPRESSWAY_C, RoleSource.GIVEN, None, "pair", ("c",), (5061,), verdict, None, (), links
    )


def pairing_finding(kind: EffectKind = EffectKind.ISSUER_NOT_ACCEPTED) -> Finding:
    effect = LinkEffect(kind, frozenset(Use), "the E does not trust the C's CA", None)
    targets = (LinkTarget("c", "traversal-zone", Use.CLIENT), LinkTarget("e", "traversal-server", Use.SERVER))
    return Finding("TRAVERSAL_CA_NOT_ACCEPTED", Severity.HIGH, "m", effect=effect, targets=targets)


def test_a_targeted_link_breaks_and_the_host_follows():
    links = (
        HostLink("traversal-zone", Use.CLIENT, Verdict.AT_RISK, "sunset", NOW.replace(year=2027)),
        HostLink("ssh-tunnels", Use.CLIENT, Verdict.AT_RISK, "sunset", NOW.replace(year=2027)),
    )
    judged = with_estate_effects(host(links, Verdict.AT_RISK), estate_aims([pairing_finding()]), NOW)
    zone, ssh = judged.links
    assert (zone.verdict, zone.reason, zone.breaks_on) == (
        Verdict.BREAKS,
        "the E does not trust the C's CA",
        NOW,
    )
    assert ssh == links[1]  # not a target
    assert (judged.verdict, judged.breaks_on) == (Verdict.BREAKS, NOW)
    assert host_dict(judged)["links"][0]["verdict"] == "breaks"


def test_a_link_that_already_breaks_keeps_its_own_reason_and_other_hosts_are_untouched():
    broken = (HostLink("traversal-zone", Use.CLIENT, Verdict.BREAKS, "leaf EKU lacks clientAuth", NOW),)
    assert (
        with_estate_effects(host(broken, Verdict.BREAKS), estate_aims([pairing_finding()]), NOW).links
        == broken
    )
    other = replace(host((HostLink("traversal-zone", Use.CLIENT, Verdict.OK, "ok", None),)), host="elsewhere")
    assert with_estate_effects(other, estate_aims([pairing_finding()]), NOW) is other
    # The server target names the E's server link: the C's client link of that name is not it.
    mixed = host((HostLink("traversal-server", Use.CLIENT, Verdict.OK, "ok", None),))
    mixed = replace(mixed, host="e")
    assert with_estate_effects(mixed, estate_aims([pairing_finding()]), NOW).links == mixed.links


def test_certificate_files_ask_nothing_and_a_scan_without_pairs_compares_nothing():
    _, inter, leaf = make_chain()
    report = analyze(observation(leaf, inter, port=0, role=Role.EXPRESSWAY), context())
    assert ca_requests(report, {"traversal-server"}) == ()
    assert [c.link for c in client_chains(report, PAIRS)] == [
        "traversal-zone",
        "ssh-tunnels",
        "sip-tls-to-cucm",
    ]
    e_side = analyze(
        observation(leaf, inter, host="192.0.2.11", port=7001, role=Role.EXPRESSWAY_E, requested=True),
        context(),
    )
    c_side = analyze(observation(leaf, inter, port=5061, role=Role.EXPRESSWAY_C), context())
    for pairs, expected in (((), []), (PAIRS, ["TRAVERSAL_CA_NAMES_UNKNOWN"])):
        inventory = Inventory(now=NOW, link_pairs=pairs)
        inventory.add(c_side)
        inventory.add(e_side)
        assert [f.code for f in inventory.summary().findings if f.code.startswith("TRAVERSAL_")] == expected


def test_hosts_are_the_same_whether_the_reports_share_objects_or_not():
    """The inventory takes a tuple of links, or a chain's client chains, once per host when
    reports share them (as the analysis makes them); copies that share nothing give the same hosts."""
    import itertools
    import pickle

    from scanner.core.analysis import analyze_host

    root, inter, leaf = make_chain("both", leaf_cn="expe.example.test")
    _, _, other = make_chain("serverAuth", leaf_cn="expc.example.test")
    analysis = context()
    reports = []
    hosts_seen = [
        (leaf, Role.EXPRESSWAY_C, (7001, 5061, 8443, 443)),
        (other, Role.EXPRESSWAY_E, (7001, 5061, 7001)),
    ]
    for n, (cert, role, ports) in enumerate(hosts_seen):
        names = ("CN=Test Intermediate",) if n else ()
        host = f"192.0.2.{n + 1}"
        observations = [
            observation(cert, inter, root, host=host, port=p, role=role, requested=bool(n), ca_names=names)
            for p in ports
        ]
        reports += analyze_host(observations, analysis)
    # The paths that take shared objects once: a port seen again (the same report), and the same
    # links with another trust object or another chain (their client chains are computed again).
    reports.append(reports[0])
    reports.append(replace(reports[1], trust=replace(reports[1].trust)))
    reports.append(replace(reports[1], chain=reports[5].chain, trust=reports[5].trust))  # another leaf

    def hosts(items):
        inventory = Inventory(now=NOW, link_pairs=PAIRS)
        for report in items:
            inventory.add(report)
        return list(inventory.each_host())

    shared = hosts(reports)
    copies = [pickle.loads(pickle.dumps(r)) for r in reports]
    assert not any(a.links is b.links for a, b in itertools.combinations(copies, 2))
    assert shared == hosts(copies)
    # ... and both are the hosts the reports make, taken one by one.
    for host in shared:
        mine = [r for r in reports if r.endpoint.host == host.host]
        assert {(link.name, link.uses) for link in host.links} == {
            (x.name, x.uses) for r in mine for x in r.links
        }
        expected_chains = {(c.link, c.leaf_sha256) for r in mine for c in client_chains(r, PAIRS)}
        assert {(c.link, c.leaf_sha256) for c in host.client_chains} == expected_chains
    assert any(h.client_chains for h in shared) and any(h.ca_requests for h in shared)
