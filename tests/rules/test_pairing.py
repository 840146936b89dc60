"""The pairing estate rules over plain data: a C's chain (real CA names) against the CAs its E names."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from cryptography import x509

from scanner.core.certs import parse_der, split_certificates
from scanner.core.name_match import NameKey
from scanner.core.peers import ClientCARequest, ClientChain, LinkPair, issuer_names, link_pairs, root_name
from scanner.core.policy import PolicyError
from scanner.core.policy_schema import parse_policy
from scanner.core.rules import ESTATE_RULES, RULES_BY_CODE, HostIdentity, evaluate_estate
from scanner.edge.files import load_packaged_policy, packaged_policy_text
from scanner.model import CertFacts, EffectKind, Finding, LinkTarget, Role, Severity, Use, Verdict
from tests.conftest import REALCERTS
from tests.factories import Made, key, make_cert

C, E, X, CUCM = Role.EXPRESSWAY_C, Role.EXPRESSWAY_E, Role.EXPRESSWAY, Role.CUCM
PAIRING_CODES = (
    "TRAVERSAL_CA_NOT_ACCEPTED",
    "TRAVERSAL_CA_ROOT_NOT_NAMED",
    "TRAVERSAL_CA_NAMES_UNKNOWN",
    "TRAVERSAL_CLIENT_CERT_NOT_REQUESTED",
)


def real(name: str) -> CertFacts:
    (der,) = split_certificates((REALCERTS / name).read_bytes())
    return parse_der(der).facts  # type: ignore[return-value]


DIGICERT = real("digicert-global-g2-tls-rsa-sha256-2020-ca1.pem")  # under DigiCert Global Root G2
HYDRANT = real("hydrantid-server-ca-o1.pem")  # under IdenTrust Commercial Root CA 1
R11 = real("letsencrypt-r11.pem")  # under ISRG Root X1


def leaf_under(ca_file: str) -> CertFacts:
    """A leaf whose issuer is a real CA's name, byte for byte (signed by a test key, not the CA's)."""
    (der,) = split_certificates((REALCERTS / ca_file).read_bytes())
    ca = Made(x509.load_der_x509_certificate(der), key())
    return parse_der(make_cert("expc.example.test", issuer=ca).der).facts  # type: ignore[return-value]


def chain(
    ca: CertFacts,
    ca_file: str,
    link: str = "traversal-zone",
    peer: tuple[Role, str] = (E, "traversal-server"),
):
    leaf = leaf_under(ca_file)
    path = (leaf, ca)
    return ClientChain(link, peer[0], peer[1], leaf.sha256, leaf.issuer, issuer_names(path), root_name(path))


def by_der(*certs_and_sides: tuple[CertFacts, str]) -> tuple[NameKey, ...]:
    """CA names as a server sends them: the subject (or issuer) DER of real certificates."""
    return tuple(
        NameKey.of_der(c.subject_der, c.subject)
        if side == "subject"
        else NameKey.of_der(c.issuer_der, c.issuer)
        for c, side in certs_and_sides
    )


def asks(names: Sequence[NameKey], link: str = "traversal-server", port: int = 7001, requested: bool = True):
    return ClientCARequest(link, port, requested, tuple(names))


def c_host(name: str, *chains: ClientChain, label: str = "pair", role: Role = C) -> HostIdentity:
    return HostIdentity(name, role, None, label, client_chains=chains)


def e_host(name: str, *requests: ClientCARequest, label: str = "pair", role: Role = E) -> HostIdentity:
    return HostIdentity(name, role, None, label, ca_requests=requests)


def found(hosts: Sequence[HostIdentity], code: str) -> list[Finding]:
    findings = [f for f in evaluate_estate(hosts, ESTATE_RULES) if f.code == code]
    for f in findings:
        assert f.severity is RULES_BY_CODE[code].severity
    return findings


def pairing(hosts: Sequence[HostIdentity]) -> list[str]:
    return [f.code for f in evaluate_estate(hosts, ESTATE_RULES) if f.code in PAIRING_CODES]


DIGICERT_C = chain(DIGICERT, "digicert-global-g2-tls-rsa-sha256-2020-ca1.pem")
HYDRANT_C = chain(HYDRANT, "hydrantid-server-ca-o1.pem")


def test_an_e_that_names_the_cs_issuing_ca_and_root_accepts_it():
    hosts = [c_host("c", DIGICERT_C), e_host("e", asks(by_der((DIGICERT, "subject"), (DIGICERT, "issuer"))))]
    assert pairing(hosts) == []


def test_an_e_that_names_the_cs_issuing_ca_alone_accepts_it_only_with_a_partial_chain():
    """Not a break (a partial-chain verifier accepts it), but OpenSSL's default refuses it: say so."""
    hosts = [c_host("c", DIGICERT_C), e_host("e", asks(by_der((DIGICERT, "subject"))))]
    assert pairing(hosts) == ["TRAVERSAL_CA_ROOT_NOT_NAMED"]
    (finding,) = found(hosts, "TRAVERSAL_CA_ROOT_NOT_NAMED")
    assert finding.effect is None and finding.severity is Severity.MEDIUM
    assert dict(finding.details)["root"] == DIGICERT.issuer and "DigiCert Global Root G2" in finding.message


