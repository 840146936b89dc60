"""Certificate factories for tests: explicit dates, explicit EKUs, no randomness that matters."""

from __future__ import annotations

import functools
import itertools
import tracemalloc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID, NameOID

from scanner.core.analysis import AnalysisContext, analyze_host
from scanner.model import Endpoint, EndpointReport, Observation, Status

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

SA = ExtendedKeyUsageOID.SERVER_AUTH
CA_ = ExtendedKeyUsageOID.CLIENT_AUTH
ANY = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
# Named EKU sets used across tests: None means "no EKU extension at all".
EKU_SETS: dict[str, list[x509.ObjectIdentifier] | None] = {
    "none": None,
    "serverAuth": [SA],
    "clientAuth": [CA_],
    "both": [SA, CA_],
    "anyEKU": [ANY],
}

_KEYS: dict[str, object] = {}


@functools.cache
def real_sct_list() -> bytes:
    """The embedded SCT list of the real leaf tests/data/realcerts/badssl-invalid-expected-sct-leaf.pem
    (one SCT, whose signature badssl made invalid on purpose), as the extension's DER value."""
    path = Path(__file__).parent / "data" / "realcerts" / "badssl-invalid-expected-sct-leaf.pem"
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.extensions.get_extension_for_oid(
        ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS
    ).value.public_bytes()


def key(kind: str = "ec") -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """Keys are cached per kind: generating RSA keys is the slow part of certificate tests."""
    if kind not in _KEYS:
        if kind == "ec":
            _KEYS[kind] = ec.generate_private_key(ec.SECP256R1())
        elif kind.startswith("rsa"):
            _KEYS[kind] = rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:] or 2048))
        elif kind.startswith("ec-"):
            curve = {"ec-p192": ec.SECP192R1(), "ec-p384": ec.SECP384R1()}[kind]
            _KEYS[kind] = ec.generate_private_key(curve)
        else:
            raise ValueError(kind)
    return _KEYS[kind]  # type: ignore[return-value]


@dataclass(frozen=True)
class Made:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def make_cert(
    cn: str,
    *,
    issuer: Made | None = None,
    ca: bool = False,
    eku: Sequence[x509.ObjectIdentifier] | str | None = "both",
    not_before: datetime = NOW - 30 * DAY,
    not_after: datetime = NOW + 300 * DAY,
    key_kind: str | None = None,
    org: str = "Test Org",
    dns: Sequence[str] = (),
    key_usage: str | None = "default",
    hash_alg: hashes.HashAlgorithm | None = None,
    unique_key: bool = True,
    ca_issuers: Sequence[str] = (),
    key_ids: bool = False,
    key_to_certify: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
    scts: bool = False,
) -> Made:
    """One certificate. ``eku`` is a list of OIDs, None (no extension), or a name from EKU_SETS.

    ``ca_issuers``: AIA caIssuers URLs; ``key_ids``: subject and authority key identifiers;
    ``key_to_certify``: the key to certify (a re-issued CA keeps its key); ``scts``: an embedded SCT list
    extension (its bytes are not a real log's signature: only its presence is judged).
    """
    if isinstance(eku, str):
        eku = EKU_SETS[eku]
    private = key_to_certify or (
        ec.generate_private_key(ec.SECP256R1()) if unique_key and key_kind is None else key(key_kind or "ec")
    )
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_usage == "default":
        if ca:
            ku = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        else:
            ku = x509.KeyUsage(True, False, True, False, False, False, False, False, False)
        builder = builder.add_extension(ku, critical=True)
    elif key_usage == "keyCertSign-only":
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, False, False, False), critical=True
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    if ca_issuers:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
                    )
                    for u in ca_issuers
                ]
            ),
            critical=False,
        )
    if key_ids:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(private.public_key()), critical=False
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                (issuer.key if issuer else private).public_key()
            ),
            critical=False,
        )
    if scts:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS, real_sct_list()),
            critical=False,
        )
    signer = issuer.key if issuer else private
    cert = builder.sign(signer, hash_alg or hashes.SHA256())
    return Made(cert, private)


def make_chain(
    leaf_eku: str = "both",
    int_eku: str = "none",
    root_eku: str = "none",
    *,
    leaf_cn: str = "host.example.test",
    root_kw: dict[str, object] | None = None,
    int_kw: dict[str, object] | None = None,
    **leaf_kw: object,
) -> tuple[Made, Made, Made]:
    """root -> intermediate -> leaf, each with the named EKU set; ``*_kw`` override make_cert arguments."""
    root = make_cert(
        "Test Root",
        **{
            "ca": True,
            "eku": root_eku,
            "not_before": NOW - 1000 * DAY,
            "not_after": NOW + 5000 * DAY,
            **(root_kw or {}),
        },  # type: ignore[arg-type]
    )
    inter = make_cert(
        "Test Intermediate",
        **{
            "issuer": root,
            "ca": True,
            "eku": int_eku,
            "not_before": NOW - 900 * DAY,
            "not_after": NOW + 3000 * DAY,
            **(int_kw or {}),
        },  # type: ignore[arg-type]
    )
    leaf = make_cert(leaf_cn, **{"issuer": inter, "eku": leaf_eku, "dns": [leaf_cn], **leaf_kw})  # type: ignore[arg-type]
    return root, inter, leaf


def observation(
    *certs: Made | bytes,
    host: str = "192.0.2.10",
    port: int = 5061,
    sni: str | None = None,
    requested: bool = False,
    ca_names: tuple[str, ...] = (),
    role=None,
    sip_server: str | None = None,
    http_server: str | None = None,
) -> Observation:
    """An Observation as if a server had presented ``certs`` (leaf first)."""
    ders = tuple(c if isinstance(c, bytes) else c.der for c in certs)
    endpoint = Endpoint(target=host, host=host, ip=host, port=port, role=role, sni=sni)
    return Observation(
        endpoint,
        Status.OK,
        connected=True,
        chain_der=ders,
        client_cert_requested=requested,
        client_ca_names=ca_names,
        sip_server=sip_server,
        http_server=http_server,
    )


def bytes_kept_per_item(feed: Callable[[Any], object], items: Sequence[Any], warm_up: int = 1) -> float:
    """The memory ``feed`` keeps per item (tracemalloc), after ``warm_up`` items fed untraced:
    one-time costs, such as opening a spool file, are not per item."""
    for item in items[:warm_up]:
        feed(item)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for item in items[warm_up:]:
            feed(item)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return grown / max(1, len(items) - warm_up)


def judge(observations: Iterable[Observation], analysis: AnalysisContext) -> Iterator[EndpointReport]:
    """Observations in target order, judged a host (``Endpoint.group``) at a time, as a scan does."""
    for _, host in itertools.groupby(observations, key=lambda o: o.endpoint.group):
        yield from analyze_host(list(host), analysis)
