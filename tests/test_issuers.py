"""Fetching issuers from AIA caIssuers URLs, against an HTTP server the test starts on loopback."""

from __future__ import annotations

import pytest
import trio
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from scanner.core.analysis import analyze
from scanner.core.trust import RootStore
from scanner.edge.issuers import (
    MAX_ISSUER_BYTES,
    MAX_REDIRECTS,
    ChainCompleter,
    IssuerFetcher,
    RemoteIssuers,
    fetch_issuer,
)
from scanner.model import ChainSource, Role, TrustBasis, TrustClass
from tests.conftest import context
from tests.factories import DAY, NOW, make_cert, observation
from tests.issuerserver import issuer_server


@pytest.fixture
def server():
    with issuer_server() as running:
        yield running


@pytest.fixture(scope="module")
def hierarchy():
    root = make_cert("Test Root", ca=True, eku="none", not_before=NOW - 900 * DAY, not_after=NOW + 900 * DAY)
    inter = make_cert("Issuing CA", issuer=root, ca=True, eku="none", key_ids=True)
    return root, inter


async def test_a_der_certificate_is_fetched(server, hierarchy):
    _, inter = hierarchy
    result = await fetch_issuer(server.publish("/ca.crt", inter.der), 5)
    assert (result.certificates, result.error) == ((inter.der,), None)


async def test_a_pkcs7_bundle_is_fetched_chunked(server, hierarchy):
    root, inter = hierarchy
    bundle = pkcs7.serialize_certificates([inter.cert, root.cert], Encoding.DER)
    result = await fetch_issuer(server.publish("/ca.p7c", bundle, chunked=True), 5)
    assert sorted(result.certificates) == sorted((inter.der, root.der))  # a SET OF: DER sorts it


async def test_an_answer_that_ends_with_the_connection_is_fetched(server, hierarchy):
    _, inter = hierarchy
    result = await fetch_issuer(server.publish("/ca.crt", inter.der, no_length=True), 5)
    assert result.certificates == (inter.der,)


async def test_redirects_are_followed_up_to_the_limit(server, hierarchy):
    _, inter = hierarchy
    server.publish("/final.crt", inter.der)
    server.redirect("/hop0", "/final.crt")
    for hop in range(1, MAX_REDIRECTS + 2):
        server.redirect(f"/hop{hop}", f"/hop{hop - 1}")
    assert (await fetch_issuer(server.url(f"/hop{MAX_REDIRECTS - 1}"), 5)).certificates == (inter.der,)
    too_far = await fetch_issuer(server.url(f"/hop{MAX_REDIRECTS}"), 5)
    assert too_far.certificates == () and f"more than {MAX_REDIRECTS} times" in (too_far.error or "")


@pytest.mark.parametrize(
    ("path", "publish", "error"),
    [
        ("/missing.crt", None, "answered HTTP 404"),
        ("/page.html", b"<html>a CA's web page</html>", "did not answer with a DER certificate"),
        ("/huge.crt", b"\x30" * (MAX_ISSUER_BYTES + 1), "more than 64 KiB"),
        ("/huge-chunked.crt", "chunked", "more than 64 KiB"),
    ],
)
async def test_failures_are_values_with_a_reason(server, path, publish, error):
    if publish == "chunked":
        server.publish(path, b"\x30" * (MAX_ISSUER_BYTES + 1), chunked=True)
    elif publish is not None:
        server.publish(path, publish)
    result = await fetch_issuer(server.url(path), 5)
    assert result.certificates == () and error in (result.error or ""), result.error


async def test_a_redirect_to_https_is_not_followed(server):
    server.redirect("/ca.crt", "https://127.0.0.1/ca.crt")
    result = await fetch_issuer(server.url("/ca.crt"), 5)
    assert "only http://" in (result.error or "")


async def test_a_silent_server_costs_the_timeout_and_no_more(server, hierarchy):
    _, inter = hierarchy
    url = server.publish("/slow.crt", inter.der, delay=3)
    with trio.fail_after(2.5):
        result = await fetch_issuer(url, 0.5)
    assert "within 0.5s" in (result.error or "")


