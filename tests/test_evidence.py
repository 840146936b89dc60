"""The evidence codec: every fact of an Observation (and its Endpoint) stored and read back exactly.

The samples below give each field a value that is not its default. A field added to either
model breaks ``test_every_field_has_a_sample`` until it has a sample here, and the round trip
until the codec (scanner/report/evidence.py) stores it: an observation must never lose a fact
on its way through the history store, or ``ekuscan report`` would judge less than the scan saw.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import given
from hypothesis import strategies as st

from scanner.model import ClientAuthOutcome, ClientAuthTest, Direction, Endpoint, Observation, Role, Status
from scanner.report.evidence import (
    EvidenceError,
    chain_hashes,
    der_sha256,
    observation_facts,
    observation_from_facts,
)
from tests.conftest import REALCERTS


def _der(name: str) -> bytes:
    """A real public certificate (tests/data/realcerts, see SOURCES.md there) as DER."""
    return x509.load_pem_x509_certificate((REALCERTS / name).read_bytes()).public_bytes(Encoding.DER)


LEAF = _der("letsencrypt-org-leaf.pem")
INTERMEDIATE = _der("letsencrypt-r11.pem")

ENDPOINT_SAMPLES = {
    "target": "expe.example.com:7001",
    "host": "expe.example.com",
    "ip": "192.0.2.7",
    "port": 7001,
    "role": Role.EXPRESSWAY_E,
    "sni": "expe.example.com",
    "label": "pair-1",
    "swept": True,
    "links": ("traversal-server", "sip-tls"),
}
NOT_FACTS = {"group", "group_size"}  # where the endpoint sat in a target list; the report sets them
OBSERVATION_SAMPLES = {
    "endpoint": Endpoint(**ENDPOINT_SAMPLES),
    "status": Status.TLS_ERROR,
    "error": "alert 42: bad certificate",
    "connected": True,
    "tls_version": "TLSv1.2",
    "cipher": "ECDHE-RSA-AES256-GCM-SHA384",
    "chain_der": (LEAF, INTERMEDIATE),
    "client_cert_requested": True,
    "client_ca_names": ("CN=ISRG Root X1,O=Internet Security Research Group,C=US", "CN=Lab CA"),
    "tls_alert": "bad_certificate",
    "sip_server": "TANDBERG/4352 (X15.3.2)",
    "http_server": "CE_E",
    "duration_ms": 12.5,
    "client_ca_names_der": (b"0\x121\x100\x0e\x06\x03U\x04\x03\x0c\x07Lab CA", b"0\x00"),
    "direction": Direction.INBOUND,
    "client_auth_test": ClientAuthTest(
        certificate="ab" * 32,
        outcome=ClientAuthOutcome.REJECTED,
        alert="unsupported_certificate",
        meaning="the server refused the certificate's purpose",
    ),
}


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"


@dataclasses.dataclass(frozen=True, slots=True)
class Preflight:
    """What a later release might add: a nested record of enums, dates, tuples and bytes."""

    outcome: Outcome
    alert: str | None
    tried_at: datetime
    accepted_names: tuple[str, ...]
    presented_sha: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class LaterObservation(Observation):
    """An Observation of a later ekuscan, with a field this codec has never heard of."""

    later_test: Preflight | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class UnstorableObservation(Observation):
    """An Observation with a field of a type the codec does not store (a set has no order)."""

    extra: frozenset[str] = frozenset()


def sample() -> Observation:
    return Observation(**OBSERVATION_SAMPLES)


def stored(observation: Observation) -> dict:
    """The facts as the store keeps them: JSON text, read back."""
    return json.loads(json.dumps(observation_facts(observation)))


def test_every_field_has_a_sample_that_is_not_its_default():
    for model, samples, skipped in (
        (Endpoint, ENDPOINT_SAMPLES, NOT_FACTS),
        (Observation, OBSERVATION_SAMPLES, set()),
    ):
        for f in dataclasses.fields(model):
            if f.name in skipped:
                continue
            assert f.name in samples, f"{model.__name__}.{f.name}: add a sample here and to the codec"
            default = f.default if f.default is not dataclasses.MISSING else None
            assert samples[f.name] != default, f"{model.__name__}.{f.name}: the sample is the default"


def test_every_field_round_trips_through_the_stored_json():
    observation = sample()
    facts = stored(observation)
    ders = {der_sha256(d): d for d in observation.chain_der}
    back = observation_from_facts(facts, ders)
    assert back is not None
    for f in dataclasses.fields(Observation):
        assert getattr(back, f.name) == getattr(observation, f.name), f.name
    for f in dataclasses.fields(Endpoint):
        if f.name not in NOT_FACTS:
            assert getattr(back.endpoint, f.name) == getattr(observation.endpoint, f.name), f.name


def test_the_chain_is_stored_as_hashes_and_a_missing_der_is_said():
    facts = stored(sample())
    assert chain_hashes(facts) == [der_sha256(LEAF), der_sha256(INTERMEDIATE)]
    assert LEAF.hex() not in json.dumps(facts)
    assert observation_from_facts(facts, {der_sha256(LEAF): LEAF}) is None  # the intermediate's DER is gone


def test_facts_of_an_older_version_read_with_defaults_and_newer_keys_are_ignored():
    facts = stored(sample())
    del facts["tls_alert"], facts["endpoint"]["links"]
    facts["a_field_of_a_later_ekuscan"] = {"x": 1}
    back = observation_from_facts(facts, {der_sha256(d): d for d in (LEAF, INTERMEDIATE)})
    assert back is not None and back.tls_alert is None and back.endpoint.links is None


def test_a_field_the_codec_cannot_store_is_refused_by_name():
    with pytest.raises(TypeError, match=r"UnstorableObservation\.extra is declared frozenset\[str\]"):
        observation_facts(UnstorableObservation(**OBSERVATION_SAMPLES, extra=frozenset({"x"})))


def test_a_later_field_made_of_known_types_round_trips_with_no_change_to_the_codec():
    preflight = Preflight(
        Outcome.REFUSED,
        "unsupported_certificate",
        datetime(2026, 12, 1, 22, 0, tzinfo=UTC),
        ("CN=a",),
        b"\x00\xff",
    )
    later = LaterObservation(**OBSERVATION_SAMPLES, later_test=preflight)
    facts = stored(later)
    assert facts["later_test"]["outcome"] == "refused"
    back = observation_from_facts(facts, {der_sha256(d): d for d in (LEAF, INTERMEDIATE)}, LaterObservation)
    assert back == later


def test_unreadable_facts_are_an_evidence_error():
    facts = stored(sample())
    facts["status"] = "sideways"
    with pytest.raises(EvidenceError):
        observation_from_facts(facts, {der_sha256(d): d for d in (LEAF, INTERMEDIATE)})


@given(
    texts=st.lists(st.text(), min_size=5, max_size=5),
    names=st.lists(st.text(), max_size=4),
    duration=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    port=st.integers(min_value=1, max_value=65535),
)
def test_any_text_the_network_sends_round_trips(texts, names, duration, port):
    error, tls_version, cipher, sip, http = texts
    observation = dataclasses.replace(
        sample(),
        endpoint=dataclasses.replace(sample().endpoint, port=port, label=error),
        error=error,
        tls_version=tls_version,
        cipher=cipher,
        sip_server=sip,
        http_server=http,
        client_ca_names=tuple(names),
        duration_ms=duration,
    )
    back = observation_from_facts(stored(observation), {der_sha256(d): d for d in (LEAF, INTERMEDIATE)})
    assert back == observation
