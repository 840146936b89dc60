"""Files the scanner reads and writes: output committed atomically, root bundles, policy files.

Errors come back as ``OSError`` (or ``PolicyError``) for the application to word; nothing here
prints.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TextIO

import certifi

from scanner.core.policy import Policy
from scanner.core.policy_schema import parse_policy_text


class OutputError(OSError):
    """An output file could not be written; the message names it."""


def packaged_policy_text() -> str:
    return resources.files("scanner").joinpath("data/policy.json").read_text(encoding="utf-8")


def load_packaged_policy() -> Policy:
    return parse_policy_text(packaged_policy_text())


def load_policy_file(path: Path) -> Policy:
    """A user's policy file; OSError, UnicodeDecodeError and PolicyError are the caller's to report."""
    return parse_policy_text(path.read_text(encoding="utf-8"), origin=str(path))


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
