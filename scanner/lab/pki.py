"""The lab's PKI: public and private roots and issuing CAs, and one leaf per simulated host."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

LAB_DOMAIN = "lab.ekuscan.test"  # .test is reserved (RFC 2606): never a real name

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ZZ"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def issue(
    cn: str,
    org: str,
    *,
    issuer: Issued | None,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    eku: Sequence[x509.ObjectIdentifier] | None,
    dns_names: Sequence[str] = (),
    key: ec.EllipticCurvePrivateKey | None = None,
    raw_eku: bytes | None = None,
    ca_issuers: Sequence[str] = (),
) -> Issued:
    """One certificate. ``eku=None`` leaves the EKU extension out; ``raw_eku`` writes a
    malformed one (for the unparseable-certificate case); ``ca_issuers`` are the AIA URLs
    where its issuer is published."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = _name(cn, org)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if raw_eku is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.oid.ExtensionOID.EXTENDED_KEY_USAGE, raw_eku), critical=False
        )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    if ca_issuers:
        descriptions = [
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(url)
            )
            for url in ca_issuers
        ]
        builder = builder.add_extension(x509.AuthorityInformationAccess(descriptions), critical=False)
    signing_key = issuer.key if issuer is not None else key
    return Issued(builder.sign(signing_key, hashes.SHA256()), key)


class LeafKind(enum.Enum):
    PUBLIC_SERVER_ONLY = "public serverAuth-only"
    PUBLIC_BOTH_EXPIRING = "public serverAuth+clientAuth, expires in 75 days"
    PRIVATE_BOTH = "private CA, serverAuth+clientAuth"
    PUBLIC_GENY = "public leaf with both EKUs under a serverAuth-only intermediate"
    PRIVATE_EXPIRED = "private CA, expired 10 days ago"
    PUBLIC_BOTH_LEAF_ONLY = "public serverAuth+clientAuth, sent without its intermediate"


@dataclass(frozen=True)
class LabPKI:
    now: datetime
    public_root: Issued
    public_ca: Issued  # serverAuth + clientAuth, like DigiCert G2 or HydrantID O1 today
    public_geny_ca: Issued  # serverAuth only, like Let's Encrypt YR1/YE1
    private_root: Issued
    private_ca: Issued  # no EKU, as private CAs usually are
    # Another private hierarchy's root, which issued none of the lab's leaves: the CA that an
    # Expressway-E trusts when its C's certificate comes from the private CA above.
    other_private_root: Issued

    @classmethod
    def generate(cls, now: datetime) -> LabPKI:
        now = now.replace(microsecond=0)  # certificates hold whole seconds
        day = timedelta(days=1)
        public_root = issue(
            "EKUSCAN LAB Public Root R1",
            "EKUSCAN LAB Public Trust",
            issuer=None,
            not_before=now - 900 * day,
            not_after=now + 7000 * day,
            ca=True,
            eku=None,
        )
        public_ca = issue(
            "EKUSCAN LAB Public TLS CA 2024",
            "EKUSCAN LAB Public Trust",
            issuer=public_root,
            not_before=now - 800 * day,
            not_after=now + 1500 * day,
            ca=True,
            eku=[SERVER_AUTH, CLIENT_AUTH],
        )
        geny = issue(
            "EKUSCAN LAB Public TLS YR1",
            "EKUSCAN LAB Public Trust",
            issuer=public_root,
            not_before=now - 300 * day,
            not_after=now + 1000 * day,
            ca=True,
            eku=[SERVER_AUTH],
        )
        private_root = issue(
            "Example Corp Private Root",
            "Example Corp",
            issuer=None,
            not_before=now - 900 * day,
            not_after=now + 5000 * day,
            ca=True,
            eku=None,
        )
        private_ca = issue(
            "Example Corp UC Issuing CA",
            "Example Corp",
            issuer=private_root,
            not_before=now - 800 * day,
            not_after=now + 3000 * day,
            ca=True,
            eku=None,
        )
        other_private_root = issue(
            "Example Corp DMZ Root",
            "Example Corp",
            issuer=None,
            not_before=now - 900 * day,
            not_after=now + 5000 * day,
            ca=True,
            eku=None,
        )
        return cls(now, public_root, public_ca, geny, private_root, private_ca, other_private_root)

    @property
    def public_intermediates(self) -> tuple[Issued, ...]:
        """The public issuing CAs, as a user exports them for ``--intermediates``."""
        return (self.public_ca, self.public_geny_ca)

    def leaf(self, host: str, kind: LeafKind) -> tuple[Issued, tuple[Issued, ...]]:
        """A host's certificate and the chain it sends after it."""
        day = timedelta(days=1)
        names = [f"{host}.{LAB_DOMAIN}"]
        both = [SERVER_AUTH, CLIENT_AUTH]
        nb = self.now - 60 * day
        if kind is LeafKind.PUBLIC_SERVER_ONLY:
            return issue(
                names[0],
                "Example Corp",
                issuer=self.public_ca,
                not_before=nb,
                not_after=self.now + 140 * day,
                ca=False,
                eku=[SERVER_AUTH],
                dns_names=names,
            ), (self.public_ca,)
        if kind is LeafKind.PUBLIC_BOTH_EXPIRING:
            return issue(
                names[0],
                "Example Corp",
                issuer=self.public_ca,
                not_before=self.now - 300 * day,
                not_after=self.now + 75 * day,
                ca=False,
                eku=both,
                dns_names=names,
            ), (self.public_ca,)
        if kind is LeafKind.PRIVATE_BOTH:
            return issue(
                names[0],
                "Example Corp",
                issuer=self.private_ca,
                not_before=nb,
                not_after=self.now + 700 * day,
                ca=False,
                eku=both,
                dns_names=names,
            ), (self.private_ca, self.private_root)
        if kind is LeafKind.PUBLIC_GENY:
            return issue(
                names[0],
                "Example Corp",
                issuer=self.public_geny_ca,
                not_before=nb,
                not_after=self.now + 150 * day,
                ca=False,
                eku=both,
                dns_names=names,
            ), (self.public_geny_ca,)
        if kind is LeafKind.PUBLIC_BOTH_LEAF_ONLY:
            # The intermediate was never uploaded: the server sends its leaf alone, and peers
            # that hold the intermediate accept it anyway.
            return issue(
                names[0],
                "Example Corp",
                issuer=self.public_ca,
                not_before=self.now - 100 * day,
                not_after=self.now + 120 * day,
                ca=False,
                eku=both,
                dns_names=names,
            ), ()
        if kind is LeafKind.PRIVATE_EXPIRED:
            return issue(
                names[0],
                "Example Corp",
                issuer=self.private_ca,
                not_before=self.now - 400 * day,
                not_after=self.now - 10 * day,
                ca=False,
                eku=both,
                dns_names=names,
            ), (self.private_ca,)
        raise ValueError(kind)
