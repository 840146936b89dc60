"""What ekuscan costs before it does any work: the CPU of a whole process for a few small commands.

Each figure is one process from start to exit, as a user runs it: ``python -m scanner ...``. CPU is
user + sys of the process and its waited-for children (``wait4``), so a forked worker would count.
The commands, run in rounds (every command, every variant, once per round; ``--repeat`` rounds):

* ``--version``: the interpreter, the imports the CLI needs, typer's parsing;
* ``inspect FILE``: one PEM from the tests' data (a real Let's Encrypt leaf), judged offline;
* ``scan HOST:8443 -o FILE``: one live endpoint of the built-in lab, which this script starts on
  ``--base`` (loopback only) and stops by its pid at the end.

The medians and (min–max) are printed per command. Bytecode caches are what a user has (pip
writes them at install), so ``PYTHONDONTWRITEBYTECODE`` is dropped from the children's environment
and every command runs once, unmeasured, before the rounds.

``--variant LABEL=COMMAND`` (repeatable) compares interpreters or source trees in the same rounds,
alternated, so load from other work hits them alike. COMMAND is split like a shell word list and
``-m scanner ...`` is appended; it runs in a temporary directory, so its paths must be absolute::

    .venv/bin/python bench/bench_startup.py --repeat 5
    .venv/bin/python bench/bench_startup.py --variant "new=$PWD/.venv/bin/python" \\
        --variant "old=env PYTHONPATH=$HOME/old-checkout $PWD/.venv/bin/python"
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSPECTED_PEM = ROOT / "tests" / "data" / "realcerts" / "letsencrypt-org-leaf.pem"
DEFAULT_BASE = "127.0.70.0"  # the lab's hosts are base+1, ...; no test or other benchmark uses 127.0.70.x
SCANNED_PORT = 8443  # the first lab host serves HTTPS here (one handshake, one HTTP probe)
LAB_START_SECONDS = 120.0
RUN_LIMIT_SECONDS = 60.0
POLL_SECONDS = 0.002


class BenchError(Exception):
    """The benchmark cannot produce a valid figure; the message says why."""


@dataclass(frozen=True, slots=True)
class Run:
    cpu_s: float  # user + sys, children included
    wall_s: float


def _child_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has its .pyc files
    return environment


def measure(command: Sequence[str], accepted_exits: frozenset[int], cwd: Path) -> Run:
    """Run ``command`` in ``cwd`` to its end; its CPU (with waited-for children) and wall time.

    Not in the checkout: ``python -m`` puts the working directory first on sys.path, which would
    import the checkout's ``scanner`` whatever a variant's PYTHONPATH says.
    """
    with tempfile.TemporaryFile("w+") as err_handle:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_handle,
            env=_child_environment(),
            cwd=cwd,
        )
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > RUN_LIMIT_SECONDS:
                    raise BenchError(f"{shlex.join(command)} took over {RUN_LIMIT_SECONDS:g}s")
                time.sleep(POLL_SECONDS)
        except BaseException:
            with contextlib.suppress(OSError):
                process.kill()
                os.waitpid(process.pid, 0)
            raise
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again
        if process.returncode not in accepted_exits:
            err_handle.seek(0)
            raise BenchError(
                f"{shlex.join(command)} exited {process.returncode}: {err_handle.read()[-2000:]}"
            )
    return Run(cpu_s=usage.ru_utime + usage.ru_stime, wall_s=wall)


@contextlib.contextmanager
def lab_endpoint(python: Sequence[str], base: str, work: Path) -> Iterator[str]:
    """Serve the built-in lab on ``base`` while the block runs; yields its first host's HTTPS endpoint."""
    base_ip = ipaddress.IPv4Address(base)
    if not base_ip.is_loopback:
        raise BenchError(f"--base {base} is not a loopback address")
    targets = work / "lab-targets.csv"
    log = (work / "lab.log").open("w")
    lab_arguments = ["lab", "--base", base, "--write-targets", str(targets), "--duration", "3600"]
    lab = subprocess.Popen(
        [*python, "-m", "scanner", *lab_arguments],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=_child_environment(),
        cwd=work,
    )
    try:
        deadline = time.monotonic() + LAB_START_SECONDS
        while not targets.exists():
            if lab.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the lab did not start: {(work / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield f"{base_ip + 1}:{SCANNED_PORT}"
    finally:
        lab.terminate()
        try:
            lab.wait(10)
        except subprocess.TimeoutExpired:
            lab.kill()
            lab.wait(10)
        log.close()


def _median_text(values: Sequence[float]) -> str:
    milliseconds = [1000 * value for value in values]
    return f"{statistics.median(milliseconds):5.0f} ({min(milliseconds):.0f}–{max(milliseconds):.0f})"


def _variants(texts: Sequence[str]) -> dict[str, list[str]]:
    if not texts:
        return {"ekuscan": [sys.executable]}
    variants: dict[str, list[str]] = {}
    for text in texts:
        label, separator, command = text.partition("=")
        if not separator or not label or not command.strip():
            raise SystemExit(f"--variant {text!r}: expected LABEL=COMMAND")
        variants[label] = shlex.split(command)
    return variants


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    parser.add_argument(
        "--base", default=DEFAULT_BASE, help=f"the lab's base address (default {DEFAULT_BASE})"
    )
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=COMMAND")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 100:
        parser.error("--repeat: 1 to 100")
    variants = _variants(args.variant)
    print(f"bench_startup: {args.repeat} rounds, load average (1 min) at start {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = Path(tmp)
        with lab_endpoint(next(iter(variants.values())), args.base, work) as endpoint:
            commands = {
                "--version": (["--version"], frozenset({0})),
                "inspect PEM": (["inspect", str(INSPECTED_PEM), "-f", "json"], frozenset({0, 1})),
                "scan 1 endpoint": (
                    ["scan", endpoint, "-f", "json", "-o", str(work / "scan.json")],
                    frozenset({0, 1}),
                ),
            }
            runs: dict[tuple[str, str], list[Run]] = {}
            for round_number in range(-1, args.repeat):  # round -1 writes the bytecode caches
                for name, (arguments, accepted) in commands.items():
                    for label, python in variants.items():
                        run = measure([*python, "-m", "scanner", *arguments], accepted, work)
                        if round_number >= 0:
                            runs.setdefault((name, label), []).append(run)
    print(f"{'command':<17} {'variant':<12} {'CPU ms, median (min–max)':>26} {'wall ms':>18}")
    for (name, label), measured in runs.items():
        cpu = _median_text([run.cpu_s for run in measured])
        wall = _median_text([run.wall_s for run in measured])
        print(f"{name:<17} {label:<12} {cpu:>26} {wall:>18}")
    print(f"load average (1 min) at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
