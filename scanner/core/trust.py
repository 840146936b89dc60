"""Public / private / self-signed classification of a presented chain (pure).

"Public" means: the chain, as the server presented it, links by name and signature up to a
root in the public bundle (Mozilla's via certifi by default, or ``--public-roots``). Links
are checked with ``verify_directly_issued_by``, so a forged issuer name does not make a
chain public. The classifier does no path *validation* (dates, EKU, constraints): those are
the rules' business, and judging a broken chain is the point of the tool.

The root a chain builds to is also looked up in the root programs ekuscan knows (Chrome's
list from the policy file, Mozilla's from certifi, the ``--public-roots`` bundle): Chrome's
clientAuth phase-out binds only the hierarchies of Chrome's store, and of the user's bundle.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from scanner.core.certs import ParsedCert, parse_der, sha256_hex, split_certificates
from scanner.model import CertFacts, RootProgram, TrustClass, TrustResult, UnparsedCert

MAX_PATH_LENGTH = 10  # longer presented chains are pathological; stop walking there


@dataclass(frozen=True, slots=True)
class ProgramRoots:
    """The roots of one root program as far as ekuscan needs them: SHA-256 fingerprints (upper-case
    hex) for anchors, and casefolded (CN, O) pairs for the CA names of a CertificateRequest."""

    program: RootProgram
    fingerprints: frozenset[str] = frozenset()
    names: frozenset[tuple[str, str]] = frozenset()

    def has_root_named(self, common_name: str | None, organization: str | None) -> bool:
        return ((common_name or "").casefold(), (organization or "").casefold()) in self.names


@dataclass(frozen=True)
class RootStore:
    """Roots indexed by subject (DER) and by SHA-256, and the root program the bundle stands for."""

    by_subject: dict[bytes, tuple[ParsedCert, ...]] = field(default_factory=dict)
    fingerprints: frozenset[str] = frozenset()
    # (common name, organisation), casefolded: to recognise the CA names a server sends
    # in its CertificateRequest, which arrive as text, not as certificates.
    names: frozenset[tuple[str, str]] = frozenset()
    # certifi's bundle is Mozilla's; any other bundle (--public-roots, a test's roots) is the
    # user's, which counts as Chrome-bound.
    program: RootProgram = RootProgram.USER

    @classmethod
    def from_ders(cls, ders: Iterable[bytes], program: RootProgram = RootProgram.USER) -> RootStore:
        by_subject: dict[bytes, list[ParsedCert]] = {}
        prints: set[str] = set()
        for der in ders:
            parsed = parse_der(der)
            if isinstance(parsed, UnparsedCert):
                continue  # an odd root in a bundle must not stop a scan
            by_subject.setdefault(parsed.facts.subject_der, []).append(parsed)
            prints.add(parsed.facts.sha256)
        names = {
            ((p.facts.subject_common_name or "").casefold(), (p.facts.subject_organization or "").casefold())
            for group in by_subject.values()
            for p in group
        }
        return cls({k: tuple(v) for k, v in by_subject.items()}, frozenset(prints), frozenset(names), program)

    def has_root_named(self, common_name: str | None, organization: str | None) -> bool:
        return ((common_name or "").casefold(), (organization or "").casefold()) in self.names

    @property
    def program_roots(self) -> ProgramRoots:
        return ProgramRoots(self.program, self.fingerprints, self.names)

    def __len__(self) -> int:
        return len(self.fingerprints)

    def issuers_of(self, cert: ParsedCert) -> tuple[ParsedCert, ...]:
        return tuple(root for root in self.by_subject.get(cert.facts.issuer_der, ()) if issued_by(cert, root))


SIGNATURE_CACHE_SIZE = 4096
_signature_checks: dict[tuple[str, str], bool] = {}  # (child, parent) fingerprints -> verified


def issued_by(child: ParsedCert, parent: ParsedCert) -> bool:
    """True when ``parent``'s key signed ``child`` and the names chain.

    Memoised by fingerprint pair: across a sweep the intermediate-to-root check is the same
    on every endpoint of an estate.
    """
    if child.facts.issuer_der != parent.facts.subject_der:
        return False
    key = (child.facts.sha256, parent.facts.sha256)
    known = _signature_checks.get(key)
    if known is None:
        known = _signature_verifies(child, parent)
        if len(_signature_checks) >= SIGNATURE_CACHE_SIZE:
            del _signature_checks[next(iter(_signature_checks))]  # oldest first
        _signature_checks[key] = known
    return known


def _signature_verifies(child: ParsedCert, parent: ParsedCert) -> bool:
    try:
        child.cert.verify_directly_issued_by(parent.cert)
    except ValueError:
        # cryptography refuses SHA-1 and MD5 here ("Unsupported signature algorithm"), but
        # weak chains are exactly what we must judge: check those signatures by hand.
        return _legacy_signature_ok(child.cert, parent.cert)
    except Exception:  # InvalidSignature, or an unsupported key/signature combination
        return False
    return True


def _legacy_signature_ok(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Check an RSA PKCS#1 v1.5, ECDSA or DSA signature whose hash the X.509 layer refuses."""
    hash_alg = child.signature_hash_algorithm
    if hash_alg is None:
        return False
    key = parent.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), hash_alg)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(hash_alg))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(child.signature, child.tbs_certificate_bytes, hash_alg)
        else:
            return False
    except Exception:  # InvalidSignature, or a hash even the primitives refuse
        return False
    return True


