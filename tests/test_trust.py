"""Trust classification: built chains with known shape, then real intermediates against certifi."""

from __future__ import annotations

from pathlib import Path

import certifi
import pytest

from scanner.core.certs import ParsedCert, parse_der, split_certificates
from scanner.core.trust import RootStore, classify, load_pem_bundle
from scanner.model import TrustClass, UnparsedCert
from tests.factories import Made, make_cert, make_chain


def parsed(*made: Made) -> list[ParsedCert | UnparsedCert]:
    return [parse_der(m.der) for m in made]


@pytest.fixture(scope="module")
def chain() -> tuple[Made, Made, Made]:
    return make_chain()


# --- built chains -------------------------------------------------------------------------


def test_chain_to_a_root_in_the_store_is_public(chain):
    root, inter, leaf = chain
    result = classify(parsed(leaf, inter), RootStore.from_ders([root.der]))
    assert result.trust is TrustClass.PUBLIC
    assert result.anchor == "CN=Test Root,O=Test Org"
    assert result.complete is True
    assert result.path == (0, 1)


def test_chain_with_the_public_root_presented_too_is_public(chain):
    root, inter, leaf = chain
    result = classify(parsed(leaf, inter, root), RootStore.from_ders([root.der]))
    assert (result.trust, result.anchor, result.complete) == (
        TrustClass.PUBLIC,
        "CN=Test Root,O=Test Org",
        True,
    )
    assert result.path[:2] == (0, 1)


def test_presented_order_does_not_matter(chain):
    root, inter, leaf = chain
    result = classify(parsed(leaf, root, inter), RootStore.from_ders([root.der]))
    assert result.trust is TrustClass.PUBLIC
    assert result.path[:2] == (0, 2)


def test_without_the_root_anywhere_is_private_and_incomplete(chain):
    _root, inter, leaf = chain
    unrelated = make_cert("Unrelated Root", ca=True)
    result = classify(parsed(leaf, inter), RootStore.from_ders([unrelated.der]))
    assert result.trust is TrustClass.PRIVATE
    assert result.anchor is None
    assert result.complete is False
    assert result.path == (0, 1)


def test_with_the_private_root_presented_is_private_and_complete(chain):
    root, inter, leaf = chain
    result = classify(parsed(leaf, inter, root), RootStore())
    assert result.trust is TrustClass.PRIVATE
    assert result.anchor == "CN=Test Root,O=Test Org"
    assert result.complete is True
    assert result.path == (0, 1, 2)


def test_missing_intermediate_is_incomplete(chain):
    root, _inter, leaf = chain
    result = classify(parsed(leaf, root), RootStore.from_ders([root.der]))
    assert result.trust is TrustClass.PRIVATE
    assert result.complete is False
    assert result.path == (0,)


def test_self_signed_leaf(chain):
    root, _, _ = chain
    leaf = make_cert("selfie.example.test")
    result = classify(parsed(leaf), RootStore.from_ders([root.der]))
    assert result.trust is TrustClass.SELF_SIGNED
    assert result.anchor == "CN=selfie.example.test,O=Test Org"
    assert result.complete is True
    assert result.path == (0,)


def test_self_signed_certificate_that_is_itself_a_public_root(chain):
    root, _, _ = chain
    result = classify(parsed(root), RootStore.from_ders([root.der]))
    assert result.trust is TrustClass.PUBLIC


def forged_intermediate(root: Made, inter: Made) -> Made:
    """Same subject and issuer names as the real intermediate, but signed by another key."""
    impostor = make_cert("Test Root", ca=True)  # a look-alike root with its own key
    assert impostor.cert.subject == root.cert.subject
    forged = make_cert("Test Intermediate", issuer=impostor, ca=True, eku="none")
    assert forged.cert.subject == inter.cert.subject
    assert forged.cert.issuer == root.cert.subject
    return forged


def test_forged_intermediate_is_not_public(chain):
    root, inter, _leaf = chain
    forged = forged_intermediate(root, inter)
    leaf = make_cert("victim.example.test", issuer=forged)
    result = classify(parsed(leaf, forged), RootStore.from_ders([root.der]))
    assert result.trust is not TrustClass.PUBLIC
    assert result.trust is TrustClass.PRIVATE
    assert result.complete is False
    assert result.anchor is None