def test_an_e_that_names_the_cs_root_accepts_it():
    """The E names DigiCert Global Root G2 only (the CA's issuer): the C's chain builds to it."""
    hosts = [c_host("c", DIGICERT_C), e_host("e", asks(by_der((R11, "subject"), (DIGICERT, "issuer"))))]
    assert pairing(hosts) == []


def test_an_e_that_names_none_of_the_cs_cas_breaks_the_traversal_zone_on_both_ends():
    hosts = [c_host("c", DIGICERT_C), e_host("e", asks(by_der((R11, "subject"), (HYDRANT, "issuer"))))]
    (finding,) = found(hosts, "TRAVERSAL_CA_NOT_ACCEPTED")
    assert finding.severity is Severity.HIGH
    assert finding.targets == (
        LinkTarget("c", "traversal-zone", Use.CLIENT),
        LinkTarget("e", "traversal-server", Use.SERVER),
    )
    assert finding.effect is not None and finding.effect.kind is EffectKind.ISSUER_NOT_ACCEPTED
    assert finding.effect.verdict is Verdict.BREAKS and finding.effect.uses == {Use.CLIENT, Use.SERVER}
    details = dict(finding.details)
    assert (
        details["client_host"] == "c" and details["server_host"] == "e" and details["server_ports"] == "7001"
    )
    assert "DigiCert Global G2 TLS RSA SHA256 2020 CA1" in details["client_issuer"]
    assert "R11" in details["accepted_cas"] and "IdenTrust Commercial Root CA 1" in details["accepted_cas"]
    assert finding.cert_sha256 == DIGICERT_C.leaf_sha256
    assert "whatever the EKU says" in finding.message


def test_an_e_that_names_no_cas_cannot_be_judged_and_says_so():
    hosts = [c_host("c", DIGICERT_C), e_host("e", asks(()))]
    assert pairing(hosts) == ["TRAVERSAL_CA_NAMES_UNKNOWN"]
    (finding,) = found(hosts, "TRAVERSAL_CA_NAMES_UNKNOWN")
    assert finding.effect is None and "names no CAs" in finding.message


def test_an_e_that_does_not_ask_is_reported_not_judged():
    hosts = [c_host("c", DIGICERT_C), e_host("e", asks((), requested=False))]
    assert pairing(hosts) == ["TRAVERSAL_CLIENT_CERT_NOT_REQUESTED"]
    (finding,) = found(hosts, "TRAVERSAL_CLIENT_CERT_NOT_REQUESTED")
    assert finding.effect is None and "does not ask" in finding.message


def test_hosts_of_different_labels_are_not_compared():
    hosts = [c_host("c", DIGICERT_C, label="a"), e_host("e", asks(by_der((R11, "subject"))), label="b")]
    assert pairing(hosts) == []


def test_several_cs_and_es_in_one_label_are_compared_each_with_each():
    trusts_digicert = e_host("e1", asks(by_der((DIGICERT, "issuer"))))
    trusts_hydrant = e_host("e2", asks(by_der((HYDRANT, "subject")), port=7002))
    hosts = [c_host("c1", DIGICERT_C), c_host("c2", HYDRANT_C), trusts_digicert, trusts_hydrant]
    refused = {
        (dict(f.details)["client_host"], dict(f.details)["server_host"])
        for f in found(hosts, "TRAVERSAL_CA_NOT_ACCEPTED")
    }
    assert refused == {("c1", "e2"), ("c2", "e1")}


def test_one_refusing_port_of_several_breaks_the_link_and_names_that_port():
    e = e_host("e", asks(by_der((DIGICERT, "subject"))), asks(by_der((R11, "subject")), port=7003))
    (finding,) = found([c_host("c", DIGICERT_C), e], "TRAVERSAL_CA_NOT_ACCEPTED")
    assert dict(finding.details)["server_ports"] == "7003"


def test_a_host_of_unknown_side_pairs_but_never_with_itself():
    both = HostIdentity("x", X, None, "pair", (DIGICERT_C,), (asks(by_der((R11, "subject"))),))
    assert pairing([both]) == []
    assert pairing([both, e_host("e", asks(by_der((R11, "subject"))), role=X)]) == [
        "TRAVERSAL_CA_NOT_ACCEPTED"
    ]


