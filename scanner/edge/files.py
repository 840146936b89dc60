"""Files the scanner reads and writes: output committed atomically, root bundles, policy files, intermediates.

Errors come back as ``OSError`` (or ``PolicyError``) for the application to word; nothing here
prints.
"""

from __future__ import annotations

import functools
import mmap
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TextIO

import certifi

from scanner.core.certs import split_certificates
from scanner.core.completion import IntermediatePool
from scanner.core.intermediates import CertificateBundle, PackedCertificates
from scanner.core.policy import Policy
from scanner.core.policy_schema import parse_policy_text

PACKAGED_INTERMEDIATES = "data/intermediates.bin"  # Mozilla's preloading list (data/INTERMEDIATES.md)


class OutputError(OSError):
    """An output file could not be written; the message names it."""


def packaged_policy_text() -> str:
    return resources.files("scanner").joinpath("data/policy.json").read_text(encoding="utf-8")


def load_packaged_policy() -> Policy:
    return parse_policy_text(packaged_policy_text())


def load_policy_file(path: Path) -> Policy:
    """A user's policy file; OSError, UnicodeDecodeError and PolicyError are the caller's to report."""
    return parse_policy_text(path.read_text(encoding="utf-8"), origin=str(path))


@functools.cache
def packaged_intermediates() -> PackedCertificates:
    """The packaged public intermediates, mapped into memory once per process.

    Mapping costs no memory until pages are read: the index on the first incomplete chain,
    then the candidates' certificates. A package inside a zip file has no file to map; it is
    read whole (2.1 MB) instead.
    """
    resource = resources.files("scanner").joinpath(PACKAGED_INTERMEDIATES)
    try:
        with open(str(resource), "rb") as handle:
            return PackedCertificates(memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)))
    except OSError:
        return PackedCertificates(resource.read_bytes())


def intermediate_pool(
    user_pem: bytes = b"", fetched: Iterable[tuple[str, Sequence[bytes]]] = ()
) -> IntermediatePool:
    """The intermediates a chain is completed with: the packaged set, the user's bundle
    (``--intermediates``, PEM bytes as read) and issuers fetched before (url, DER certificates)."""
    pool = IntermediatePool(
        packaged=packaged_intermediates(),
        user=CertificateBundle.of(split_certificates(user_pem)) if user_pem else CertificateBundle(),
    )
    for url, ders in fetched:
        pool = pool.with_fetched(url, ders)
    return pool


def default_roots_path() -> Path:
    """Mozilla's root bundle, as certifi ships it."""
    return Path(certifi.where())


@contextmanager
def atomic_output(output: Path | None) -> Iterator[TextIO]:
    """stdout, or a temporary file beside ``output`` renamed over it only when complete.

    Raises ``OutputError`` (one line naming the file) when it cannot be written.
    """
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    if output.exists() and not output.is_file():
        # /dev/null, a FIFO, a terminal: there is nothing to rename over, write straight in.
        try:
            handle = output.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from None
        with handle:
            yield handle
        return
    directory = output.parent if str(output.parent) else Path(".")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, output)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
