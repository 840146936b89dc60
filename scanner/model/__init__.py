"""The data model shared by every layer: plain, frozen values and string enums.

Nothing here does I/O. Values that reach the JSON output are ``StrEnum`` members whose
string values are part of the public contract (DESIGN.md sections 7 and 8): never rename one.
The product types (what a banner says a host runs) are in ``product.py``, imported here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Re-exported: every layer imports the product types and the output formats from here.
from scanner.model.formats import OutputFormat as OutputFormat
from scanner.model.pickling import fast_pickling  # (not re-exported: applied at the end)
from scanner.model.product import Fingerprint as Fingerprint
from scanner.model.product import Product as Product
from scanner.model.product import Version as Version


class Role(enum.StrEnum):
    """How a host uses its certificate (DESIGN.md section 4)."""

    EXPRESSWAY_C = "expressway-c"
    EXPRESSWAY_E = "expressway-e"
    EXPRESSWAY = "expressway"  # C or E, not known which: the union of both
    CUCM = "cucm"
    CUBE = "cube"
    SERVER = "server"  # a plain TLS server: clientAuth is irrelevant


class RoleSource(enum.StrEnum):
    """Where a host's role came from."""

    GIVEN = "given"  # the CSV row or --role
    INFERRED = "inferred"  # what the host's endpoints showed (banners, listeners)
    DEFAULT = "default"  # nothing said: expressway (C or E), the union of both


class Status(enum.StrEnum):
    """What happened when we probed one endpoint."""

    OK = "ok"  # we hold the chain the server presented
    CLOSED = "closed"  # connection refused
    TIMEOUT = "timeout"  # connect or handshake took longer than allowed
    UNREACHABLE = "unreachable"  # no route, host down, network error
    DNS_ERROR = "dns-error"
    NO_TLS = "no-tls"  # something answered, but not TLS
    TLS_ERROR = "tls-error"  # TLS started but failed before we saw a certificate
    NO_CERTIFICATE = "no-certificate"  # listen: the client completed TLS without presenting a certificate


class Direction(enum.StrEnum):
    """Who opened the connection an observation comes from (JSON ``direction``)."""

    OUTBOUND = "outbound"  # ekuscan dialled the endpoint (scan): the chain is its server certificate
    INBOUND = "inbound"  # the peer dialled ekuscan (listen): the chain is its client certificate


class Severity(enum.IntEnum):
    """Finding severity; ordered so that ``max`` gives the worst."""

    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        return self.name.lower()


class Verdict(enum.StrEnum):
    """What happens to a link (DESIGN.md section 5)."""

    OK = "ok"
    UNKNOWN = "unknown"
    AT_RISK = "at-risk"
    BREAKS = "breaks"

    @property
    def rank(self) -> int:
        """Order for "worst of": breaks > at-risk > ok > unknown.

        ``unknown`` ranks lowest so that one silent port does not hide a healthy host's
        verdict; a host with nothing but silent ports is still ``unknown``.
        """
        return _VERDICT_RANK[self]


_VERDICT_RANK = {Verdict.UNKNOWN: 0, Verdict.OK: 1, Verdict.AT_RISK: 2, Verdict.BREAKS: 3}


class Use(enum.StrEnum):
    """The side of a TLS handshake on which a certificate is presented."""

    SERVER = "server"
    CLIENT = "client"


class TrustClass(enum.StrEnum):
    PUBLIC = "public"  # builds to a root in the public bundle
    PRIVATE = "private"  # does not
    SELF_SIGNED = "self-signed"  # the leaf is its own issuer
    NONE = "none"  # no certificate to judge


class RootProgram(enum.StrEnum):
    """A root program whose store holds the root a chain builds to (JSON ``root_programs``)."""

    CHROME = "chrome"  # the Chrome Root Store (its list is policy data)
    MOZILLA = "mozilla"  # Mozilla's store, as certifi ships it
    USER = "user"  # the --public-roots bundle: counts as Chrome-bound, as "public" always did


