"""Completing a chain the server sent incomplete, and judging a leaf whose issuer cannot be had (pure).

Theory of operation
-------------------
``trust.classify`` judges the chain as presented. When that chain stops short of a root (the
trust is ``private`` and the chain not ``complete``), ``classify_completed`` looks for the
missing issuers in three sets of CA certificates, the ``IntermediatePool``:

1. the packaged public intermediates (Mozilla's preloading list, ``data/intermediates.bin``),
2. the user's bundle (``--intermediates PEM``),
3. issuers fetched from AIA caIssuers URLs (``--fetch-issuers``). The edge fetches them before
   the analysis runs and hands them in, so the analysis stays pure.

A candidate comes from an index (by the child's authority key identifier, then by its issuer
name) and joins the path only when ``issued_by`` verifies its signature on the child. The
search is depth-first and bounded by ``MAX_PATH_LENGTH``. At each step the presented
certificates are tried first, then the pool's candidates, ranked: valid at the evaluation time
first (an expired copy of a re-issued intermediate must not win over the current one), then by
the order of the sets above, then the latest notAfter. The first path that ends where
``classify`` ends (a root of the store, a certificate a root signed, or a self-issued CA) wins,
and ``classify`` then judges that path as if the server had sent it: the anchor, its EKU and
the purpose checks of the intermediates come from the same code as for a presented chain.

When no path is found and the leaf carries embedded Certificate Transparency SCTs (extension
1.3.6.1.4.1.11129.2.4.2), the leaf was publicly issued: private CAs do not log to CT. The SCTs
cannot be verified without the issuer's key, so this is evidence, not proof: the result is
``public`` with the basis ``inferred`` and no anchor, and the findings say so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from cryptography.hazmat.primitives.serialization import Encoding

from scanner.core.certs import NoCertificateError, ParsedCert, parse_der, split_certificates
from scanner.core.intermediates import EMPTY_BUNDLE, CertificateBundle, PackedCertificates
from scanner.core.trust import MAX_PATH_LENGTH, ProgramRoots, RootStore, classify, issued_by
from scanner.model import AddedCertificate, ChainSource, TrustBasis, TrustClass, TrustResult, UnparsedCert

SOURCE_ORDER = (ChainSource.PACKAGED, ChainSource.USER, ChainSource.FETCHED)


@dataclass(frozen=True)
class IntermediatePool:
    """The CA certificates a chain may be completed with, by source (see the module docstring)."""

    packaged: PackedCertificates | None = None
    user: CertificateBundle = EMPTY_BUNDLE
    fetched: CertificateBundle = EMPTY_BUNDLE
    fetched_urls: frozenset[str] = field(default=frozenset())  # every URL whose answer is in ``fetched``

    @property
    def empty(self) -> bool:
        return not (self.packaged is not None and len(self.packaged)) and not self.user and not self.fetched

    def with_fetched(self, url: str, ders: Sequence[bytes]) -> IntermediatePool:
        """The pool with what ``url`` answered (nothing, if the answer was empty or an error)."""
        if url in self.fetched_urls:
            return self
        return replace(
            self,
            fetched=self.fetched.plus(CertificateBundle.of(ders, url)),
            fetched_urls=self.fetched_urls | {url},
        )

    def issuers_of(self, cert: ParsedCert) -> Iterator[tuple[ParsedCert, ChainSource, str | None]]:
        """Every certificate of the pool whose key signed ``cert``, with its source, sets in order."""
        layers = ((self.packaged, ChainSource.PACKAGED), (self.user, ChainSource.USER))
        for index, source in (*layers, (self.fetched, ChainSource.FETCHED)):
            if index is None:
                continue
            for der, url in index.issuer_candidates(cert.facts.issuer_der, cert.facts.authority_key_id):
                candidate = parse_der(der)
                if isinstance(candidate, ParsedCert) and issued_by(cert, candidate):
                    yield candidate, source, url


@dataclass(frozen=True, slots=True)
class _Step:
    """One certificate of a path being built: presented (its index) or from the pool (its source)."""

    cert: ParsedCert
    presented: int | None = None
    source: ChainSource | None = None
    url: str | None = None


def classify_completed(
    chain: Sequence[ParsedCert | UnparsedCert],
    roots: RootStore,
    pool: IntermediatePool,
    now: datetime,
    programs: Sequence[ProgramRoots] = (),
) -> TrustResult:
    """The trust of the presented chain, completed from ``pool`` where it stops short of a root;
    ``programs`` name the root programs whose stores hold the root it reaches (``classify``)."""
    presented = classify(chain, roots, programs)
    if presented.complete or presented.trust is not TrustClass.PRIVATE:
        return presented
    leaf = chain[0]
    assert isinstance(leaf, ParsedCert)  # classify says NONE otherwise
    if not pool.empty:
        steps = _search(chain, leaf, roots, pool, now, frozenset({leaf.facts.sha256}), 1)
        if steps and any(step.presented is None for step in steps):
            completed = _judged(chain, leaf, steps, roots, programs)
            if completed is not None:
                return completed
    if leaf.facts.sct_count:
        return replace(presented, trust=TrustClass.PUBLIC, basis=TrustBasis.INFERRED)
    return presented


def _search(
    chain: Sequence[ParsedCert | UnparsedCert],
    current: ParsedCert,
    roots: RootStore,
    pool: IntermediatePool,
    now: datetime,
    used: frozenset[str],
    depth: int,
) -> list[_Step] | None:
    """The steps from ``current`` up to where ``classify`` ends a path; None when there is no way."""
    if depth > 1 and _ends_path(current, roots):
        return []
    if depth > MAX_PATH_LENGTH:
        return None
    for step in _next_steps(chain, current, pool, now, used):
        rest = _search(chain, step.cert, roots, pool, now, used | {step.cert.facts.sha256}, depth + 1)
        if rest is not None:
            return [step, *rest]
    return None


def _ends_path(cert: ParsedCert, roots: RootStore) -> bool:
    return cert.facts.sha256 in roots.fingerprints or bool(roots.issuers_of(cert)) or cert.facts.self_issued


def _next_steps(
    chain: Sequence[ParsedCert | UnparsedCert],
    current: ParsedCert,
    pool: IntermediatePool,
    now: datetime,
    used: frozenset[str],
) -> list[_Step]:
    steps = [
        _Step(candidate, presented=index)
        for index, candidate in enumerate(chain)
        if isinstance(candidate, ParsedCert)
        and candidate.facts.sha256 not in used
        and issued_by(current, candidate)
    ]
    known = used | {step.cert.facts.sha256 for step in steps}
    found: dict[str, _Step] = {}
    for candidate, source, url in pool.issuers_of(current):
        sha = candidate.facts.sha256
        # A self-issued certificate from a set is a cross-certificate between two keys of one
        # root (four in Mozilla's list), not an anchor: classify would stop at it.
        if (
            sha in known
            or sha in found
            or (candidate.facts.self_issued and not issued_by(candidate, candidate))
        ):
            continue
        found[sha] = _Step(candidate, source=source, url=url)
    return steps + sorted(found.values(), key=lambda step: _rank(step, now))


def _rank(step: _Step, now: datetime) -> tuple[bool, int, float]:
    facts = step.cert.facts
    valid = facts.not_before <= now <= facts.not_after
    assert step.source is not None
    return (not valid, SOURCE_ORDER.index(step.source), -facts.not_after.timestamp())


def _judged(
    chain: Sequence[ParsedCert | UnparsedCert],
    leaf: ParsedCert,
    steps: list[_Step],
    roots: RootStore,
    programs: Sequence[ProgramRoots],
) -> TrustResult | None:
    """``classify`` over the found path, its indices mapped back to presented and added certificates."""
    judged = classify([leaf, *(step.cert for step in steps)], roots, programs)
    if not judged.complete:
        return None
    path: list[int] = []
    added: list[AddedCertificate] = []
    for position in judged.path:
        step = steps[position - 1] if position else _Step(leaf, presented=0)
        if step.presented is not None:
            path.append(step.presented)
            continue
        assert step.source is not None
        path.append(len(chain) + len(added))
        added.append(AddedCertificate(step.cert.facts, step.source, step.url))
    if not added:
        return None
    return replace(judged, path=tuple(path), basis=TrustBasis.COMPLETED, added=tuple(added))


def missing_issuer_urls(
    chain: Sequence[ParsedCert | UnparsedCert], roots: RootStore, pool: IntermediatePool, now: datetime
) -> tuple[str, ...]:
    """Where the first missing issuer of an incomplete chain is published (its http:// AIA
    caIssuers URLs), after what the pool completes; () when the chain is complete."""
    trust = classify_completed(chain, roots, pool, now)
    if trust.complete or trust.trust in (TrustClass.NONE, TrustClass.SELF_SIGNED):
        return ()
    leaf = chain[0]
    assert isinstance(leaf, ParsedCert)
    current, used = leaf, frozenset({leaf.facts.sha256})
    for _ in range(MAX_PATH_LENGTH):  # as far as issuers can be found: the frontier
        steps = _next_steps(chain, current, pool, now, used)
        if not steps:
            break
        current = steps[0].cert
        used |= {current.facts.sha256}
    return tuple(url for url in current.facts.ca_issuers if url[:7].lower() == "http://")


def certificates_in(body: bytes) -> tuple[bytes, ...]:
    """The certificates of a caIssuers answer: one DER certificate (RFC 5280 4.2.2.1), a DER
    PKCS#7 certs-only bundle (``.p7c``), or PEM; () for anything else. Never raises."""
    if isinstance(parse_der(body), ParsedCert):
        return (body,)
    from cryptography.hazmat.primitives.serialization import pkcs7  # only --fetch-issuers needs it

    try:
        return tuple(c.public_bytes(Encoding.DER) for c in pkcs7.load_der_pkcs7_certificates(body))
    except Exception:  # not PKCS#7 (cryptography raises ValueError, or others for odd DER)
        pass
    try:
        return tuple(der for der in split_certificates(body) if isinstance(parse_der(der), ParsedCert))
    except NoCertificateError:
        return ()
