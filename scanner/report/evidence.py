"""An observation's facts as stored JSON and back: the one codec of what a probe saw (pure).

The history store keeps each observation so that a later ekuscan can judge it again
(``ekuscan report``): every field of ``Observation`` and of its ``Endpoint``, with the presented
chain as the certificates' SHA-256 (their DER is stored once, by hash). The codec is worked out once
per class from ``dataclasses.fields`` and the fields' declared types, so a field added to the model
is stored and read back with no change here when its type is made of what JSON can carry: text,
numbers, flags, None, string or int enums, dates, tuples of these, and frozen dataclasses of
these (a preflight's result, say). A field of any other declared type is refused by name the
first time an observation is stored. tests/test_evidence.py builds every field with a value that is not its
default, and fails until a new field has a sample there and round-trips.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import hashlib
import types
import typing
from collections.abc import Callable, Mapping
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


Codec = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


_ENCODERS: dict[Any, Codec] = {}
_DECODERS: dict[Any, Codec] = {}


def _encoder(kind: Any, where: str) -> Codec:
    """How a value of declared type ``kind`` becomes JSON data: worked out once per type."""
    found = _ENCODERS.get(kind)
    if found is None:
        found = _ENCODERS[kind] = _make_encoder(kind, where)
    return found


def _make_encoder(kind: Any, where: str) -> Codec:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        inner = _encoder(_optional(kind, args, where), where)
        return _same if inner is _same else lambda value: None if value is None else inner(value)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _encoder(args[0], where)
        return list if item is _same else lambda value: [item(v) for v in value]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return lambda value: value.value
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _encode_dataclass(kind)
    if kind is datetime:
        return lambda value: value.isoformat()
    if kind is bytes:
        return lambda value: base64.b64encode(value).decode("ascii")
    if kind in _SCALARS:
        return _same
    raise TypeError(
        f"{where} is declared {kind!r}: the evidence codec (scanner/report/evidence.py) stores text, "
        "numbers, flags, enums, dates, bytes, tuples and dataclasses of these"
    )


def _decoder(kind: Any) -> Codec:
    """How JSON data becomes a value of declared type ``kind``: worked out once per type."""
    found = _DECODERS.get(kind)
    if found is None:
        found = _DECODERS[kind] = _make_decoder(kind)
    return found


def _make_decoder(kind: Any) -> Codec:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        inner = _decoder(_optional(kind, args, "a stored value"))
        return lambda raw: None if raw is None else inner(raw)
    if origin is tuple:
        item = _decoder(args[0])
        return lambda raw: tuple(item(v) for v in raw)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _decode_dataclass(kind)
    if kind is datetime:
        return datetime.fromisoformat
    if kind is bytes:
        return base64.b64decode
    if kind is float:
        return float
    return _same  # text, int, bool, None: as JSON holds them


def _optional(kind: Any, args: tuple[Any, ...], where: str) -> Any:
    inner = [a for a in args if a is not type(None)]
    if len(inner) != 1:
        raise TypeError(f"{where} is declared {kind!r}: only X | None unions are stored")
    return inner[0]


def _fields(cls: type[Any]) -> list[tuple[str, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.name not in _NOT_FACTS]


def _encode_dataclass(cls: type[Any]) -> Codec:
    fields = [(name, _encoder(kind, f"{cls.__name__}.{name}")) for name, kind in _fields(cls)]
    return lambda value: {name: encode(getattr(value, name)) for name, encode in fields}


def _decode_dataclass(cls: type[Any]) -> Codec:
    fields = [(name, _decoder(kind)) for name, kind in _fields(cls)]

    def decode(raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise EvidenceError(f"stored {cls.__name__} facts are not an object")
        # a field stored before it existed takes its default; one of a later ekuscan is ignored
        return cls(**{name: decode_field(raw[name]) for name, decode_field in fields if name in raw})

    return decode


def observation_facts(observation: Observation) -> dict[str, Any]:
    """Every fact of the observation as JSON data, the chain as SHA-256 hex (leaf first)."""
    facts: dict[str, Any] = _encoder(type(observation), type(observation).__name__)(
        dataclasses.replace(observation, chain_der=())
    )
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
        observation: Observation = _decoder(model)({k: v for k, v in facts.items() if k != _CHAIN})
        return dataclasses.replace(observation, chain_der=tuple(chain))
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
