"""The policy data: links, release tables, dates, CA cut-offs and Chrome's root list, as typed values.

The facts ship as ``scanner/data/policy.json`` so that a fact changes in one reviewed file,
not in code; ``--policy FILE`` replaces it with a user's copy of the same schema. The typed
values are here; ``policy_schema.parse_policy`` builds them, checking every field. The
analysis receives a ``Policy`` and never reads files itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from scanner.model import Product, Role, Use, Version

POLICY_SCHEMA = "ekuscan/policy/1"
GENERIC_SERVER_LINK = "tls-server"
PACKAGED = "packaged"
CHROME_BACKSTOP = "chrome_leaf_serverauth_only"  # the dates entry every CA cut-off falls back to


class PolicyError(ValueError):
    """The policy data is malformed; ``problems`` holds one line per bad field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class ConditionScope(enum.StrEnum):
    """What a link's condition qualifies."""

    LINK = "link"  # the link exists only where a feature is configured (X15.4 E's client links)
    CLIENT_EKU_CHECK = "client-eku-check"  # the host checks its peers' client EKU only where configured


@dataclass(frozen=True, slots=True)
class LinkCondition:
    """Configuration a scan cannot see, on which a link (or its peers' EKU check) depends."""

    text: str  # reads after "if": "B2B federation is used"
    scope: ConditionScope
    source: str
    from_version: Version | None = None  # it holds on this release and later ...
    before_version: Version | None = None  # ... and on releases before this one
    note: str = ""  # why, for the link's reason

    def applies_to_version(self, version: Version | None) -> bool:
        """An unknown release counts as older than any fix: a condition that a fix brings in
        (``from_version``) does not hold, one that a fix takes away (``before_version``) does."""
        if version is None:
            return self.from_version is None
        if self.from_version is not None and version < self.from_version:
            return False
        return self.before_version is None or version < self.before_version


@dataclass(frozen=True, slots=True)
class LinkPeer:
    """The server link at the other end of a client link: the listener that checks its certificate."""

    role: Role
    link: str


@dataclass(frozen=True, slots=True)
class LinkSpec:
    role: Role
    name: str
    uses: Use
    ports: frozenset[int]  # empty: any port
    description: str
    from_version: Version | None = None  # the link exists on this release and later
    before_version: Version | None = None  # ... and on releases before this one
    # The host's service whose certificate the link uses (CUCM: callmanager, tomcat, tvs, ipsec);
    # None: the host's one certificate (Expressway before X15.5, CUBE).
    service: str | None = None
    condition: LinkCondition | None = None
    source: str = ""
    # A client link's server end, where both ends can be scanned (traversal zone -> traversal
    # server): the estate compares this certificate with what that server accepts.
    peer: LinkPeer | None = None

    def applies_to_port(self, port: int) -> bool:
        return not self.ports or port in self.ports

    def applies_to_version(self, version: Version | None) -> bool:
        """Unknown release: every link counts (we do not guess a fix is installed)."""
        if version is None:
            return True
        if self.from_version is not None and version < self.from_version:
            return False
        return self.before_version is None or version < self.before_version


@dataclass(frozen=True, slots=True)
class DatedFact:
    day: date
    source: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class PublicCA:
    """A public CA and the first issuance day on which its TLS leaves lack clientAuth."""

    name: str
    organizations: frozenset[str]  # casefolded issuer O= values
    common_names: tuple[str, ...]  # casefolded issuer CN=; a trailing * matches a prefix
    clientauth_cutoff: date | None  # None: no published date, Chrome's rule is the backstop
    source: str
    note: str = ""
    # False: this CA's hierarchy sits outside Chrome's root store, so Chrome's rules do not
    # bind it. Only consulted where no root is at hand to look up (a CertificateRequest's
    # CA names); a chain's own anchor decides for the chain.
    chrome_bound: bool = True

    def matches(self, organization: str | None, common_name: str | None) -> bool:
        if organization and organization.casefold() in self.organizations:
            return True
        if not common_name:
            return False
        cn = common_name.casefold()
        return any(cn.startswith(n[:-1]) if n.endswith("*") else cn == n for n in self.common_names)


