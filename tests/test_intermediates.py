"""The packaged public intermediates: the packed form, its index, and what loading it costs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.core.certs import parse_der, split_certificates
from scanner.core.intermediates import (
    ENTRY,
    HEADER,
    CertificateBundle,
    PackedCertificates,
    PackError,
    index_keys,
    pack_certificates,
)
from scanner.edge.files import PACKAGED_INTERMEDIATES, packaged_intermediates
from tests.conftest import REPO
from tests.factories import make_cert

PACKED = REPO / "scanner" / PACKAGED_INTERMEDIATES
# The snapshot the packed file was made from (its SOURCES note): present beside the worktree.
SOURCE = REPO.parent / "shared" / "intermediates" / "mozilla-intermediates-2025-06-24.pem"
SNAPSHOT_COUNT = 1637


def test_the_packaged_set_is_the_snapshot_with_its_count():
    packed = packaged_intermediates()
    assert len(packed) == SNAPSHOT_COUNT
    ders = list(packed)
    assert len(set(ders)) == SNAPSHOT_COUNT
    assert all(index_keys(der) is not None for der in ders)
    note = (REPO / "scanner" / "data" / "INTERMEDIATES.md").read_text()
    assert "1,637" in note and "2025-06-24" in note and "50c8f45d1b79" in note


@pytest.mark.skipif(not SOURCE.exists(), reason=f"the snapshot {SOURCE} is not on this machine")
def test_the_packed_file_is_rebuilt_byte_for_byte_from_the_snapshot():
    """scripts/pack_intermediates.py's output for the snapshot is exactly the shipped file."""
    assert pack_certificates(split_certificates(SOURCE.read_bytes())) == PACKED.read_bytes()


def test_every_certificate_is_found_by_its_subject_and_by_its_key_identifier():
    packed = packaged_intermediates()
    for der in list(packed)[::40]:
        facts = parse_der(der).facts  # type: ignore[union-attr]
        by_name = [d for d, _ in packed.issuer_candidates(facts.subject_der, None)]
        by_key = [d for d, _ in packed.issuer_candidates(b"no such name", facts.subject_key_id)]
        assert der in by_name and der in by_key


def test_the_index_is_read_only_when_a_chain_asks():
    packed = PackedCertificates(PACKED.read_bytes())
    assert packed._by_name is None  # made, counted, and not indexed yet
    leaf = make_cert("nobody.example.test")
    assert list(packed.issuer_candidates(leaf.cert.issuer.public_bytes(), None)) == []
    assert packed._by_name is not None


def test_pack_keeps_order_and_drops_duplicates_and_garbage():
    a, b = make_cert("A", ca=True, key_ids=True), make_cert("B", ca=True)
    packed = PackedCertificates(pack_certificates([a.der, b"\x30\x03\x02\x01\x00", b.der, a.der]))
    assert list(packed) == [a.der, b.der]
    key_id = a.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert [d for d, _ in packed.issuer_candidates(b"another name", key_id)] == [a.der]


@pytest.mark.parametrize(
    "data",
    [b"", b"EKUINT01", b"NOTMAGIC" + b"\x00\x00\x00\x00", HEADER.pack(b"EKUINT01", 3) + b"\x00" * ENTRY.size],
    ids=["empty", "no-count", "bad-magic", "truncated-index"],
)
def test_what_is_not_a_packed_set_is_refused(data):
    with pytest.raises(PackError):
        PackedCertificates(data)


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_arbitrary_bytes_are_refused_or_read_without_other_errors(data):
    try:
        packed = PackedCertificates(data)
    except PackError:
        return
    try:
        for _ in packed.issuer_candidates(b"name", b"key"):
            pass
        list(packed)
    except PackError:
        pass


def test_a_bundle_keeps_the_first_origin_of_a_certificate():
    a = make_cert("A", ca=True)
    bundle = CertificateBundle.of([a.der], "http://127.0.0.1/a.crt").plus(CertificateBundle.of([a.der], None))
    assert bundle.entries == ((a.der, "http://127.0.0.1/a.crt"),)


def test_loading_and_using_the_packaged_set_costs_little_memory_and_time():
    """Mapped, not read: a process pays for the index and the pages a completion touches.

    Measured in a fresh interpreter: the RSS growth from mapping the set and completing one
    real chain through it (Let's Encrypt's E7 for a real leaf), and the time the first
    completion takes (the index is read then).
    """
    real_leaf = REPO / "tests/data/realcerts/letsencrypt-org-leaf.pem"
    code = f"""
import time
from pathlib import Path
import certifi
from datetime import datetime, UTC
def rss(): return int(open('/proc/self/statm').read().split()[1]) * 4096
from scanner.core.certs import parse_der, split_certificates
from scanner.core.completion import classify_completed
from scanner.core.trust import load_pem_bundle
from scanner.edge.files import intermediate_pool
roots = load_pem_bundle(Path(certifi.where()).read_bytes())
leaf = parse_der(split_certificates(Path({str(real_leaf)!r}).read_bytes())[0])
before = rss()
start = time.perf_counter()
pool = intermediate_pool()
result = classify_completed([leaf], roots, pool, datetime(2026, 2, 1, tzinfo=UTC))
seconds = time.perf_counter() - start
assert result.basis.value == "completed", result
print(rss() - before, seconds)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    grown, seconds = out.stdout.split()
    assert int(grown) < 3 * 1024 * 1024, f"{int(grown) / 1048576:.2f} MiB"
    assert float(seconds) < 0.25, seconds


def test_the_package_ships_the_data_and_its_note():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"data/*.bin"' in pyproject and '"data/*.md"' in pyproject
    assert Path(PACKED).stat().st_size < 3 * 1024 * 1024