# The programs whose roots Chrome's Root Program policy (its clientAuth phase-out) binds.
CHROME_BOUND_PROGRAMS = frozenset({RootProgram.CHROME, RootProgram.USER})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address and port to probe, with what the user told us about it."""

    target: str  # the target text this endpoint came from, as the user wrote it
    host: str  # DNS name, or the address text for IP targets
    ip: str | None  # None until a DNS name is resolved
    port: int
    role: Role | None = None  # None: not given by the user
    sni: str | None = None  # only for DNS names or an explicit sni, never for IP literals
    label: str = ""
    swept: bool = False  # came from a CIDR block or range: listed only if something answered
    # Endpoints of one host (one name or address) share a group number; group_size says how
    # many there are, so the analysis can wait for all of them and judge the host as a whole.
    group: int = field(default=0, compare=False)
    group_size: int = field(default=1, compare=False)
    # The links the CSV's ``links`` column says the host really uses; None: not said, judge all.
    links: tuple[str, ...] | None = None


class ClientAuthOutcome(enum.StrEnum):
    """What a server did with the client certificate ``--client-cert`` presented (JSON ``outcome``)."""

    ACCEPTED = "accepted"  # the handshake completed and no rejection came within the bounded wait
    REJECTED = "rejected"  # the server ended the handshake with an alert after it got the certificate
    NOT_REQUESTED = "not-requested"  # the server never asked: nothing was sent
    ERROR = "error"  # it asked, but the exchange ended some other way (closed, timed out)


@dataclass(frozen=True, slots=True)
class ClientAuthTest:
    """The preflight of one endpoint: the candidate client certificate presented, and the answer."""

    certificate: str  # SHA-256 of the presented leaf, hex as every sha256 of the JSON
    outcome: ClientAuthOutcome
    alert: str | None = None  # the TLS alert the server sent (RFC 8446 name), where it sent one
    meaning: str = ""  # one sentence: what the outcome (the alert) says, and no more


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything one probe saw, as plain data: the input of the analysis."""

    endpoint: Endpoint
    status: Status
    error: str | None = None
    connected: bool = False  # the TCP connection was accepted: something listens there
    tls_version: str | None = None
    cipher: str | None = None
    chain_der: tuple[bytes, ...] = ()  # as presented, leaf first
    client_cert_requested: bool = False
    client_ca_names: tuple[str, ...] = ()  # RFC 4514 strings, in the order the server sent them
    # The same names as the server sent them (DER), in the same order; () where only the text is
    # known (an older record). Not in the JSON, which keeps the text.
    client_ca_names_der: tuple[bytes, ...] = field(default=(), repr=False)
    tls_alert: str | None = None  # the alert that ended a handshake whose chain we still hold
    sip_server: str | None = None  # Server (or User-Agent) header of the SIP OPTIONS answer
    http_server: str | None = None  # Server header of the answer to HTTP HEAD /
    duration_ms: float = 0.0
    # INBOUND (listen): the endpoint is the peer that connected (its address and source port),
    # the chain is the client certificate it presented, sip_server its User-Agent.
    direction: Direction = Direction.OUTBOUND
    client_auth_test: ClientAuthTest | None = None  # --client-cert: what the server did with it


@dataclass(frozen=True, slots=True)
class KeyFacts:
    algorithm: str  # "RSA", "EC", "Ed25519", "DSA", ...
    bits: int
    curve: str | None = None


@dataclass(frozen=True, slots=True)
class CertFacts:
    """What the rules need to know about one certificate, parsed once."""

    sha256: str
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    eku: tuple[str, ...] | None  # None: no EKU extension (any use allowed)
    key_usage: tuple[str, ...] | None
    is_ca: bool
    san_dns: tuple[str, ...]
    san_ip: tuple[str, ...]
    key: KeyFacts | None
    signature_hash: str | None  # "sha256", "sha1", ... None for Ed25519/unknown
    self_issued: bool  # subject == issuer
    issuer_organization: str | None
    subject_der: bytes = field(repr=False, default=b"")
    issuer_der: bytes = field(repr=False, default=b"")
    issuer_common_name: str | None = None
    subject_common_name: str | None = None
    subject_organization: str | None = None
    # Netscape certificate type (2.16.840.1.113730.1.1), which OpenSSL still honours: the bits
    # set, in bit order (sslClient, sslServer, smime, ...); None: no such extension.
    ns_cert_type: tuple[str, ...] | None = None
    ns_cert_type_error: str | None = None  # why the extension could not be decoded (OpenSSL rejects the cert)
    has_basic_constraints: bool = True  # False: no basicConstraints extension at all (is_ca is then False)
    version: int = 3  # the X.509 version, 1 or 3: OpenSSL accepts a self-signed v1 root as a CA
    # What chain completion needs (trust and completion in core): where the issuer is published
    # (AIA caIssuers URLs), which key signed it and which key it has (key identifiers), and how
    # many embedded Certificate Transparency SCTs it carries.
    ca_issuers: tuple[str, ...] = ()
    authority_key_id: bytes | None = field(repr=False, default=None)
    subject_key_id: bytes | None = field(repr=False, default=None)
    sct_count: int = 0

    @property
    def san(self) -> tuple[str, ...]:
        return (*(f"DNS:{n}" for n in self.san_dns), *(f"IP:{a}" for a in self.san_ip))


