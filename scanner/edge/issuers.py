"""``--fetch-issuers``: the issuer a chain misses, fetched from the AIA caIssuers URL of its child.

Theory of operation
-------------------
Off by default: a jump host must send no traffic it was not asked to. When it is on, the fetch
happens after the probe and before the analysis. ``ChainCompleter.prepare`` takes the probed
observations of an endpoint and, for each chain that the known intermediates do not complete
(``completion.missing_issuer_urls``, pure), fetches the http:// caIssuers URLs of the certificate
whose issuer is missing, adds what came back to the analysis' ``IntermediatePool`` and asks
again, up to ``MAX_ROUNDS`` issuers up. The analysis itself stays pure: it only sees more
intermediates, marked ``fetched`` with their URL.

``IssuerFetcher`` does the fetching: one HTTP/1.1 GET over a plain TCP connection
(``protocol/http_get.py``), at most ``MAX_REDIRECTS`` redirects, ``MAX_ISSUER_BYTES`` of answer
and the fetch timeout for the whole exchange, redirects included; the answer is a DER
certificate or a PKCS#7 bundle (``completion.certificates_in``). It keeps every answer,
failures too, so each URL is fetched once per run; answers of earlier runs come from the
history store (``--db``) and are not fetched again. Worker processes do not fetch: their
``RemoteIssuers`` asks the parent over the pipe (``workers.py``), so one cache serves the run
however many processes sweep it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import trio

from scanner.core.analysis import AnalysisContext
from scanner.core.certs import parse_der
from scanner.core.completion import certificates_in, missing_issuer_urls
from scanner.edge.frames import encode_frame
from scanner.model import Observation, Status
from scanner.protocol.http import HttpParseError
from scanner.protocol.http_get import (
    MAX_HEADER_BYTES,
    HttpAnswer,
    HttpUrl,
    UrlError,
    answer_complete,
    build_get,
    parse_answer,
    parse_http_url,
)

MAX_ISSUER_BYTES = 64 * 1024  # a CA certificate is 1-2 KB; a PKCS#7 bundle of a few, some more
MAX_REDIRECTS = 3
MAX_ROUNDS = 3  # the issuer, its issuer, and one more: then the chain is what it is
FETCH_TIMEOUT_SECONDS = 5.0  # inspect's; a scan uses its --timeout
RECEIVE_CHUNK = 16384


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str
    certificates: tuple[bytes, ...]  # DER, as the URL answered; () on failure
    error: str | None = None  # why nothing usable came back


class FetchFailed(Exception):
    """The URL answered, but not with a certificate; the message is one line."""


class IssuerSource(Protocol):
    async def fetch(self, url: str) -> tuple[bytes, ...]: ...


class IssuerFetcher:
    """Fetches caIssuers URLs over HTTP, each once per run, and keeps every answer."""

    def __init__(
        self,
        timeout: float,
        known: Iterable[tuple[str, Sequence[bytes]]] = (),
        on_result: Callable[[FetchResult], None] | None = None,
    ) -> None:
        self.timeout = timeout
        self.on_result = on_result
        self._results = {url: FetchResult(url, tuple(ders)) for url, ders in known}
        self._new: list[str] = []  # fetched in this run, in order
        self._pending: dict[str, trio.Event] = {}

    async def fetch(self, url: str) -> tuple[bytes, ...]:
        result = self._results.get(url)
        if result is None:
            waiting = self._pending.get(url)
            if waiting is not None:  # another endpoint asked first: share its answer
                await waiting.wait()
            else:
                await self._fetch_once(url)
            result = self._results[url]
        return result.certificates

    async def _fetch_once(self, url: str) -> None:
        done = self._pending[url] = trio.Event()
        try:
            result = await fetch_issuer(url, self.timeout)
            self._results[url] = result
            self._new.append(url)
            if self.on_result is not None:
                self.on_result(result)
        finally:
            self._results.setdefault(url, FetchResult(url, (), "the run stopped"))
            del self._pending[url]
            done.set()

    def fetched(self) -> list[FetchResult]:
        """What this run fetched and got certificates from (what the history store keeps)."""
        return [self._results[url] for url in self._new if self._results[url].certificates]


async def fetch_issuer(url: str, seconds: float) -> FetchResult:
    """One URL's certificates, following redirects; failures come back as a result with an error."""
    with trio.move_on_after(seconds):
        try:
            return FetchResult(url, await _follow(url))
        except (UrlError, HttpParseError, FetchFailed) as exc:
            return FetchResult(url, (), str(exc))
        except (OSError, trio.BrokenResourceError) as exc:
            return FetchResult(url, (), f"cannot fetch {url}: {getattr(exc, 'strerror', None) or exc}")
    return FetchResult(url, (), f"no answer from {url} within {seconds:g}s")