def test_leaf_naming_the_real_intermediate_but_signed_by_another_key_is_not_public(chain):
    root, inter, _leaf = chain
    other_key = make_cert("whatever").key
    leaf = make_cert("victim.example.test", issuer=Made(inter.cert, other_key))
    assert leaf.cert.issuer == inter.cert.subject
    result = classify(parsed(leaf, inter), RootStore.from_ders([root.der]))
    assert result.trust is TrustClass.PRIVATE
    assert result.complete is False
    assert result.path == (0,)


def test_empty_chain_is_none():
    result = classify([], RootStore())
    assert result.trust is TrustClass.NONE
    assert (result.anchor, result.complete, result.path) == (None, False, ())


def test_unparseable_leaf_is_none(chain):
    root, inter, _leaf = chain
    broken = parse_der(b"\x30\x03\x02\x01\x00")
    assert isinstance(broken, UnparsedCert)
    result = classify([broken, *parsed(inter)], RootStore.from_ders([root.der]))
    assert result.trust is TrustClass.NONE
    assert result.path == ()


def test_root_store_skips_unparseable_roots(chain):
    root, _, _ = chain
    store = RootStore.from_ders([b"\x30\x03\x02\x01\x00", root.der])
    assert len(store) == 1


# --- real intermediates against Mozilla's roots (certifi) ----------------------------------


@pytest.fixture(scope="module")
def mozilla() -> RootStore:
    return load_pem_bundle(Path(certifi.where()).read_bytes())


def real(realcerts: Path, filename: str) -> ParsedCert | UnparsedCert:
    (der,) = split_certificates((realcerts / filename).read_bytes())
    return parse_der(der)


def test_certifi_bundle_loads_every_root(mozilla):
    count = Path(certifi.where()).read_bytes().count(b"-----BEGIN CERTIFICATE-----")
    # Go Daddy Root G2 and a few others have serial number 0: they must not be dropped.
    assert len(mozilla) == count, f"{count - len(mozilla)} of {count} roots dropped"


@pytest.mark.parametrize(
    ("filename", "anchor"),
    [
        pytest.param(
            "letsencrypt-r11.pem", "CN=ISRG Root X1,O=Internet Security Research Group,C=US", id="LE-R11"
        ),
        pytest.param(
            "digicert-global-g2-tls-rsa-sha256-2020-ca1.pem",
            "CN=DigiCert Global Root G2,OU=www.digicert.com,O=DigiCert Inc,C=US",
            id="DigiCert-G2",
        ),
        pytest.param(
            "hydrantid-server-ca-o1.pem",
            "CN=IdenTrust Commercial Root CA 1,O=IdenTrust,C=US",
            id="HydrantID-O1",
        ),
        pytest.param(
            "godaddy-secure-ca-g2.pem",
            "CN=Go Daddy Root Certificate Authority - G2,O=GoDaddy.com\\, Inc.,L=Scottsdale,ST=Arizona,C=US",
            id="GoDaddy-G2",
        ),
    ],
)
def test_real_intermediate_alone_is_public(realcerts, mozilla, filename, anchor):
    result = classify([real(realcerts, filename)], mozilla)
    assert result.trust is TrustClass.PUBLIC
    assert result.anchor == anchor
    assert result.complete is True
    assert result.path == (0,)


def test_letsencrypt_yr1_under_root_yr(realcerts, mozilla):
    yr1 = real(realcerts, "letsencrypt-yr1.pem")
    assert isinstance(yr1, ParsedCert)
    root_yr_in_bundle = any(
        root.facts.subject == yr1.facts.issuer for roots in mozilla.by_subject.values() for root in roots
    )
    result = classify([yr1], mozilla)
    if root_yr_in_bundle:
        assert result.trust is TrustClass.PUBLIC
        assert result.anchor == yr1.facts.issuer
    else:
        assert result.trust is TrustClass.PRIVATE
        assert result.complete is False
        assert result.anchor is None
        assert result.path == (0,)
