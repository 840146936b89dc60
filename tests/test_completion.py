"""Chain completion and CT-SCT inference (core, pure): built chains, then real leaves and the packaged set."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import certifi
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.analysis import analyze
from scanner.core.certs import ParsedCert, parse_der, split_certificates
from scanner.core.completion import IntermediatePool, certificates_in, classify_completed, missing_issuer_urls
from scanner.core.intermediates import CertificateBundle, PackedCertificates, pack_certificates
from scanner.core.trust import RootStore, load_pem_bundle
from scanner.edge.files import intermediate_pool
from scanner.model import ChainSource, Role, TrustBasis, TrustClass, UnparsedCert, Verdict
from tests.conftest import REALCERTS, context
from tests.factories import DAY, NOW, Made, make_cert, make_chain, observation

ISRG_ROOT_X1 = "CN=ISRG Root X1,O=Internet Security Research Group,C=US"


def parsed(*certs: Made | bytes) -> list[ParsedCert | UnparsedCert]:
    return [parse_der(c if isinstance(c, bytes) else c.der) for c in certs]


def user(*certs: Made) -> IntermediatePool:
    return IntermediatePool(user=CertificateBundle.of(c.der for c in certs))


def real(name: str) -> bytes:
    (der,) = split_certificates((REALCERTS / name).read_bytes())
    return der


@pytest.fixture(scope="module")
def mozilla() -> RootStore:
    return load_pem_bundle(Path(certifi.where()).read_bytes())


@pytest.fixture(scope="module")
def packaged() -> IntermediatePool:
    return intermediate_pool()


# --- built chains ---------------------------------------------------------------------------


def test_leaf_alone_is_completed_from_the_pool_and_says_so():
    root, inter, leaf = make_chain()
    result = classify_completed(parsed(leaf), RootStore.from_ders([root.der]), user(inter), NOW)
    assert (result.trust, result.basis, result.complete) == (TrustClass.PUBLIC, TrustBasis.COMPLETED, True)
    assert result.anchor == "CN=Test Root,O=Test Org"
    assert result.path == (0, 1)  # past the presented chain: the first added certificate
    assert [(a.facts.sha256, a.source) for a in result.added] == [
        (parse_der(inter.der).facts.sha256, ChainSource.USER)
    ]


def test_leaf_and_a_wrong_intermediate_is_completed_past_it():
    """The intermediate sent has the right name and another key: it is not on the path."""
    root, inter, leaf = make_chain()
    impostor = make_cert("Test Intermediate", issuer=root, ca=True, eku="none")
    result = classify_completed(parsed(leaf, impostor), RootStore.from_ders([root.der]), user(inter), NOW)
    assert result.basis is TrustBasis.COMPLETED
    assert result.path == (0, 2)
    assert result.added[0].facts.sha256 == parse_der(inter.der).facts.sha256


def test_a_complete_chain_is_judged_as_presented_whatever_the_pool_holds():
    root, inter, leaf = make_chain()
    result = classify_completed(parsed(leaf, inter), RootStore.from_ders([root.der]), user(inter), NOW)
    assert (result.basis, result.added, result.path) == (TrustBasis.PRESENTED, (), (0, 1))


def test_a_pool_certificate_whose_signature_does_not_verify_is_never_added():
    root, _inter, leaf = make_chain()
    look_alike = make_cert("Test Intermediate", issuer=root, ca=True, eku="none")  # same name, other key
    result = classify_completed(parsed(leaf), RootStore.from_ders([root.der]), user(look_alike), NOW)
    assert (result.trust, result.basis, result.added, result.complete) == (
        TrustClass.PRIVATE,
        TrustBasis.PRESENTED,
        (),
        False,
    )


def test_an_intermediate_without_a_way_to_a_root_is_not_added():
    _root, inter, leaf = make_chain()
    result = classify_completed(parsed(leaf), RootStore(), user(inter), NOW)
    assert (result.basis, result.added, result.complete) == (TrustBasis.PRESENTED, (), False)


def test_a_private_chain_completes_to_a_private_root_from_the_users_bundle():
    root, inter, leaf = make_chain()
    result = classify_completed(parsed(leaf), RootStore(), user(inter, root), NOW)
    assert (result.trust, result.basis, result.complete) == (TrustClass.PRIVATE, TrustBasis.COMPLETED, True)
    assert result.anchor == "CN=Test Root,O=Test Org"
    assert [a.facts.subject_common_name for a in result.added] == ["Test Intermediate", "Test Root"]


def test_a_current_intermediate_wins_over_an_expired_copy_with_the_same_key():
    root = make_cert(
        "Test Root", ca=True, eku="none", not_before=NOW - 2000 * DAY, not_after=NOW + 5000 * DAY
    )
    old = make_cert("Issuing CA", issuer=root, ca=True, eku="none", not_after=NOW - 10 * DAY)
    renewed = make_cert("Issuing CA", issuer=root, ca=True, eku="none", key_to_certify=old.key)
    leaf = make_cert("host.example.test", issuer=old)  # the same key signed it: both copies verify
    for order in ((old, renewed), (renewed, old)):
        result = classify_completed(parsed(leaf), RootStore.from_ders([root.der]), user(*order), NOW)
        assert result.added[0].facts.sha256 == parse_der(renewed.der).facts.sha256


def test_the_sets_are_tried_in_order_packaged_user_fetched():
    root, inter, leaf = make_chain()
    pool = IntermediatePool(
        packaged=PackedCertificates(pack_certificates([inter.der])),
        user=CertificateBundle.of([inter.der]),
    ).with_fetched("http://127.0.0.1:9/i.crt", [inter.der])
    result = classify_completed(parsed(leaf), RootStore.from_ders([root.der]), pool, NOW)
    assert [(a.source, a.url) for a in result.added] == [(ChainSource.PACKAGED, None)]
    fetched_only = IntermediatePool().with_fetched("http://127.0.0.1:9/i.crt", [inter.der])
    result = classify_completed(parsed(leaf), RootStore.from_ders([root.der]), fetched_only, NOW)
    assert [(a.source, a.url) for a in result.added] == [(ChainSource.FETCHED, "http://127.0.0.1:9/i.crt")]


def test_an_added_intermediate_counts_as_if_sent_a_serverauth_only_one_breaks_client_use():
    root, inter, leaf = make_chain("both", "serverAuth")
    ctx = context(RootStore.from_ders([root.der]), intermediates=user(inter))
    served_alone = analyze(observation(leaf, role=Role.EXPRESSWAY_C), ctx)
    served_whole = analyze(observation(leaf, inter, role=Role.EXPRESSWAY_C), ctx)
    inter_sha = parse_der(inter.der).facts.sha256
    for report in (served_alone, served_whole):
        hits = [f for f in report.findings if f.code == "CHAIN_EKU_NO_CLIENTAUTH"]
        assert [f.cert_sha256 for f in hits] == [inter_sha]
        assert {link.verdict for link in report.links if link.uses.value == "client"} == {Verdict.BREAKS}
    assert served_alone.trust.basis is TrustBasis.COMPLETED
    assert "CHAIN_INCOMPLETE" in {f.code for f in served_alone.findings}
    assert "CHAIN_INCOMPLETE" not in {f.code for f in served_whole.findings}


def test_without_a_pool_the_chain_is_judged_as_sent():
    root, _inter, leaf = make_chain()
    result = classify_completed(parsed(leaf), RootStore.from_ders([root.der]), IntermediatePool(), NOW)
    assert (result.trust, result.basis) == (TrustClass.PRIVATE, TrustBasis.PRESENTED)


# --- SCTs: evidence when no issuer can be had -------------------------------------------------


def test_a_leaf_with_scts_and_no_issuer_is_public_by_inference():
    _root, inter, _ = make_chain()
    leaf = make_cert("logged.example.test", issuer=inter, scts=True)
    result = classify_completed(parsed(leaf), RootStore(), IntermediatePool(), NOW)
    assert (result.trust, result.basis, result.anchor, result.complete) == (
        TrustClass.PUBLIC,
        TrustBasis.INFERRED,
        None,
        False,
    )


def test_a_self_signed_leaf_with_scts_stays_self_signed():
    leaf = make_cert("selfie.example.test", scts=True)
    assert (
        classify_completed(parsed(leaf), RootStore(), IntermediatePool(), NOW).trust is TrustClass.SELF_SIGNED
    )


def test_the_real_badssl_leaf_is_public_by_inference(mozilla, packaged):
    """Its issuer (RapidSSL SHA256 CA, expired) is in neither the roots nor the packaged set."""
    result = classify_completed(parsed(real("badssl-invalid-expected-sct-leaf.pem")), mozilla, packaged, NOW)
    assert (result.trust, result.basis, result.added) == (TrustClass.PUBLIC, TrustBasis.INFERRED, ())


def test_a_real_leaf_without_scts_and_without_its_issuer_stays_private(mozilla, packaged):
    result = classify_completed(parsed(real("cryptography-io-leaf.pem")), mozilla, packaged, NOW)
    assert (result.trust, result.basis, result.complete) == (TrustClass.PRIVATE, TrustBasis.PRESENTED, False)


# --- real leaves, completed from the packaged set -------------------------------------------


FEB_2026 = datetime(2026, 2, 1, tzinfo=UTC)  # both real leaves are valid then


def test_a_real_lets_encrypt_leaf_alone_is_completed_with_the_packaged_e7(mozilla, packaged):
    result = classify_completed(parsed(real("letsencrypt-org-leaf.pem")), mozilla, packaged, FEB_2026)
    assert (result.trust, result.basis, result.anchor) == (
        TrustClass.PUBLIC,
        TrustBasis.COMPLETED,
        ISRG_ROOT_X1,
    )
    (added,) = result.added
    assert (added.facts.subject, added.source) == ("CN=E7,O=Let's Encrypt,C=US", ChainSource.PACKAGED)


def test_a_real_leaf_with_a_wrong_real_intermediate_is_completed_past_it(mozilla, packaged):
    leaf, r11 = real("letsencrypt-org-leaf.pem"), real("letsencrypt-r11.pem")
    result = classify_completed(parsed(leaf, r11), mozilla, packaged, FEB_2026)
    assert result.basis is TrustBasis.COMPLETED and result.path == (0, 2)


def test_a_real_sub_ca_two_levels_down_is_completed_through_its_real_issuer(mozilla, packaged):
    """LH.pl CA, from the packaged set itself, under Certum Global Services CA SHA2 (also there)."""
    lh = next(der for der in packaged.packaged or () if b"LH.pl CA" in der)
    result = classify_completed(parsed(lh), mozilla, packaged, NOW)
    assert result.basis is TrustBasis.COMPLETED
    assert result.anchor and "Certum Trusted Network CA" in result.anchor
    assert [a.facts.subject_common_name for a in result.added] == ["Certum Global Services CA SHA2"]


def test_the_real_lets_encrypt_leaf_gets_its_cas_cutoff_once_completed(mozilla, packaged):
    ctx = context(mozilla, now=FEB_2026, intermediates=packaged)
    report = analyze(observation(real("letsencrypt-org-leaf.pem"), role=Role.EXPRESSWAY_C), ctx)
    sunset = next(f for f in report.findings if f.code == "CLIENTAUTH_SUNSET")
    assert dict(sunset.details)["ca"] == "Let's Encrypt"
    assert dict(sunset.details)["clientauth_cutoff"] == "2026-02-11"
    assert report.verdict is Verdict.AT_RISK
    without = analyze(
        observation(real("letsencrypt-org-leaf.pem"), role=Role.EXPRESSWAY_C), context(mozilla, now=FEB_2026)
    )
    assert without.trust.trust is TrustClass.PUBLIC and without.trust.basis is TrustBasis.INFERRED  # its SCTs


# --- what the edge fetches --------------------------------------------------------------------


def test_the_urls_to_fetch_are_those_of_the_certificate_whose_issuer_is_missing():
    root = make_cert("Test Root", ca=True, eku="none", not_before=NOW - 900 * DAY, not_after=NOW + 900 * DAY)
    inter = make_cert(
        "Issuing CA", issuer=root, ca=True, eku="none", ca_issuers=["http://127.0.0.1:9/root.crt"]
    )
    leaf = make_cert(
        "host.example.test", issuer=inter, ca_issuers=["http://127.0.0.1:9/int.crt", "ldap://x/y"]
    )
    roots = RootStore.from_ders([root.der])
    assert missing_issuer_urls(parsed(leaf), roots, IntermediatePool(), NOW) == (
        "http://127.0.0.1:9/int.crt",
    )
    # With the intermediate known but the root not trusted, the next one up is missing.
    assert missing_issuer_urls(parsed(leaf), RootStore(), user(inter), NOW) == (
        "http://127.0.0.1:9/root.crt",
    )
    assert missing_issuer_urls(parsed(leaf, inter), roots, IntermediatePool(), NOW) == ()
    assert missing_issuer_urls(parsed(make_cert("selfie")), roots, IntermediatePool(), NOW) == ()


def test_answers_are_read_as_der_pkcs7_or_pem():
    a, b = make_cert("A", ca=True), make_cert("B", ca=True)
    p7 = pkcs7.serialize_certificates([a.cert, b.cert], Encoding.DER)
    assert certificates_in(a.der) == (a.der,)
    assert sorted(certificates_in(p7)) == sorted((a.der, b.der))  # a SET OF: DER sorts it
    assert certificates_in(a.pem + b.pem) == (a.der, b.der)
    assert certificates_in(b"<html>not found</html>") == ()


@given(st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_any_answer_is_read_without_raising(body):
    assert isinstance(certificates_in(body), tuple)
