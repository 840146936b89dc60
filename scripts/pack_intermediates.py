"""Rebuild scanner/data/intermediates.bin from a PEM bundle of intermediates (see scanner/data/INTERMEDIATES.md).

    python scripts/pack_intermediates.py ../shared/intermediates/mozilla-intermediates-2025-06-24.pem

The output is deterministic: the same PEM gives the same bytes (tests/test_intermediates.py checks it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from scanner.core.certs import split_certificates
from scanner.core.intermediates import PackedCertificates, pack_certificates

TARGET = Path(__file__).resolve().parent.parent / "scanner" / "data" / "intermediates.bin"


def main(source: str) -> int:
    packed = pack_certificates(split_certificates(Path(source).read_bytes()))
    TARGET.write_bytes(packed)
    print(f"{TARGET}: {len(PackedCertificates(packed))} certificates, {len(packed)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
