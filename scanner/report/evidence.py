"""An observation's facts as stored JSON and back: the one codec of what a probe saw (pure).

The history store keeps each observation so that a later ekuscan can judge it again
(``ekuscan report``): every field of ``Observation`` and of its ``Endpoint``, with the presented
chain as the certificates' SHA-256 (their DER is stored once, by hash). ``observation_facts``
goes field by field over ``dataclasses.fields``: a field added to the model that is a plain JSON
value (text, number, flag, None) is stored and read back with no change here; one of another
type is refused until it gets an entry in ``_ENCODERS``/``_DECODERS`` (tests/test_evidence.py
builds every field with a value that is not its default and fails until it round-trips).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from scanner.model import Endpoint, Observation, Role, Status

FACTS_VERSION = 1
# Set by the report for each host it groups: where the endpoint sat in a target list is not a fact.
_NOT_FACTS = frozenset({"group", "group_size"})
_SCALARS = (str, int, float, bool, type(None))


class EvidenceError(ValueError):
    """Stored facts that cannot be read back (a codec bug, or a row edited by hand)."""


def der_sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest().upper()  # as CertFacts.sha256 spells it


def _endpoint_facts(endpoint: Endpoint) -> dict[str, Any]:
    return _encode(endpoint, _ENDPOINT_ENCODERS)


def _endpoint_from(facts: Any) -> Endpoint:
    return Endpoint(**_decode(Endpoint, facts, _ENDPOINT_DECODERS))


_ENCODERS: dict[str, Callable[[Any], Any]] = {
    "endpoint": _endpoint_facts,
    "status": lambda status: status.value,
    "chain_der": lambda chain: [der_sha256(der) for der in chain],
    "client_ca_names": list,
}
_ENDPOINT_ENCODERS: dict[str, Callable[[Any], Any]] = {
    "role": lambda role: role.value if role is not None else None,
    "links": lambda links: list(links) if links is not None else None,
}
_ENDPOINT_DECODERS: dict[str, Callable[[Any], Any]] = {
    "role": lambda value: Role(value) if value is not None else None,
    "links": lambda value: tuple(str(v) for v in value) if value is not None else None,
}


_FIELDS: dict[type[Any], tuple[dataclasses.Field[Any], ...]] = {}


def _fields(cls: type[Any]) -> tuple[dataclasses.Field[Any], ...]:
    """``dataclasses.fields``, looked up once per class (it is most of the codec's time)."""
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = dataclasses.fields(cls)
    return found


def _encode(value: Any, encoders: Mapping[str, Callable[[Any], Any]]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for f in _fields(type(value)):
        if f.name in _NOT_FACTS:
            continue
        item = getattr(value, f.name)
        if f.name in encoders:
            facts[f.name] = encoders[f.name](item)
        elif isinstance(item, _SCALARS):
            facts[f.name] = item
        else:
            raise TypeError(
                f"{type(value).__name__}.{f.name} is a {type(item).__name__}: "
                "give it an encoder and a decoder in scanner/report/evidence.py"
            )
    return facts


def _decode(cls: type[Any], facts: Any, decoders: Mapping[str, Callable[[Any], Any]]) -> dict[str, Any]:
    if not isinstance(facts, dict):
        raise EvidenceError(f"stored {cls.__name__} facts are not an object")
    values: dict[str, Any] = {}
    for f in _fields(cls):
        if f.name not in facts or f.name in _NOT_FACTS:
            continue  # stored before the field existed: its default
        raw = facts[f.name]
        values[f.name] = decoders[f.name](raw) if f.name in decoders else raw
    return values


def observation_facts(observation: Observation) -> dict[str, Any]:
    """Every fact of the observation as JSON data, the chain as SHA-256 hex (leaf first)."""
    return {"facts_version": FACTS_VERSION, **_encode(observation, _ENCODERS)}


def chain_hashes(facts: Mapping[str, Any]) -> list[str]:
    """The SHA-256 of the certificates the stored observation presented, leaf first."""
    chain = facts.get("chain_der") or []
    return [str(sha) for sha in chain]


def observation_from_facts(facts: Mapping[str, Any], ders: Mapping[str, bytes]) -> Observation | None:
    """The observation again, its chain from ``ders`` (by SHA-256); None if a DER is missing."""
    chain = []
    for sha in chain_hashes(facts):
        der = ders.get(sha)
        if der is None:
            return None
        chain.append(der)
    decoders: dict[str, Callable[[Any], Any]] = {
        "endpoint": _endpoint_from,
        "status": Status,
        "chain_der": lambda _: tuple(chain),
        "client_ca_names": lambda names: tuple(str(n) for n in names),
    }
    try:
        return Observation(**_decode(Observation, dict(facts), decoders))
    except (TypeError, ValueError, KeyError) as exc:
        raise EvidenceError(f"stored observation facts cannot be read: {exc}") from None


__all__ = [
    "FACTS_VERSION",
    "EvidenceError",
    "chain_hashes",
    "der_sha256",
    "observation_facts",
    "observation_from_facts",
]
