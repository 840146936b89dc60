"""Handshake rules, driven through analyze(): CLIENT_CERT_REQUESTED."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scanner.analysis import analyze
from scanner.models import Endpoint, Observation, Role, Severity, Status
from scanner.rules import RULES_BY_CODE
from tests.conftest import context
from tests.factories import make_chain, observation
from tests.rules.scenarios import GARBAGE

CA_NAMES = ("CN=Corp Issuing CA,O=Corp", "CN=Corp Root,O=Corp")


def presented(*, requested: bool, ca_names: tuple[str, ...] = (), role: Role | None = None) -> Observation:
    root, inter, leaf = make_chain("both")
    return observation(leaf, inter, root, requested=requested, ca_names=ca_names, role=role)


def timeout() -> Observation:
    endpoint = Endpoint(target="192.0.2.10", host="192.0.2.10", ip="192.0.2.10", port=7001)
    return Observation(endpoint, Status.TIMEOUT)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(
            lambda: presented(requested=True, ca_names=CA_NAMES),
            ["server requests a client certificate (CN=Corp Issuing CA,O=Corp; CN=Corp Root,O=Corp)"],
            id="requested-with-ca-names",
        ),
        pytest.param(
            lambda: presented(requested=True),
            ["server requests a client certificate (no CA names sent)"],
            id="requested-without-ca-names",
        ),
        pytest.param(
            lambda: presented(requested=True, role=Role.SERVER),
            ["server requests a client certificate (no CA names sent)"],
            id="role-server-still-reported",
        ),
        pytest.param(
            lambda: observation(GARBAGE, requested=True),
            ["server requests a client certificate (no CA names sent)"],
            id="requested-leaf-unparseable",
        ),
        pytest.param(lambda: presented(requested=False), [], id="not-requested"),
        pytest.param(
            lambda: presented(requested=False, ca_names=CA_NAMES), [], id="ca-names-without-request-ignored"
        ),
        pytest.param(timeout, [], id="no-handshake-not-applicable"),
    ],
)
def test_client_cert_requested(build: Callable[[], Observation], expected: list[str]) -> None:
    report = analyze(build(), context())
    found = [f for f in report.findings if f.code == "CLIENT_CERT_REQUESTED"]
    assert [f.message for f in found] == expected
    for f in found:
        assert f.severity is RULES_BY_CODE["CLIENT_CERT_REQUESTED"].severity is Severity.INFO
        assert f.cert_sha256 is None  # about the server's request, not about a certificate
