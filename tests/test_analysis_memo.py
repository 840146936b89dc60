"""What the analysis remembers (the rules' findings, the link verdicts, the endpoints' plans) never
changes a report: a context that judged other endpoints first gives what a fresh one gives."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from scanner.core import analysis as analysis_module
from scanner.core.analysis import BoundedMemo, analyze, analyze_host, host_contexts
from scanner.core.rules import ChainUnderTest, RuleContext
from scanner.model import Endpoint, Observation, Role, Status, Use
from tests.conftest import context
from tests.factories import DAY, NOW, make_chain, observation

LETS_ENCRYPT_CA = "CN=R11,O=Let's Encrypt,C=US"


def _estate() -> list[list[Observation]]:
    """Hosts whose endpoints differ in one input each: CA names, SNI, role, the CSV's links,
    banners that set a release (X15.5 has a separate client store), status, an unparsable chain."""
    root, inter, leaf = make_chain("both", leaf_cn="expe.example.test")
    _, _, other = make_chain("serverAuth", leaf_cn="cucm.example.test")
    _, _, expired = make_chain("both", leaf_cn="old.example.test", not_after=NOW - DAY)
    chain = (leaf, inter, root)
    hosts = []
    # One host, one chain, every port with a different plan; two of them ask for client certificates.
    hosts.append(
        [
            observation(*chain, host="192.0.2.1", port=7001, requested=True, ca_names=(LETS_ENCRYPT_CA,)),
            observation(*chain, host="192.0.2.1", port=5061, requested=True, ca_names=("CN=Private CA",)),
            observation(*chain, host="192.0.2.1", port=8443),
            observation(*chain, host="192.0.2.1", port=443, sni="expe.example.test"),
            observation(*chain, host="192.0.2.1", port=10443, sni="other.example.test"),
            observation(*chain, host="192.0.2.1", port=9443),
            observation(*chain, host="192.0.2.1", port=9444),
        ]
    )
    # The same chain on a host of another role, and on hosts whose banners set their release.
    hosts.append([observation(*chain, host="192.0.2.2", port=port, role=Role.CUCM) for port in (5061, 8443)])
    for n, banner in enumerate(("TANDBERG/4352 (X15.4.1)", "TANDBERG/4352 (X15.5)")):
        hosts.append(
            [
                observation(*chain, host=f"192.0.2.{3 + n}", port=5061, sip_server=banner),
                observation(*chain, host=f"192.0.2.{3 + n}", port=7001),
            ]
        )
    # The CSV names the links of one endpoint, not of the other.
    named = observation(*chain, host="192.0.2.5", port=5061)
    named = replace(named, endpoint=replace(named.endpoint, links=("traversal-zone",)))
    hosts.append([named, observation(*chain, host="192.0.2.5", port=7001)])
    # Other chains; a port that failed and one that is closed; a chain that cannot be parsed.
    hosts.append([observation(other, inter, root, host="192.0.2.6", port=p) for p in (5061, 7001)])
    hosts.append([observation(expired, inter, root, host="192.0.2.7", port=p) for p in (5061, 7001)])
    failed = Observation(Endpoint("192.0.2.8", "192.0.2.8", "192.0.2.8", 5061), Status.TLS_ERROR, "alert 40")
    closed = Observation(Endpoint("192.0.2.8", "192.0.2.8", "192.0.2.8", 7001), Status.CLOSED, "refused")
    garbage = observation(b"\x30\x03\x02\x01\x01", host="192.0.2.8", port=8443)
    hosts.append([failed, closed, garbage])
    return hosts


def test_a_used_context_judges_as_a_fresh_one() -> None:
    shared = context()
    for host in _estate() * 2:  # twice: the second pass is all remembered
        remembered = analyze_host(host, shared)
        contexts = host_contexts(host, shared)
        fresh = [analyze(o, context(), contexts[o.endpoint.ip]) for o in host]
        assert remembered == fresh


def test_ports_of_a_host_share_what_was_judged_alike() -> None:
    """What makes the memos pay: the chain's parts and equal verdicts are the same objects. An
    Expressway-E's 8443 and 443 serve different server links, and the same client links."""
    root, inter, leaf = make_chain("both", leaf_cn="expe.example.test")
    host = [observation(leaf, inter, root, host="192.0.2.1", port=port) for port in (8443, 443)]
    reports = analyze_host(host, context())
    assert reports[0].chain is reports[1].chain and reports[0].trust is reports[1].trust
    servers, clients = ([[link for link in r.links if link.uses is use] for r in reports] for use in Use)
    assert [link.name for link in servers[0]] != [link.name for link in servers[1]]
    assert clients[0] and all(a is b for a, b in zip(*clients, strict=True))


def test_the_memo_key_covers_every_input() -> None:
    """The key is every field of ChainUnderTest and RuleContext but those named as determined by
    the context and the chain's DER: the names must be the classes' own (a renamed field would
    otherwise leave the key silently), and what an endpoint adds must not be among them."""
    names = {f.name for f in fields(ChainUnderTest)} | {f.name for f in fields(RuleContext)}
    determined = analysis_module._DETERMINED
    assert determined <= names
    endpoint_inputs = {"hostname", "client_cert_requested", "client_ca_names", "client_auth_test"}
    context_inputs = {"role", "uses", "software", "expressway_version", "separate_client_store"}
    assert not determined & (endpoint_inputs | context_inputs)


@pytest.mark.parametrize("limit", [1, 3])
def test_small_memos_forget_and_still_judge_alike(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    for name in ("PLAN_MEMO_SIZE", "FINDINGS_MEMO_SIZE", "JUDGEMENT_MEMO_SIZE"):
        monkeypatch.setattr(analysis_module, name, limit)
    shared = context()
    for host in _estate():
        contexts = host_contexts(host, shared)
        assert analyze_host(host, shared) == [analyze(o, context(), contexts[o.endpoint.ip]) for o in host]


def test_bounded_memo_forgets_the_oldest() -> None:
    memo: BoundedMemo[int] = BoundedMemo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (None, 2, 3)