async def test_a_closed_port_is_a_failure_not_an_exception():
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await fetch_issuer(f"http://127.0.0.1:{port}/ca.crt", 2)
    assert result.certificates == () and "cannot fetch" in (result.error or "")


async def test_each_url_is_fetched_once_however_many_ask(server, hierarchy):
    _, inter = hierarchy
    url = server.publish("/ca.crt", inter.der, delay=0.3)
    fetcher = IssuerFetcher(5)
    answers = []

    async def ask() -> None:
        answers.append(await fetcher.fetch(url))

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(ask)
    assert answers == [(inter.der,)] * 5
    assert await fetcher.fetch(url) == (inter.der,)
    assert server.asked["/ca.crt"] == 1
    assert [r.url for r in fetcher.fetched()] == [url]


async def test_what_earlier_runs_fetched_is_not_fetched_again(server, hierarchy):
    _, inter = hierarchy
    url = server.publish("/ca.crt", inter.der)
    fetcher = IssuerFetcher(5, known=[(url, [inter.der])])
    assert await fetcher.fetch(url) == (inter.der,)
    assert server.asked["/ca.crt"] == 0 and fetcher.fetched() == []


async def test_failed_fetches_are_not_kept_for_the_store(server):
    fetcher = IssuerFetcher(5)
    assert await fetcher.fetch(server.url("/missing.crt")) == ()
    assert await fetcher.fetch(server.url("/missing.crt")) == ()  # once per run, failures too
    assert server.asked["/missing.crt"] == 1 and fetcher.fetched() == []


async def test_a_worker_asks_the_parent_once_per_url():
    asked: list[str] = []
    remote = RemoteIssuers(lambda url: _record(asked, url))
    results = []

    async def fetch() -> None:
        results.append(await remote.fetch("http://127.0.0.1:9/ca.crt"))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fetch)
        nursery.start_soon(fetch)
        await trio.sleep(0.05)
        remote.answer("http://127.0.0.1:9/ca.crt", [b"DER"])
    assert asked == ["http://127.0.0.1:9/ca.crt"] and results == [(b"DER",), (b"DER",)]


async def _record(asked: list[str], url: str) -> None:
    asked.append(url)


async def test_the_completer_fetches_issuers_up_the_chain_and_the_analysis_completes(server, hierarchy):
    root = make_cert("Top Root", ca=True, eku="none", not_before=NOW - 900 * DAY, not_after=NOW + 900 * DAY)
    middle = make_cert("Middle CA", issuer=root, ca=True, eku="none")
    inter = make_cert(
        "Lower CA", issuer=middle, ca=True, eku="serverAuth", ca_issuers=[server.url("/middle.crt")]
    )
    server.publish("/middle.crt", middle.der)
    leaf = make_cert("host.example.test", issuer=inter, ca_issuers=[server.url("/lower.crt")])
    server.publish("/lower.crt", inter.der)
    ctx = context(RootStore.from_ders([root.der]))
    obs = observation(leaf, role=Role.EXPRESSWAY_C)
    completed = await ChainCompleter(IssuerFetcher(5)).prepare([obs], ctx)
    report = analyze(obs, completed)
    assert (report.trust.trust, report.trust.basis) == (TrustClass.PUBLIC, TrustBasis.COMPLETED)
    assert [(a.facts.subject_common_name, a.source, a.url) for a in report.trust.added] == [
        ("Lower CA", ChainSource.FETCHED, server.url("/lower.crt")),
        ("Middle CA", ChainSource.FETCHED, server.url("/middle.crt")),
    ]
    assert "CHAIN_EKU_NO_CLIENTAUTH" in {f.code for f in report.findings}  # the fetched CA's EKU counts
    assert dict(server.asked) == {"/lower.crt": 1, "/middle.crt": 1}


async def test_a_complete_chain_fetches_nothing(server, hierarchy):
    root, inter = hierarchy
    leaf = make_cert("host.example.test", issuer=inter, ca_issuers=[server.url("/ca.crt")])
    ctx = context(RootStore.from_ders([root.der]))
    assert await ChainCompleter(IssuerFetcher(5)).prepare([observation(leaf, inter)], ctx) is ctx
    assert not server.asked
