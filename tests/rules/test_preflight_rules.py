"""Preflight rules, driven through analyze(): CLIENT_AUTH_OBSERVATION_CONTRADICTS and CLIENT_CERT_REJECTED.

The server's answer is given as the probe records it (``ClientAuthTest``); the candidate is a
chain the analysis judges offline as a client certificate, as ``inspect`` would.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.core.analysis import analyze
from scanner.core.candidate import predict_candidate
from scanner.core.certs import sha256_hex
from scanner.core.completion import IntermediatePool
from scanner.core.rules import RULES_BY_CODE
from scanner.core.trust import RootStore
from scanner.model import ClientAuthOutcome, ClientAuthTest, ObservedClientAuth, Severity, Use, Verdict
from tests.conftest import context
from tests.factories import DAY, NOW, make_chain, observation

CONTRADICTS = "CLIENT_AUTH_OBSERVATION_CONTRADICTS"
REJECTED = "CLIENT_CERT_REJECTED"


def candidate(eku: str = "both", **leaf_kw: object) -> tuple[bytes, ...]:
    root, inter, leaf = make_chain(eku, leaf_cn="expc.example.test", **leaf_kw)
    return (leaf.der, inter.der, root.der)


def judged(chain: tuple[bytes, ...], outcome: ClientAuthOutcome, alert: str | None = None):
    root, inter, leaf = make_chain("serverAuth", leaf_cn="expe.example.test")
    test = ClientAuthTest(sha256_hex(chain[0]), outcome, alert, "as the probe says")
    seen = replace(observation(leaf, inter, root, port=7001, requested=True), client_auth_test=test)
    return analyze(seen, context(client_candidate=chain))


def codes(report) -> list[str]:
    return [f.code for f in report.findings if f.code in (CONTRADICTS, REJECTED)]


@pytest.mark.parametrize(
    ("chain", "outcome", "alert", "expected"),
    [
        pytest.param(candidate("both"), ClientAuthOutcome.ACCEPTED, None, [], id="good-accepted"),
        pytest.param(
            candidate("serverAuth"),
            ClientAuthOutcome.REJECTED,
            "unsupported_certificate",
            [REJECTED],
            id="serverAuth-only-rejected-as-predicted",
        ),
        pytest.param(
            candidate("both"),
            ClientAuthOutcome.REJECTED,
            "unknown_ca",
            [CONTRADICTS, REJECTED],
            id="good-rejected",
        ),
        pytest.param(
            candidate("serverAuth"),
            ClientAuthOutcome.ACCEPTED,
            None,
            [CONTRADICTS],
            id="serverAuth-only-accepted",
        ),
        pytest.param(
            candidate("both", not_before=NOW - 90 * DAY, not_after=NOW - DAY),
            ClientAuthOutcome.ACCEPTED,
            None,
            [CONTRADICTS],
            id="expired-accepted",
        ),
        pytest.param(candidate("serverAuth"), ClientAuthOutcome.NOT_REQUESTED, None, [], id="not-requested"),
        pytest.param(candidate("both"), ClientAuthOutcome.ERROR, None, [], id="error-is-no-evidence"),
    ],
)
def test_preflight_findings(chain, outcome, alert, expected) -> None:
    report = judged(chain, outcome, alert)
    assert codes(report) == expected
    for finding in report.findings:
        if finding.code in expected:
            assert finding.cert_sha256 == sha256_hex(chain[0])
            assert dict(finding.details)["certificate"] == sha256_hex(chain[0])
            assert finding.effect is None, (
                "the candidate's answer does not judge the server's own certificate"
            )
    assert RULES_BY_CODE[CONTRADICTS].severity is Severity.HIGH


def test_rejection_gets_the_policys_meaning_and_the_server_links_the_observation() -> None:
    report = judged(candidate("serverAuth"), ClientAuthOutcome.REJECTED, "unsupported_certificate")
    test = report.observation.client_auth_test
    assert test is not None and test.meaning.startswith("the server refused the certificate's purpose")
    server_links = [link for link in report.links if link.uses is Use.SERVER]
    assert server_links and all(link.observed is not None for link in server_links)
    assert all(link.observed is None for link in report.links if link.uses is Use.CLIENT)
    traversal = next(link for link in report.links if link.name == "traversal-server")
    assert traversal.observed == ObservedClientAuth(
        ClientAuthOutcome.REJECTED, "unsupported_certificate", Verdict.BREAKS
    )
    assert not traversal.observed.contradicts
    (message,) = [f.message for f in report.findings if f.code == REJECTED]
    assert message.startswith("rejected the candidate client certificate with unsupported_certificate: ")


def test_a_rejection_predicted_to_work_names_the_alert_and_its_meaning() -> None:
    report = judged(candidate("both"), ClientAuthOutcome.REJECTED, "unknown_ca")
    (message,) = [f.message for f in report.findings if f.code == CONTRADICTS]
    assert "predicted to work as a client certificate" in message
    assert "rejected (unknown_ca): the server does not trust the certificate's issuer" in message


def test_an_alert_the_table_does_not_know_says_so() -> None:
    report = judged(candidate("both"), ClientAuthOutcome.REJECTED, "alert_250")
    test = report.observation.client_auth_test
    assert test is not None and "alert_250" in test.meaning and "names no reason" in test.meaning


def test_without_a_preflight_nothing_changes() -> None:
    root, inter, leaf = make_chain("both")
    report = analyze(observation(leaf, inter, root, port=7001, requested=True), context())
    assert codes(report) == [] and all(link.observed is None for link in report.links)


@pytest.mark.parametrize(
    ("eku", "verdict"),
    [("both", Verdict.OK), ("clientAuth", Verdict.OK), ("none", Verdict.OK), ("serverAuth", Verdict.BREAKS)],
)
def test_the_prediction_is_openssls_purpose_check(eku: str, verdict: Verdict) -> None:
    prediction = predict_candidate(candidate(eku), RootStore(), IntermediatePool(), NOW)
    assert prediction is not None and prediction.verdict is verdict


@given(
    outcome=st.sampled_from(ClientAuthOutcome),
    predicted=st.sampled_from(Verdict),
    alert=st.one_of(st.none(), st.sampled_from(["unknown_ca", "bad_certificate", "unsupported_certificate"])),
)
def test_a_contradiction_is_exactly_a_verdict_the_server_overturned(outcome, predicted, alert) -> None:
    observed = ObservedClientAuth(outcome, alert, predicted)
    works = predicted in (Verdict.OK, Verdict.AT_RISK)
    expected = (outcome is ClientAuthOutcome.REJECTED and works) or (
        outcome is ClientAuthOutcome.ACCEPTED and predicted is Verdict.BREAKS
    )
    assert observed.contradicts is expected
