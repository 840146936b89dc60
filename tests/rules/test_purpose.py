"""Purpose rules beyond the EKU, driven through analyze(): NS_CERT_TYPE_NO_CLIENT,
NS_CERT_TYPE_NO_SERVER, NS_CERT_TYPE_MALFORMED, CHAIN_NS_CERT_TYPE_NO_SSL_CA, CHAIN_NOT_A_CA.

Each rule has one parametrized test whose cases say which certificates (by label) the rule
flags; an empty tuple means it stays silent. OpenSSL's own answers on such chains are
checked in tests/test_eku_openssl.py and tests/test_ca_openssl.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from scanner.core.analysis import AnalysisContext, analyze
from scanner.core.certs import ParsedCert, parse_der, split_certificates
from scanner.core.trust import RootStore
from scanner.core.usage import ca_refusal
from scanner.model import EffectKind, Observation, Role, Use, Verdict
from tests.conftest import context
from tests.factories import CA_, SA, observation
from tests.purpose_certs import CA_KEY_USAGE, make, make_v1_root, ns_value
from tests.rules.scenarios import GARBAGE, Build, Scenario, flagged, messages

BOTH = [SA, CA_]
SERVER_PROFILE = ns_value("sslServer")  # Easy-RSA 2 build-key-server, old OpenSSL configurations
CLIENT_PROFILE = ns_value("sslClient", "smime")  # Easy-RSA 2 build-key
TRUNCATED = b"\x03\x02\x00"


def chain(
    leaf_ns: bytes | None = None,
    *,
    leaf_eku: list[x509.ObjectIdentifier] | None = BOTH,
    int_kw: dict[str, object] | None = None,
    root_kw: dict[str, object] | None = None,
    present_root: bool = True,
    public: bool = False,
    role: Role | None = None,
) -> Scenario:
    """root -> intermediate -> leaf; CAs have basicConstraints CA:TRUE unless the *_kw say otherwise."""
    root = make("Legacy Root", **{"ca": True, "ku": CA_KEY_USAGE, **(root_kw or {})})  # type: ignore[arg-type]
    inter = make("Legacy Intermediate", issuer=root, **{"ca": True, "ku": CA_KEY_USAGE, **(int_kw or {})})  # type: ignore[arg-type]
    leaf = make("host.example.test", issuer=inter, eku=leaf_eku, ns=leaf_ns)  # type: ignore[arg-type]
    presented = (leaf, inter, root) if present_root and not public else (leaf, inter)
    ctx = context(RootStore.from_ders([root.der])) if public else context()
    return Scenario(
        observation(*presented, role=role), ctx, {"leaf": leaf.der, "int": inter.der, "root": root.der}
    )


def two_level(root_kw: dict[str, object], *, v1: bool = False, role: Role | None = None) -> Scenario:
    """root -> leaf, the root presented: the root is the top of the path."""
    root = make_v1_root("Legacy Root") if v1 else make("Legacy Root", **root_kw)  # type: ignore[arg-type]
    leaf = make("host.example.test", issuer=root, eku=BOTH)
    return Scenario(observation(leaf, root, role=role), context(), {"leaf": leaf.der, "root": root.der})


def self_signed(ns: bytes) -> Scenario:
    leaf = make("self.example.test", eku=BOTH, ns=ns)
    return Scenario(observation(leaf), context(), {"leaf": leaf.der})


def scenario_input(s: Scenario) -> tuple[Observation, AnalysisContext]:
    return s.obs, s.ctx


def unparseable_leaf() -> Scenario:
    return Scenario(observation(GARBAGE), context(), {"garbage": GARBAGE})


# --- NS_CERT_TYPE_NO_CLIENT ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain(SERVER_PROFILE), ("leaf",), id="easy-rsa-server-profile"),
        pytest.param(lambda: chain(SERVER_PROFILE, public=True), ("leaf",), id="public-chain"),
        pytest.param(lambda: chain(ns_value("smime")), ("leaf",), id="smime-only"),
        pytest.param(lambda: chain(ns_value("sslCA")), ("leaf",), id="ca-bit-is-not-client"),
        pytest.param(lambda: chain(ns_value()), ("leaf",), id="present-but-empty"),
        pytest.param(lambda: chain(SERVER_PROFILE, role=Role.EXPRESSWAY_C), ("leaf",), id="role-c-applies"),
        pytest.param(lambda: chain(SERVER_PROFILE, leaf_eku=[SA]), ("leaf",), id="besides-eku-no-clientauth"),
        pytest.param(lambda: self_signed(SERVER_PROFILE), ("leaf",), id="self-signed"),
        pytest.param(lambda: chain(CLIENT_PROFILE), (), id="easy-rsa-client-profile"),
        pytest.param(lambda: chain(ns_value("sslClient", "sslServer")), (), id="client-and-server"),
        pytest.param(lambda: chain(None), (), id="no-ns-cert-type"),
        pytest.param(lambda: chain(TRUNCATED), (), id="malformed-is-another-rule"),
        pytest.param(lambda: chain(SERVER_PROFILE, role=Role.SERVER), (), id="role-server-not-applicable"),
        pytest.param(unparseable_leaf, (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_ns_cert_type_no_client(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "NS_CERT_TYPE_NO_CLIENT") == expected
    for message in messages(s, "NS_CERT_TYPE_NO_CLIENT"):
        assert "no sslClient" in message


def test_server_profile_breaks_exactly_the_client_links() -> None:
    """EKU serverAuth+clientAuth, nsCertType server: the client links break, the server links do not."""
    report = analyze(*scenario_input(chain(SERVER_PROFILE, role=Role.EXPRESSWAY_C)))
    client = {(link.verdict, link.reason) for link in report.links if link.uses is Use.CLIENT}
    assert client == {(Verdict.BREAKS, "leaf nsCertType lacks sslClient")}
    assert {link.verdict for link in report.links if link.uses is Use.SERVER} == {Verdict.OK}
    assert "CLIENTAUTH_SUNSET" not in {f.code for f in report.findings}


# --- NS_CERT_TYPE_NO_SERVER ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain(CLIENT_PROFILE), ("leaf",), id="easy-rsa-client-profile"),
        pytest.param(lambda: chain(ns_value("sslClient"), role=Role.SERVER), ("leaf",), id="role-server"),
        pytest.param(lambda: chain(ns_value()), ("leaf",), id="present-but-empty"),
        pytest.param(lambda: chain(SERVER_PROFILE), (), id="server-profile"),
        pytest.param(lambda: chain(None), (), id="no-ns-cert-type"),
        pytest.param(unparseable_leaf, (), id="leaf-unparseable-not-applicable"),
    ],
)
def test_ns_cert_type_no_server(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "NS_CERT_TYPE_NO_SERVER") == expected
    for message in messages(s, "NS_CERT_TYPE_NO_SERVER"):
        assert "no sslServer" in message


# --- NS_CERT_TYPE_MALFORMED ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: chain(TRUNCATED), ("leaf",), id="leaf-truncated"),
        pytest.param(lambda: chain(b"\x04\x01\x80"), ("leaf",), id="leaf-octet-string"),
        pytest.param(lambda: chain(int_kw={"ns": b""}), ("int",), id="intermediate-empty-value"),
        pytest.param(lambda: chain(root_kw={"ns": TRUNCATED}), ("root",), id="presented-root"),
        pytest.param(lambda: chain(TRUNCATED, int_kw={"ns": TRUNCATED}), ("leaf", "int"), id="two"),
        pytest.param(lambda: chain(SERVER_PROFILE), (), id="well-formed"),
        pytest.param(lambda: chain(SERVER_PROFILE + b"\x00"), (), id="trailing-bytes-openssl-ignores"),
        pytest.param(lambda: chain(None), (), id="absent"),
        pytest.param(
            lambda: chain(root_kw={"ns": TRUNCATED}, present_root=False), (), id="root-not-presented-not-seen"
        ),
    ],
)
def test_ns_cert_type_malformed(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "NS_CERT_TYPE_MALFORMED") == expected
    for message in messages(s, "NS_CERT_TYPE_MALFORMED"):
        assert "nsCertType" in message


def test_malformed_ns_cert_type_breaks_every_link() -> None:
    report = analyze(*scenario_input(chain(int_kw={"ns": TRUNCATED}, role=Role.EXPRESSWAY)))
    assert {link.verdict for link in report.links} == {Verdict.BREAKS}
    assert all("nsCertType that is not valid DER" in link.reason for link in report.links)


# --- CHAIN_NS_CERT_TYPE_NO_SSL_CA ---------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(lambda: two_level({"ns": ns_value("smimeCA")}), ("root",), id="root-smime-ca-only"),
        pytest.param(lambda: two_level({"ns": ns_value("objectSigningCA")}), ("root",), id="root-objsign-ca"),
        pytest.param(lambda: two_level({"ns": ns_value("sslCA")}), (), id="root-ssl-ca"),
        pytest.param(lambda: two_level({"ns": ns_value("sslCA", "smimeCA")}), (), id="root-ssl-and-smime-ca"),
        pytest.param(
            lambda: two_level({"ku": CA_KEY_USAGE, "ns": ns_value("smimeCA")}),
            (),
            id="keyusage-decides-instead",
        ),
        pytest.param(
            lambda: two_level({"ca": True, "ns": ns_value("smimeCA")}),
            (),
            id="basic-constraints-decide-instead",
        ),
        pytest.param(
            lambda: chain(int_kw={"ca": None, "ku": None, "ns": ns_value("smimeCA")}),
            (),
            id="intermediate-is-another-rule",
        ),
        pytest.param(lambda: two_level({"ns": ns_value("sslServer")}), (), id="no-ca-bit-is-another-rule"),
    ],
)
def test_chain_ns_cert_type_no_ssl_ca(build: Build, expected: tuple[str, ...]) -> None:
    s = build()
    assert flagged(s, "CHAIN_NS_CERT_TYPE_NO_SSL_CA") == expected
    for message in messages(s, "CHAIN_NS_CERT_TYPE_NO_SSL_CA"):
        assert "no sslCA" in message


# --- CHAIN_NOT_A_CA -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "expected", "because"),
    [
        pytest.param(
            lambda: chain(int_kw={"ca": None, "ns": ns_value("sslCA")}),
            ("int",),
            "no basicConstraints CA:TRUE",
            id="intermediate-without-basic-constraints",
        ),
        pytest.param(
            lambda: chain(int_kw={"ca": None}, public=True),
            ("int",),
            "no basicConstraints CA:TRUE",
            id="public-chain-intermediate",
        ),
        pytest.param(lambda: chain(int_kw={"ca": False}), ("int",), "CA:FALSE", id="intermediate-ca-false"),
        pytest.param(
            lambda: chain(int_kw={"ku": ("digitalSignature",)}),
            ("int",),
            "lacks keyCertSign",
            id="intermediate-keyusage-without-certsign",
        ),
        pytest.param(
            lambda: two_level({"ns": ns_value("sslServer")}),
            ("root",),
            "no Netscape CA type",
            id="root-netscape-type-without-ca-bit",
        ),
        pytest.param(lambda: two_level({}), ("root",), "no keyUsage", id="root-with-no-extension"),
        pytest.param(lambda: two_level({"ku": CA_KEY_USAGE}), (), "", id="root-keyusage-certsign-suffices"),
        pytest.param(lambda: two_level({"ns": ns_value("sslCA")}), (), "", id="root-ssl-ca-suffices"),
        pytest.param(lambda: two_level({}, v1=True), (), "", id="root-v1-suffices"),
        pytest.param(lambda: chain(SERVER_PROFILE), (), "", id="proper-cas"),
    ],
)
def test_chain_not_a_ca(build: Build, expected: tuple[str, ...], because: str) -> None:
    s = build()
    assert flagged(s, "CHAIN_NOT_A_CA") == expected
    for message in messages(s, "CHAIN_NOT_A_CA"):
        assert because in message


def test_not_a_ca_breaks_both_sides() -> None:
    report = analyze(*scenario_input(chain(int_kw={"ca": None}, role=Role.EXPRESSWAY)))
    reasons = {link.reason for link in report.links}
    assert {link.verdict for link in report.links} == {Verdict.BREAKS}
    assert reasons == {"CA certificate CN=Legacy Intermediate is not a CA certificate to OpenSSL"}
    unusable = [f.effect for f in report.findings if f.effect and f.effect.kind is EffectKind.UNUSABLE]
    assert unusable == []  # the verdict comes from the usability, as for the EKU rules


@pytest.mark.parametrize(
    "name",
    [
        "digicert-global-g2-tls-rsa-sha256-2020-ca1.pem",
        "godaddy-secure-ca-g2.pem",
        "hydrantid-server-ca-o1.pem",
        "letsencrypt-r11.pem",
        "letsencrypt-ye1.pem",
        "letsencrypt-yr1.pem",
    ],
)
def test_real_public_intermediates_are_cas_to_openssl(realcerts: Path, name: str) -> None:
    """The CA model changes nothing for real public intermediates: each is a CA as an intermediate."""
    (der,) = split_certificates((realcerts / name).read_bytes())
    parsed = parse_der(der)
    assert isinstance(parsed, ParsedCert)
    assert ca_refusal(parsed.facts, top=False) is None
    assert parsed.facts.ns_cert_type is None and parsed.facts.ns_cert_type_error is None
