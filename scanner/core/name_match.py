"""Distinguished names compared as OpenSSL compares them (``X509_NAME_cmp``), from their DER (pure).

A server that verifies client certificates with OpenSSL (Expressway does) finds a trusted
issuer by name, and ``X509_NAME_cmp`` compares canonical encodings, not bytes
(``crypto/x509/x_name.c``, ``x509_name_canon`` and ``asn1_string_canon``): every value of a
string type (UTF8String, BMPString, UniversalString, PrintableString, T61String, IA5String,
VisibleString) becomes UTF-8, loses leading and trailing whitespace, has each run of inner
whitespace collapsed to one space and ASCII letters lower-cased (other bytes are kept);
values of other types stay as encoded. So ``CN=Example CA`` as a PrintableString and
``CN=example  ca`` as a UTF8String are one name to OpenSSL, and two to a byte comparison.

The RFC 4514 *text* of a name is not normalised here: it is lossy (the string type is gone,
and an escaped or hex value reads differently), so a text that differs from another in case
or spacing may or may not be the same name. Text is compared exactly, and only where no DER
is at hand (``NameKey.of_text``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from scanner.model.pickling import fast_pickling

# Universal tags of the string types OpenSSL canonicalises, with how each decodes.
_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # T61String: OpenSSL reads it as Latin-1
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}
_SPACE = b" \t\n\v\f\r"  # ossl_isspace
_SEQUENCE, _SET, _OID = 0x30, 0x31, 0x06


class NameDecodeError(ValueError):
    """The bytes are not a DER Name this module can read."""


@dataclass(frozen=True, slots=True)
class NameKey:
    """What two names must share to be one name: OpenSSL's canonical form, or exact text."""

    canonical: tuple[tuple[tuple[bytes, bytes], ...], ...] | None  # RDNs of (OID, value); None: text only
    text: str = ""

    @classmethod
    def of_der(cls, der: bytes, text: str = "") -> NameKey:
        """The key of a DER Name; an undecodable one is compared by its exact bytes."""
        try:
            return cls(canonical_name(der), text)
        except NameDecodeError:
            return cls(((((b"raw", der),),)), text)

    @classmethod
    def of_text(cls, text: str) -> NameKey:
        return cls(None, text)

    def matches(self, other: NameKey) -> bool:
        """One name: canonical forms equal where both have one, else the exact texts."""
        if self.canonical is not None and other.canonical is not None:
            return self.canonical == other.canonical
        return bool(self.text) and self.text == other.text


@functools.lru_cache(maxsize=4096)  # the CAs' names recur on every host of an estate
def canonical_name(der: bytes) -> tuple[tuple[tuple[bytes, bytes], ...], ...]:
    """A Name's RDNs, each a sorted tuple of (OID bytes, canonical value), as X509_NAME_cmp sees them."""
    tag, body, rest = _tlv(der)
    if tag != _SEQUENCE or rest:
        raise NameDecodeError("not a DER Name (SEQUENCE OF RelativeDistinguishedName)")
    rdns = []
    while body:
        tag, rdn, body = _tlv(body)
        if tag != _SET:
            raise NameDecodeError("a RelativeDistinguishedName is not a SET")
        entries = []
        while rdn:
            tag, attribute, rdn = _tlv(rdn)
            if tag != _SEQUENCE:
                raise NameDecodeError("an AttributeTypeAndValue is not a SEQUENCE")
            oid_tag, oid, value = _tlv(attribute)
            value_tag, content, tail = _tlv(value)
            if oid_tag != _OID or tail:
                raise NameDecodeError("an AttributeTypeAndValue is not (OID, value)")
            entries.append((oid, _canonical_value(value_tag, content, value)))
        rdns.append(tuple(sorted(entries)))
    return tuple(rdns)


def _canonical_value(tag: int, content: bytes, encoded: bytes) -> bytes:
    codec = _STRING_CODECS.get(tag)
    if codec is None:
        return b"\x00" + encoded  # not a string type: copied across, tag and all
    try:
        utf8 = content.decode(codec).encode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise NameDecodeError("a string value does not decode") from None
    words = [w for w in _split_space(utf8) if w]
    return b"\x01" + b" ".join(bytes(c + 32 if 65 <= c <= 90 else c for c in w) for w in words)


def _split_space(value: bytes) -> list[bytes]:
    for c in _SPACE[1:]:
        value = value.replace(bytes([c]), b" ")
    return value.split(b" ")


def _tlv(data: bytes) -> tuple[int, bytes, bytes]:
    """One DER tag-length-value: (tag, contents, what follows)."""
    if len(data) < 2:
        raise NameDecodeError("truncated DER")
    tag, first = data[0], data[1]
    if tag & 0x1F == 0x1F:
        raise NameDecodeError("multi-byte DER tags are not used in names")
    if first < 0x80:
        length, start = first, 2
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            raise NameDecodeError("bad DER length")
        length, start = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    end = start + length
    if end > len(data):
        raise NameDecodeError("truncated DER")
    return tag, data[start:end], data[end:]


fast_pickling(globals())  # the state of its dataclasses as tuples: see model/pickling.py