@dataclass(frozen=True, slots=True)
class Cutoff:
    """When a certificate's CA stops issuing clientAuth, and why we think so."""

    ca: str
    day: date
    source: str
    backstop: bool  # True: no CA date known; Chrome's leaf rule decides


@dataclass(frozen=True, slots=True)
class FixedRelease:
    version: Version
    summary: str


@dataclass(frozen=True, slots=True)
class ReleaseRange:
    """Releases from ``low`` on: up to ``through`` (inclusive) or before ``before``, whichever is set.

    A train ("every X14", "X15 before X15.4") is a range by its bounds, not a list of numbers,
    so that a maintenance release the field notice does not list still falls inside it.
    """

    low: Version
    through: Version | None = None
    before: Version | None = None
    label: str = ""  # how messages name it: "every X14", "X15 before X15.4", "X14.0.0-X14.3.7"

    def __contains__(self, version: Version) -> bool:
        if version < self.low:
            return False
        if self.through is not None and version > self.through:
            return False
        return self.before is None or version < self.before


@dataclass(frozen=True, slots=True)
class Releases:
    """Expressway's releases against field notice FN74362."""

    affected: tuple[ReleaseRange, ...] = ()
    unsupported_before: Version | None = None
    serverauth_only_e_from: Version | None = None
    separate_client_store_from: Version | None = None
    fixed: tuple[FixedRelease, ...] = ()
    source: str = ""
    listed: str = ""  # the releases the notice itself lists, for messages (it calls them examples)

    def is_affected(self, version: Version) -> bool:
        return any(version in span for span in self.affected) or (
            self.unsupported_before is not None and version < self.unsupported_before
        )

    @property
    def affected_text(self) -> str:
        return ", ".join(span.label for span in self.affected)

    def fixed_by(self, version: Version) -> tuple[FixedRelease, ...]:
        """The fixed releases this version includes, oldest first."""
        return tuple(f for f in sorted(self.fixed, key=lambda f: f.version) if version >= f.version)

    def separate_client_store(self, version: Version | None) -> bool:
        return (
            version is not None
            and self.separate_client_store_from is not None
            and version >= self.separate_client_store_from
        )


@dataclass(frozen=True, slots=True)
class ProductNotice:
    """A Cisco field notice on another product's certificates (CUCM, CUBE): what it says is
    affected and which release fixes it, where published."""

    product: Product
    notice: str  # "FN74345"
    revision: str  # "1.2 (2026-03-25)"
    source: str
    affected: str  # as the notice words it: "every release"
    fixed_in: str | None  # as the notice names it ("15 SU5", "IOS XE 26.1.1"); None: no fix named
    fixed_in_version: Version | None = None  # the same as a comparable release, where banners show one
    fix_published: bool = False  # False: announced for a future release
    note: str = ""


@dataclass(frozen=True, slots=True)
class ListedRoot:
    sha256: str  # upper-case hex, as CertFacts.sha256
    subject: str  # as the list writes it
    constrained: bool  # in the list's "Constrained Roots" section (trusted with extra constraints)


@dataclass(frozen=True, slots=True)
class ChromeRootStore:
    """The Chrome Root Store's list of roots: whose hierarchies Chrome's Root Program binds."""

    version: int
    source: str
    roots: tuple[ListedRoot, ...]
    fingerprints: frozenset[str]  # of roots, for anchors
    names: frozenset[tuple[str, str]]  # casefolded (CN, O) of roots, for CertificateRequest CA names


@dataclass(frozen=True, slots=True)
class AlertMeanings:
    """What a TLS alert says about a client certificate the server rejected (``--client-cert``)."""

    source: str
    meanings: dict[str, str]  # RFC 8446 alert name -> one sentence, no more than the alert says

    def meaning(self, alert: str) -> str | None:
        return self.meanings.get(alert)


