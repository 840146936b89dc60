"""CA certificates indexed by subject and by key identifier, parsed only when a chain needs them (pure).

Chain completion (``completion.py``) asks one question of a set of CA certificates: which of
you may have issued this certificate? Two kinds of set answer it, with one method,
``issuer_candidates(issuer_der, key_id)``:

* ``PackedCertificates``: the compact form ekuscan ships, ``scanner/data/intermediates.bin``
  (Mozilla's intermediate preloading list, 1,637 certificates). It is an index followed by the
  DER certificates back to back. The edge maps the file into memory and hands the buffer in,
  so a process pays in memory only for the pages it reads: the index, the first time a chain
  is incomplete, then the few certificates that are candidates. Nothing is parsed up front.
* ``CertificateBundle``: certificates given as DER (``--intermediates``, fetched issuers),
  indexed when the bundle is made.

A match in the index is a hint, never a proof: the caller checks the names and the signature
(``trust.issued_by``) before a candidate joins a chain.

The packed format (integers big-endian)::

    magic         8 bytes   b"EKUINT01"
    count         u32
    entries       count x (offset u32, length u32, subject key 16 bytes, key-id key 16 bytes)
    certificates  the DER certificates, back to back; offsets count from the first of them

A subject key is the first 16 bytes of the SHA-256 of the subject's DER; a key-id key the same
of the subjectKeyIdentifier (16 zero bytes when there is none).
"""

from __future__ import annotations

import hashlib
import struct
import warnings
from collections.abc import Iterable, Iterator

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning

MAGIC = b"EKUINT01"
HEADER = struct.Struct(">8sI")
ENTRY = struct.Struct(">II16s16s")
KEY_BYTES = 16
NO_KEY = bytes(KEY_BYTES)

Buffer = bytes | memoryview
Candidate = tuple[bytes, str | None]  # a certificate's DER, and where it came from (a URL) if known


class PackError(ValueError):
    """The bytes are not a packed certificate set."""


def name_key(subject_der: bytes) -> bytes:
    return hashlib.sha256(subject_der).digest()[:KEY_BYTES]


def key_id_key(key_id: bytes | None) -> bytes:
    return hashlib.sha256(key_id).digest()[:KEY_BYTES] if key_id else NO_KEY


def index_keys(der: bytes) -> tuple[bytes, bytes] | None:
    """(subject key, key-id key) of a DER certificate; None when it cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)  # serial 0, as in certs.py
            cert = x509.load_der_x509_certificate(der)
            subject = cert.subject.public_bytes()
        try:
            key_id: bytes | None = cert.extensions.get_extension_for_class(
                x509.SubjectKeyIdentifier
            ).value.digest
        except Exception:  # no SKI, or extensions cryptography cannot read: the name must do
            key_id = None
    except Exception:  # not a certificate: nothing to index
        return None
    return name_key(subject), key_id_key(key_id)


def pack_certificates(ders: Iterable[bytes]) -> bytes:
    """The packed form of ``ders``, in the order given, without duplicates or unreadable ones."""
    entries: list[tuple[bytes, bytes, bytes]] = []
    seen: set[bytes] = set()
    for der in ders:
        keys = index_keys(der)
        if keys is None or der in seen:
            continue
        seen.add(der)
        entries.append((der, *keys))
    header = bytearray(HEADER.pack(MAGIC, len(entries)))
    offset = 0
    for der, subject, key_id in entries:
        header += ENTRY.pack(offset, len(der), subject, key_id)
        offset += len(der)
    return bytes(header) + b"".join(der for der, _, _ in entries)


class PackedCertificates:
    """A packed certificate set over a buffer (bytes, or a memory map the edge made)."""

    def __init__(self, buffer: Buffer) -> None:
        view = memoryview(buffer)
        if len(view) < HEADER.size:
            raise PackError("too short for a packed certificate set")
        magic, count = HEADER.unpack_from(view)
        self._data_start = HEADER.size + count * ENTRY.size
        if magic != MAGIC or len(view) < self._data_start:
            raise PackError("not a packed certificate set (bad magic or truncated index)")
        self._view = view
        self._count: int = count
        self._by_name: dict[bytes, list[int]] | None = None  # built on the first question
        self._by_key_id: dict[bytes, list[int]] = {}

    def __len__(self) -> int:
        return self._count

    def _index(self) -> dict[bytes, list[int]]:
        if self._by_name is None:
            by_name: dict[bytes, list[int]] = {}
            for number in range(self._count):
                _, _, subject, key_id = ENTRY.unpack_from(self._view, HEADER.size + number * ENTRY.size)
                by_name.setdefault(subject, []).append(number)
                if key_id != NO_KEY:
                    self._by_key_id.setdefault(key_id, []).append(number)
            self._by_name = by_name
        return self._by_name

    def der(self, number: int) -> bytes:
        offset, length, _, _ = ENTRY.unpack_from(self._view, HEADER.size + number * ENTRY.size)
        start = self._data_start + offset
        if start + length > len(self._view):
            raise PackError(f"certificate {number} runs past the end of the set")
        return bytes(self._view[start : start + length])

    def __iter__(self) -> Iterator[bytes]:
        return (self.der(n) for n in range(self._count))

    def issuer_candidates(self, issuer_der: bytes, key_id: bytes | None) -> Iterator[Candidate]:
        """Certificates whose key identifier matches ``key_id``, then those whose subject is the
        issuer name, each once."""
        by_name = self._index()
        numbers = [*self._by_key_id.get(key_id_key(key_id), ()), *by_name.get(name_key(issuer_der), ())]
        return ((self.der(n), None) for n in dict.fromkeys(numbers))


class CertificateBundle:
    """A few CA certificates as DER, each with where it came from (a URL, or None), indexed by
    subject and key identifier when made; immutable once made."""

    def __init__(self, entries: Iterable[Candidate] = ()) -> None:
        unique: dict[bytes, Candidate] = {}
        for der, origin in entries:
            unique.setdefault(der, (der, origin))  # a certificate keeps its first origin
        self.entries: tuple[Candidate, ...] = tuple(unique.values())
        self._by_name: dict[bytes, list[int]] = {}
        self._by_key_id: dict[bytes, list[int]] = {}
        for number, (der, _) in enumerate(self.entries):
            keys = index_keys(der)
            if keys is None:
                continue
            self._by_name.setdefault(keys[0], []).append(number)
            if keys[1] != NO_KEY:
                self._by_key_id.setdefault(keys[1], []).append(number)

    @classmethod
    def of(cls, ders: Iterable[bytes], origin: str | None = None) -> CertificateBundle:
        return cls((der, origin) for der in ders)

    def __len__(self) -> int:
        return len(self.entries)

    def plus(self, other: CertificateBundle) -> CertificateBundle:
        """This bundle and the certificates of ``other`` it lacks (a certificate keeps its first origin)."""
        known = {der for der, _ in self.entries}
        return CertificateBundle((*self.entries, *(e for e in other.entries if e[0] not in known)))

    def issuer_candidates(self, issuer_der: bytes, key_id: bytes | None) -> Iterator[Candidate]:
        numbers = [*self._by_key_id.get(key_id_key(key_id), ()), *self._by_name.get(name_key(issuer_der), ())]
        return (self.entries[n] for n in dict.fromkeys(numbers))


EMPTY_BUNDLE = CertificateBundle()
