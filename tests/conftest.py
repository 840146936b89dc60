"""Shared fixtures: the analysis context, the built-in lab on loopback, real certificates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.analysis import AnalysisContext
from scanner.lab import BackgroundLab
from scanner.policy import load_packaged_policy
from scanner.trust import RootStore
from tests.factories import NOW

REPO = Path(__file__).resolve().parent.parent
# Real public certificates, copied byte for byte with their sources (see SOURCES.md there).
REALCERTS = REPO / "tests" / "data" / "realcerts"
# The tests' own lab lives on its own /24 so that a `make demo` lab (127.0.2.0) never collides.
TEST_LAB_BASE = "127.0.42.0"


def context(roots: RootStore | None = None, *, now=NOW, warn_days: int = 30, **kw) -> AnalysisContext:
    return AnalysisContext(
        now=now,
        warn=timedelta(days=warn_days),
        roots=roots or RootStore(),
        policy=load_packaged_policy(),
        **kw,
    )


@pytest.fixture(scope="session")
def lab() -> Iterator[BackgroundLab]:
    """The built-in lab, started once for the session on TEST_LAB_BASE."""
    with BackgroundLab(TEST_LAB_BASE) as running:
        yield running


@pytest.fixture(scope="session")
def lab_roots(lab: BackgroundLab) -> RootStore:
    return RootStore.from_ders([lab.pki.public_root.cert.public_bytes(Encoding.DER)])


@pytest.fixture(scope="session")
def realcerts() -> Path:
    return REALCERTS