@dataclass(frozen=True, slots=True)
class UnparsedCert:
    """A certificate the server sent (or a file held) that cryptography could not parse."""

    sha256: str
    error: str


class EffectKind(enum.IntEnum):
    """Why a link has its verdict. The order is the precedence: a link shows the first kind
    that applies to its use (DESIGN.md section 5).

    A certificate the scan cannot see comes first (there is nothing to judge), then what
    breaks the link now, then what puts it at risk. Within one kind the earliest date counts:
    the first certificate of the chain to have expired, or to expire.
    """

    UNJUDGED = 1  # this use presents another certificate than the one seen (X15.5's client store)
    UNUSABLE = 2  # OpenSSL's purpose check fails for the use (EKU, keyUsage; usage.py)
    EXPIRED = 3
    NOT_YET_VALID = 4
    # The peer at the other end does not trust the certificate's issuer (an estate finding: it
    # takes both ends of the link, scanned in one run; never set by an endpoint's rules).
    ISSUER_NOT_ACCEPTED = 5
    CLIENTAUTH_SUNSET = 6  # a public certificate whose replacement will lack clientAuth
    EXPIRES_SOON = 7  # within the warning window (--warn-days)
    PUBLIC_CLIENT_CAS = 8  # the server accepts client certificates from public CAs

    @property
    def verdict(self) -> Verdict:
        return _EFFECT_VERDICT[self]


_EFFECT_VERDICT = {
    EffectKind.UNJUDGED: Verdict.UNKNOWN,
    EffectKind.UNUSABLE: Verdict.BREAKS,
    EffectKind.EXPIRED: Verdict.BREAKS,
    EffectKind.NOT_YET_VALID: Verdict.BREAKS,
    EffectKind.ISSUER_NOT_ACCEPTED: Verdict.BREAKS,
    EffectKind.CLIENTAUTH_SUNSET: Verdict.AT_RISK,
    EffectKind.EXPIRES_SOON: Verdict.AT_RISK,
    EffectKind.PUBLIC_CLIENT_CAS: Verdict.AT_RISK,
}


@dataclass(frozen=True, slots=True)
class LinkEffect:
    """What a finding does to the links that present the certificate for one of ``uses``.

    The rule that decides the finding sets it; link verdicts are derived from effects alone,
    never from a finding's code, message or details. Not part of the JSON output.
    """

    kind: EffectKind
    uses: frozenset[Use]
    reason: str  # the sentence the link verdict shows
    # The day the link fails (may differ from the finding's own breaks_on); None: no known date.
    breaks_on: datetime | None

    @property
    def verdict(self) -> Verdict:
        return self.kind.verdict


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """One link of one host that an estate finding's effect acts on (a host's link, not an endpoint's)."""

    host: str  # as the inventory names the host
    link: str
    uses: Use


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    message: str
    cert_sha256: str | None = None
    breaks_on: datetime | None = None  # the day the finding turns into a failure, where known
    details: tuple[tuple[str, str], ...] = ()  # machine-readable facts (JSON "details")
    effect: LinkEffect | None = None  # what it does to link verdicts; None: nothing
    # An estate finding's effect acts on these host links only; () for an endpoint's findings,
    # whose effect acts on the links of the endpoint that has them.
    targets: tuple[LinkTarget, ...] = ()


@dataclass(frozen=True, slots=True)
class LinkVerdict:
    name: str
    uses: Use
    verdict: Verdict
    reason: str
    breaks_on: datetime | None = None
    # What the verdict depends on that a scan cannot see ("B2B federation is used"); None: nothing.
    condition: str | None = None
    # --client-cert on a server link: what the server did with the candidate; None: not tried.
    observed: ObservedClientAuth | None = None


