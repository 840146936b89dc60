"""A throwaway PostgreSQL server for tests and benchmarks: Debian's binaries, a temporary
cluster, loopback and a unix socket in its own directory only, stopped at the end.

PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(which Debian's package creates) and its commands run through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg


def find_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """``with PgServer() as pg: pg.url("dbname")``; raises RuntimeError when it cannot start."""

    def __init__(self, *, durable: bool = False) -> None:
        """``durable``: keep fsync on (benchmarks); tests turn it off: they never crash the machine."""
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL's server binaries (initdb) are not installed")
        self.bindir = bindir
        self.durable = durable
        self.port = _free_port()
        # As root the cluster's owner must reach its directory: /tmp, whatever TMPDIR says (a
        # TMPDIR under /root would be closed to the postgres user). Short, too: the socket path
        # has a limit of about 100 bytes.
        self.directory = Path(
            tempfile.mkdtemp(prefix="ekuscan-pg-", dir="/tmp" if os.geteuid() == 0 else None)
        )
        self.data = self.directory / "data"
        self._owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root and there is no 'postgres' user to own the cluster"
                ) from None
            os.chown(self.directory, self._owner.pw_uid, self._owner.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._owner is not None:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")

    def __enter__(self) -> PgServer:
        try:
            self._run(
                "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"
            )
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.directory} -c max_connections=50"
                + ("" if self.durable else " -c fsync=off -c full_page_writes=off")
            )
            self._run(
                "pg_ctl",
                "-D",
                str(self.data),
                "-l",
                str(self.directory / "log"),
                "-o",
                options,
                "-w",
                "start",
            )
        except BaseException:
            self._cleanup()
            raise
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def __exit__(self, *exc: object) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        self._cleanup()

    def _cleanup(self) -> None:
        for _ in range(3):  # the server may still be removing its socket
            try:
                shutil.rmtree(self.directory)
                return
            except OSError:
                time.sleep(0.2)
