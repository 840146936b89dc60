"""An observation's facts as stored JSON and back: the one codec of what a probe saw (pure).

The history store keeps each observation so that a later ekuscan can judge it again
(``ekuscan report``): every field of ``Observation`` and of its ``Endpoint``, with the presented
chain as the certificates' SHA-256 (their DER is stored once, by hash). The codec goes field by
field over ``dataclasses.fields`` and the fields' declared types, so a field added to the model
is stored and read back with no change here when its type is made of what JSON can carry: text,
numbers, flags, None, string or int enums, dates, tuples of these, and frozen dataclasses of
these (a preflight's result, say). A value of any other type is refused by name when the
observation is stored. tests/test_evidence.py builds every field with a value that is not its
default, and fails until a new field has a sample there and round-trips.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import hashlib
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from scanner.model import Observation

FACTS_VERSION = 1
# Set by the report for each host it groups: where the endpoint sat in a target list is not a fact.
_NOT_FACTS = frozenset({"group", "group_size"})
_SCALARS = (str, int, float, bool, type(None))
_CHAIN = "chain_der"  # stored as the certificates' SHA-256; their DER is stored once, by hash


class EvidenceError(ValueError):
    """Stored facts that cannot be read back (a codec bug, or a row edited by hand)."""


def der_sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest().upper()  # as CertFacts.sha256 spells it


_FIELDS: dict[type[Any], tuple[tuple[dataclasses.Field[Any], Any], ...]] = {}


def _fields(cls: type[Any]) -> tuple[tuple[dataclasses.Field[Any], Any], ...]:
    """A dataclass's fields with their resolved types, looked up once per class."""
    found = _FIELDS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = _FIELDS[cls] = tuple((f, hints[f.name]) for f in dataclasses.fields(cls))
    return found


def _to_json(value: Any, where: str) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple):
        return [_to_json(item, where) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode(value)
    raise TypeError(
        f"{where} is a {type(value).__name__}: the evidence codec (scanner/report/evidence.py) "
        "stores text, numbers, flags, enums, dates, bytes, tuples and dataclasses of these"
    )


def _from_json(kind: Any, raw: Any) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if raw is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]  # X | None
        return _from_json(inner, raw)
    if origin is tuple:
        return tuple(_from_json(args[0], item) for item in raw)  # tuple[X, ...]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(raw)
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return kind(**_decode(kind, raw))
    if kind is datetime:
        return datetime.fromisoformat(raw)
    if kind is bytes:
        return base64.b64decode(raw)
    if kind is float:
        return float(raw)
    if kind in (str, int, bool) and isinstance(raw, kind):
        return raw
    raise EvidenceError(f"a stored {type(raw).__name__} is not a {kind!r}")


def _encode(value: Any) -> dict[str, Any]:
    where = type(value).__name__
    return {
        f.name: _to_json(getattr(value, f.name), f"{where}.{f.name}")
        for f, _ in _fields(type(value))
        if f.name not in _NOT_FACTS
    }


def _decode(cls: type[Any], facts: Any) -> dict[str, Any]:
    if not isinstance(facts, dict):
        raise EvidenceError(f"stored {cls.__name__} facts are not an object")
    # a field stored before it existed takes its default; one of a later ekuscan is ignored
    return {
        f.name: _from_json(kind, facts[f.name])
        for f, kind in _fields(cls)
        if f.name in facts and f.name not in _NOT_FACTS
    }


def observation_facts(observation: Observation) -> dict[str, Any]:
    """Every fact of the observation as JSON data, the chain as SHA-256 hex (leaf first)."""
    facts = _encode(dataclasses.replace(observation, chain_der=()))
    facts[_CHAIN] = [der_sha256(der) for der in observation.chain_der]
    return {"facts_version": FACTS_VERSION, **facts}


def chain_hashes(facts: Mapping[str, Any]) -> list[str]:
    """The SHA-256 of the certificates the stored observation presented, leaf first."""
    return [str(sha) for sha in facts.get(_CHAIN) or ()]


def observation_from_facts(
    facts: Mapping[str, Any], ders: Mapping[str, bytes], model: type[Observation] = Observation
) -> Observation | None:
    """The observation again, its chain from ``ders`` (by SHA-256); None if a DER is missing.

    ``model``: the class to build (the tests pass a later Observation with a field of its own)."""
    chain = []
    for sha in chain_hashes(facts):
        der = ders.get(sha)
        if der is None:
            return None
        chain.append(der)
    try:
        values = _decode(model, {k: v for k, v in facts.items() if k != _CHAIN})
        return model(**values, chain_der=tuple(chain))
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