def test_a_server_of_another_role_or_link_is_not_the_peer():
    cucm_asks = asks(by_der((R11, "subject")), link="traversal-server")
    assert pairing([c_host("c", DIGICERT_C), e_host("u", cucm_asks, role=CUCM)]) == []
    ssh = asks(by_der((R11, "subject")), link="ssh-tunnels-server", port=2222)
    assert pairing([c_host("c", DIGICERT_C), e_host("e", ssh)]) == []  # the C's traversal-zone dials 7001


def test_cucm_trunks_pair_in_the_direction_the_link_table_gives():
    """The C's SIP trunk presents its certificate to CUCM's CallManager port; CUCM's outbound trunk
    presents the CallManager certificate to the C's SIP port."""
    to_cucm = chain(
        DIGICERT, "digicert-global-g2-tls-rsa-sha256-2020-ca1.pem", "sip-tls-to-cucm", (CUCM, "sip-tls-trunk")
    )
    cucm_out = chain(HYDRANT, "hydrantid-server-ca-o1.pem", "sip-tls-trunk-out", (C, "sip-tls-inbound"))
    c = HostIdentity(
        "c", C, None, "", (to_cucm,), (asks(by_der((HYDRANT, "subject")), "sip-tls-inbound", 5061),)
    )
    cucm = HostIdentity(
        "u", CUCM, None, "", (cucm_out,), (asks(by_der((R11, "subject")), "sip-tls-trunk", 5061),)
    )
    (finding,) = found([c, cucm], "TRAVERSAL_CA_NOT_ACCEPTED")
    assert finding.targets == (
        LinkTarget("c", "sip-tls-to-cucm", Use.CLIENT),
        LinkTarget("u", "sip-tls-trunk", Use.SERVER),
    )


def test_text_only_names_match_exactly_and_do_not_guess():
    """A stored record without DER keeps the text: equal text is accepted, a case variant is not."""
    text = DIGICERT.issuer  # the root's name
    assert pairing([c_host("c", DIGICERT_C), e_host("e", asks((NameKey.of_text(text),)))]) == []
    variant = (NameKey.of_text(text.upper()),)
    assert pairing([c_host("c", DIGICERT_C), e_host("e", asks(variant))]) == ["TRAVERSAL_CA_NOT_ACCEPTED"]


def test_the_packaged_link_table_names_the_peers():
    pairs = set(link_pairs(load_packaged_policy()))
    assert {
        LinkPair(C, "traversal-zone", E, "traversal-server"),
        LinkPair(C, "ssh-tunnels", E, "ssh-tunnels-server"),
        LinkPair(C, "sip-tls-to-cucm", CUCM, "sip-tls-trunk"),
        LinkPair(CUCM, "sip-tls-trunk-out", C, "sip-tls-inbound"),
    } == pairs


@pytest.mark.parametrize("code", PAIRING_CODES)
def test_each_pairing_rule_is_registered_once_and_documented(code):
    rule = RULES_BY_CODE[code]
    assert sum(r.code == code for r in ESTATE_RULES) == 1
    assert rule.doc and rule.summary
    if code == "TRAVERSAL_CA_NOT_ACCEPTED":
        assert rule.fix and "X509_NAME_cmp" in rule.doc


def _policy_with(change) -> list[str]:
    doc = json.loads(packaged_policy_text())
    change(doc["links"])
    with pytest.raises(PolicyError) as caught:
        parse_policy(doc)
    return caught.value.problems


def _link(links, role: str, name: str, uses: str):
    return next(x for x in links if (x["role"], x["name"], x["uses"]) == (role, name, uses))


def test_a_peer_must_be_a_server_link_of_its_role_and_only_a_client_link_has_one():
    def missing(links):
        _link(links, "expressway-c", "traversal-zone", "client")["peer"]["link"] = "no-such-link"

    def on_a_server(links):
        _link(links, "expressway-e", "traversal-server", "server")["peer"] = {
            "role": "expressway-c",
            "link": "x",
        }

    def bad_role(links):
        _link(links, "expressway-c", "traversal-zone", "client")["peer"] = {"role": "nobody", "link": "x"}

    assert any("no server link 'no-such-link' of role expressway-e" in p for p in _policy_with(missing))
    assert any("only a client link has a peer" in p for p in _policy_with(on_a_server))
    assert any(".peer.role" in p for p in _policy_with(bad_role))


def test_hosts_without_a_label_pair_only_with_a_single_server_end():
    refusing = asks(by_der((R11, "subject")))
    one = [c_host("c", DIGICERT_C, label=""), e_host("e", refusing, label="")]
    assert pairing(one) == ["TRAVERSAL_CA_NOT_ACCEPTED"]  # a scan of a C and its E
    two = [*one, e_host("e2", refusing, label="")]
    assert pairing(two) == []  # a sweep: which E the C dials is not known
