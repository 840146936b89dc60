"""What a host runs, as its banners say: the product, its release number, and the banner it came from."""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from scanner.model.pickling import fast_pickling


class Product(enum.StrEnum):
    EXPRESSWAY = "expressway"  # Expressway or VCS, C or E not known from this banner
    EXPRESSWAY_E = "expressway-e"  # the MRA listener says so
    CONDUCTOR = "conductor"  # TelePresence Conductor: a TANDBERG banner, but not an Expressway
    CUCM = "cucm"
    CUBE = "cube"
    TELEPRESENCE_ENDPOINT = "telepresence-endpoint"  # TANDBERG codecs (TC, CE, F releases)


@functools.total_ordering
@dataclass(frozen=True, slots=True)
class Version:
    """A dotted release number such as X15.4 or 14.0; missing parts count as zero."""

    parts: tuple[int, ...]
    prefix: str = ""  # "X" for Expressway releases

    @classmethod
    def parse(cls, text: str) -> Version:
        match = re.fullmatch(r"\s*([A-Za-z]*)(\d+(?:\.\d+){0,4})\s*", text)
        if match is None:
            raise ValueError(f"not a version number: {text!r}")
        return cls(tuple(int(p) for p in match.group(2).split(".")), match.group(1).upper())

    def _key(self) -> tuple[int, ...]:
        return self.parts + (0,) * (5 - len(self.parts))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.prefix + ".".join(str(p) for p in self.parts)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    product: Product
    version: Version | None  # None where the banner names no release
    banner: str  # the header value it came from
    b2bua: bool = False  # an Expressway B2BUA leg (Microsoft interop, encryption)


fast_pickling(globals())  # the state of its dataclasses as tuples: see model/pickling.py