@dataclass(frozen=True, slots=True)
class ObservedClientAuth:
    """A server link's evidence from the preflight, beside the prediction for the candidate."""

    outcome: ClientAuthOutcome  # accepted or rejected (only a server that asked gives evidence)
    alert: str | None
    predicted: Verdict  # the candidate judged offline as a client certificate (as ``inspect`` would)

    @property
    def contradicts(self) -> bool:
        """The observation says otherwise than the prediction: rejected though predicted to work,
        or accepted though predicted to break."""
        works = self.predicted in (Verdict.OK, Verdict.AT_RISK)
        if self.outcome is ClientAuthOutcome.REJECTED:
            return works
        return self.outcome is ClientAuthOutcome.ACCEPTED and self.predicted is Verdict.BREAKS


class TrustBasis(enum.StrEnum):
    """What the trust class rests on (JSON ``trust_basis``)."""

    PRESENTED = "presented"  # the chain as the server sent it (complete or not: nothing was added)
    COMPLETED = "completed"  # certificates the server did not send complete the path to a root
    INFERRED = "inferred"  # no issuer found: public on evidence (embedded CT SCTs), not verified


class ChainSource(enum.StrEnum):
    """Where a certificate that completes a chain came from (JSON ``chain_added[].source``)."""

    PACKAGED = "packaged"  # Mozilla's intermediate preloading list, shipped with ekuscan
    USER = "user"  # --intermediates PEM
    FETCHED = "fetched"  # --fetch-issuers: the AIA caIssuers URL of the certificate it issued


@dataclass(frozen=True, slots=True)
class AddedCertificate:
    """A CA certificate the server did not send that the chain was completed with."""

    facts: CertFacts
    source: ChainSource
    url: str | None = None  # the caIssuers URL a fetched certificate came from


@dataclass(frozen=True, slots=True)
class TrustResult:
    trust: TrustClass
    anchor: str | None  # subject of the root the chain builds to, where one was found
    complete: bool  # the chain links up to a root (public, presented, or from the added certificates)
    # Indices of the path, leaf first: into the presented chain, and past its end into ``added``
    # (index len(presented) + i is added[i]).
    path: tuple[int, ...]
    anchor_eku: tuple[str, ...] | None = None  # EKU of a public root not presented by the server
    root_programs: tuple[RootProgram, ...] = ()  # the programs whose stores hold the anchor, in enum order

    @property
    def chrome_bound(self) -> bool:
        """Chrome's Root Program rules bind this chain: its anchor is in Chrome's store or in a
        ``--public-roots`` bundle. A public chain whose anchor no program is known to hold (judged
        public on other evidence) counts as bound, as every public chain did before root programs."""
        if not self.root_programs:
            return self.trust is TrustClass.PUBLIC
        return not CHROME_BOUND_PROGRAMS.isdisjoint(self.root_programs)

    basis: TrustBasis = TrustBasis.PRESENTED
    added: tuple[AddedCertificate, ...] = ()  # what completed the path, in path order


@dataclass(frozen=True, slots=True)
class Sighting:
    """Where and when the observation behind a report was made: set for reports judged from the
    history store (``ekuscan report``), where it may be days old and from another jump host."""

    scanner: str  # the scanner (jump host) whose run saw it
    run_id: int
    seen_at: datetime  # when that run started
    age: timedelta  # how long ago, by the clock (not --at)
    stale: bool  # older than --max-age
    vanished: bool  # absent from its scanner's latest complete run
    rejudged: bool  # judged now from its stored evidence; False: its recorded verdict, as it was


@dataclass(frozen=True, slots=True)
class EndpointReport:
    """One endpoint after analysis: the unit every writer renders."""

    observation: Observation
    role: Role
    chain: tuple[CertFacts | UnparsedCert, ...]
    trust: TrustResult
    findings: tuple[Finding, ...]
    links: tuple[LinkVerdict, ...]
    verdict: Verdict
    breaks_on: datetime | None
    role_source: RoleSource = RoleSource.DEFAULT
    software: Fingerprint | None = None  # the host's product and release, where a banner said
    # The services whose certificate this endpoint presents (CUCM: callmanager on 5061, ...);
    # empty for hosts with one certificate for everything (Expressway) and for files.
    services: tuple[str, ...] = ()
    sighting: Sighting | None = None  # None: observed by this run (scan, inspect)

    @property
    def endpoint(self) -> Endpoint:
        return self.observation.endpoint

    @property
    def leaf(self) -> CertFacts | None:
        first = self.chain[0] if self.chain else None
        return first if isinstance(first, CertFacts) else None


fast_pickling(globals())  # the state of its dataclasses as tuples: see model/pickling.py