@dataclass(frozen=True)
class Policy:
    links: tuple[LinkSpec, ...]
    warn_days: int = 30
    dates: dict[str, DatedFact] = field(default_factory=dict)
    max_validity: tuple[tuple[date | None, int], ...] = ()  # (issued from, days), in order
    max_validity_source: str = ""
    public_cas: tuple[PublicCA, ...] = ()
    releases: Releases = field(default_factory=Releases)
    origin: str = PACKAGED  # where it came from: "packaged" or the file name
    document: Any = field(default=None, repr=False, compare=False)  # as loaded, for `policy show`
    # None: the file has no such section (written before ekuscan knew root programs): every
    # root of the public bundle is then taken to be in Chrome's store, as ekuscan did then.
    chrome_root_store: ChromeRootStore | None = None
    product_notices: tuple[ProductNotice, ...] = ()
    client_cert_alerts: AlertMeanings | None = None  # None: a file without the section

    def links_for(self, role: Role, version: Version | None = None) -> tuple[LinkSpec, ...]:
        """The role's links on a release; ``expressway`` (C or E unknown) is the union of both rows."""
        if role is Role.EXPRESSWAY:
            wanted = {Role.EXPRESSWAY_C, Role.EXPRESSWAY_E, Role.EXPRESSWAY}
        else:
            wanted = {role}
        seen: set[tuple[str, Use]] = set()
        result = []
        for link in self.links:
            if (
                link.role in wanted
                and link.applies_to_version(version)
                and (link.name, link.uses) not in seen
            ):
                seen.add((link.name, link.uses))
                result.append(link)
        return tuple(result)

    def link_names(self, role: Role | None) -> frozenset[str]:
        """The names a target CSV's ``links`` column may use for a host of this role (any role:
        None), on any release; the generic server link counts for every role."""
        links = self.links if role is None else self.links_for(role)
        return frozenset(link.name for link in links) | {GENERIC_SERVER_LINK}

    @property
    def backstop(self) -> DatedFact | None:
        return self.dates.get(CHROME_BACKSTOP)

    def public_ca(self, organization: str | None, common_name: str | None) -> PublicCA | None:
        """The first CA of the table this issuer (O=, CN=) matches."""
        return next((ca for ca in self.public_cas if ca.matches(organization, common_name)), None)

    def cutoff_for(
        self, organization: str | None, common_name: str | None, *, chrome_bound: bool = True
    ) -> Cutoff | None:
        """The first issuance day without clientAuth for a leaf of this issuer (O=, CN=).

        In a Chrome-bound hierarchy: the CA's own date where the policy knows one, else Chrome's
        backstop; never later than the backstop, which binds every CA in Chrome's store. Outside
        Chrome's store only the CA's own date applies; None where it published none.
        """
        ca = self.public_ca(organization, common_name)
        own = ca.clientauth_cutoff if ca is not None else None
        if not chrome_bound:
            return None if ca is None or own is None else Cutoff(ca.name, own, ca.source, backstop=False)
        backstop = self.backstop
        if ca is not None and own is not None and (backstop is None or own <= backstop.day):
            return Cutoff(ca.name, own, ca.source, backstop=False)
        if backstop is None:
            return None
        # no CA date, or one later than Chrome allows
        name = ca.name if ca is not None else organization or common_name or "this CA"
        return Cutoff(name, backstop.day, backstop.source, backstop=True)

    def max_validity_days(self, issued: date) -> int | None:
        """The longest validity a public TLS leaf issued on that day may have."""
        days = None
        for start, length in self.max_validity:
            if start is None or issued >= start:
                days = length
        return days

    def last_clientauth_day(self, cutoff: date) -> date | None:
        """The last day a leaf with clientAuth can be valid when issuance stops on ``cutoff``:
        issued the day before, for the longest validity allowed then."""
        issued = cutoff - timedelta(days=1)
        days = self.max_validity_days(issued)
        return None if days is None else issued + timedelta(days=days)

    @property
    def last_public_clientauth_day(self) -> date | None:
        """The last day any leaf of a Chrome-bound hierarchy can still carry clientAuth: issued the
        day before Chrome's backstop, for the longest validity allowed then (about 2027-09-30)."""
        backstop = self.backstop
        return None if backstop is None else self.last_clientauth_day(backstop.day)