def classify(
    chain: Sequence[ParsedCert | UnparsedCert], roots: RootStore, programs: Sequence[ProgramRoots] = ()
) -> TrustResult:
    """Walk from the leaf towards a root through the presented certificates; name the root
    programs (``roots``' own, and ``programs``) whose stores hold the root it reaches."""
    result, anchor_sha256 = _walk(chain, roots)
    if anchor_sha256 is None:
        return result
    return replace(result, root_programs=programs_holding(anchor_sha256, (roots.program_roots, *programs)))


def programs_holding(sha256: str, programs: Iterable[ProgramRoots]) -> tuple[RootProgram, ...]:
    """The programs whose roots include this certificate, in the enum's order."""
    holding = {p.program for p in programs if sha256 in p.fingerprints}
    return tuple(p for p in RootProgram if p in holding)


def _walk(chain: Sequence[ParsedCert | UnparsedCert], roots: RootStore) -> tuple[TrustResult, str | None]:
    """The classification, and the SHA-256 of the root the chain builds to (None: none found)."""
    if not chain or not isinstance(chain[0], ParsedCert):
        return TrustResult(TrustClass.NONE, anchor=None, complete=False, path=()), None
    leaf = chain[0]
    if leaf.facts.self_issued and issued_by(leaf, leaf):
        public = leaf.facts.sha256 in roots.fingerprints
        return TrustResult(
            TrustClass.PUBLIC if public else TrustClass.SELF_SIGNED,
            anchor=leaf.facts.subject,
            complete=True,
            path=(0,),
        ), leaf.facts.sha256
    path = [0]
    current = leaf
    while len(path) <= MAX_PATH_LENGTH:
        if current.facts.sha256 in roots.fingerprints:
            return TrustResult(
                TrustClass.PUBLIC, current.facts.subject, True, tuple(path)
            ), current.facts.sha256
        public_issuers = roots.issuers_of(current)
        if public_issuers:
            root = public_issuers[0]
            return TrustResult(
                TrustClass.PUBLIC, root.facts.subject, True, tuple(path), anchor_eku=root.facts.eku
            ), root.facts.sha256
        nxt = _presented_issuer(chain, current, exclude=path)
        if nxt is None:
            return TrustResult(TrustClass.PRIVATE, anchor=None, complete=False, path=tuple(path)), None
        path.append(nxt)
        current = _parsed(chain[nxt])
        if current.facts.self_issued:
            # A self-signed CA the server sent along: the chain is complete, and private
            # unless that root is itself in the public bundle (checked at the loop top).
            if current.facts.sha256 in roots.fingerprints:
                continue
            return TrustResult(
                TrustClass.PRIVATE, current.facts.subject, True, tuple(path)
            ), current.facts.sha256
    return TrustResult(TrustClass.PRIVATE, anchor=None, complete=False, path=tuple(path)), None


def _parsed(item: ParsedCert | UnparsedCert) -> ParsedCert:
    assert isinstance(item, ParsedCert)
    return item


def _presented_issuer(
    chain: Sequence[ParsedCert | UnparsedCert], cert: ParsedCert, exclude: list[int]
) -> int | None:
    for index, candidate in enumerate(chain):
        if index in exclude or not isinstance(candidate, ParsedCert):
            continue
        if issued_by(cert, candidate):
            return index
    return None


def pem_program_roots(data: bytes, program: RootProgram) -> ProgramRoots:
    """A program's roots from PEM bytes, fingerprints and names only: cheaper than a RootStore
    (certifi's roots beside a --public-roots bundle are never walked to, only looked up)."""
    prints: set[str] = set()
    names: set[tuple[str, str]] = set()
    for der in split_certificates(data):
        try:
            with warnings.catch_warnings():
                # serial number 0 (Go Daddy and Starfield G2): as parse_der, not ours to show
                warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                subject = x509.load_der_x509_certificate(der).subject
        except Exception:  # as RootStore does: an odd root must not stop a scan
            continue
        prints.add(sha256_hex(der))
        names.add(
            (_first_value(subject, NameOID.COMMON_NAME), _first_value(subject, NameOID.ORGANIZATION_NAME))
        )
    return ProgramRoots(program, frozenset(prints), frozenset(names))


def _first_value(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attributes = name.get_attributes_for_oid(oid)
    return str(attributes[0].value).casefold() if attributes else ""


def load_pem_bundle(data: bytes, program: RootProgram = RootProgram.USER) -> RootStore:
    """A RootStore from PEM bytes (the caller reads the file) standing for ``program``."""
    return RootStore.from_ders(split_certificates(data), program)


def facts_of(chain: Sequence[ParsedCert | UnparsedCert]) -> tuple[CertFacts | UnparsedCert, ...]:
    return tuple(c.facts if isinstance(c, ParsedCert) else c for c in chain)