async def _follow(text: str) -> tuple[bytes, ...]:
    url = parse_http_url(text)
    for hop in range(MAX_REDIRECTS + 1):
        answer = await _get(url)
        location = answer.location
        if location is None:
            break
        if hop == MAX_REDIRECTS:
            raise FetchFailed(f"{text} redirects more than {MAX_REDIRECTS} times")
        url = url.resolve(location)
    if answer.status != 200:
        raise FetchFailed(f"{url.text} answered HTTP {answer.status}")
    certificates = certificates_in(answer.body)
    if not certificates:
        raise FetchFailed(f"{url.text} did not answer with a DER certificate or a PKCS#7 bundle")
    return certificates


async def _get(url: HttpUrl) -> HttpAnswer:
    stream = await trio.open_tcp_stream(url.host, url.port)
    async with stream:
        await stream.send_all(build_get(url))
        data = b""
        closed = False
        while not answer_complete(data):
            chunk = await stream.receive_some(RECEIVE_CHUNK)
            if not chunk:
                closed = True
                break
            data += chunk
            if len(data) > MAX_HEADER_BYTES + MAX_ISSUER_BYTES:
                raise FetchFailed(f"{url.text} answered with more than {MAX_ISSUER_BYTES // 1024} KiB")
    answer = parse_answer(data, closed)
    if len(answer.body) > MAX_ISSUER_BYTES:
        raise FetchFailed(f"{url.text} answered with more than {MAX_ISSUER_BYTES // 1024} KiB")
    return answer


async def answer_request(
    stdin: trio.abc.SendStream, writing: trio.Lock, issuers: IssuerFetcher, url: str
) -> None:
    """In the parent: fetch (once per run, whoever asks) what a worker asked for, and send it
    the certificates on its ``stdin``, one frame at a time (``writing``)."""
    certificates = await issuers.fetch(url)
    async with writing:
        try:
            await stdin.send_all(encode_frame("issuers", (url, certificates)))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # the worker is gone; its reader reports that


class RemoteIssuers:
    """A worker's issuer source: asks the parent process (``ask`` sends the request) and waits."""

    def __init__(self, ask: Callable[[str], Awaitable[None]]) -> None:
        self._ask = ask
        self._answers: dict[str, tuple[bytes, ...]] = {}
        self._waiting: dict[str, trio.Event] = {}

    async def fetch(self, url: str) -> tuple[bytes, ...]:
        if url not in self._answers:
            waiting = self._waiting.get(url)
            if waiting is None:
                waiting = self._waiting[url] = trio.Event()
                await self._ask(url)
            await waiting.wait()
        return self._answers[url]

    def answer(self, url: str, certificates: Sequence[bytes]) -> None:
        """The parent's answer to a request."""
        self._answers[url] = tuple(certificates)
        waiting = self._waiting.pop(url, None)
        if waiting is not None:
            waiting.set()


class ChainCompleter:
    """Fetches, before an endpoint is judged, the issuers its chain misses (see the module docstring)."""

    def __init__(self, source: IssuerSource) -> None:
        self.source = source

    async def prepare(
        self, observations: Sequence[Observation], analysis: AnalysisContext
    ) -> AnalysisContext:
        """``analysis`` with what was fetched for these observations added to its intermediates."""
        pool = analysis.intermediates
        for observation in observations:
            if observation.status is not Status.OK or not observation.chain_der:
                continue
            chain = [parse_der(der) for der in observation.chain_der]
            for _ in range(MAX_ROUNDS):
                urls = missing_issuer_urls(chain, analysis.roots, pool, analysis.now)
                wanted = [url for url in urls if url not in pool.fetched_urls]
                if not wanted:
                    break
                for url in wanted:
                    pool = pool.with_fetched(url, await self.source.fetch(url))
        return analysis if pool is analysis.intermediates else replace(analysis, intermediates=pool)
