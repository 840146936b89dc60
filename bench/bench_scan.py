"""Benchmark of the whole ekuscan pipeline against loopback TLS endpoints.

What is measured, per N (``--n 200 1000``), ``--repeat`` times:

* the full scan path as ``ekuscan scan -f json`` wires it: ``targets.expand`` -> the trio pool
  (connect, sans-I/O handshake) -> ``analyze`` (parse, trust, rules, verdicts) ->
  ``Inventory`` -> the JSON writer (into memory, so no disk I/O is timed);
* endpoints per second (wall time of the scan), client CPU per endpoint (user + sys of the
  scanning process only, during the scan) and the peak RSS of the scanning process.

How:

* The TLS server runs in a separate process (``multiprocessing``, spawn) so its CPU is not
  counted: one lab PKI, one leaf per address (public, serverAuth+clientAuth, expiring) served
  on all its ports, one server
  context, and ``scanner.lab.handle_connection`` behind ``trio.serve_listeners`` on
  127.0.50.1, 127.0.50.2, ... x ports 8443, 443, 10443, 9443 (no SIP port: one handshake per
  endpoint). It stops when told, or after ``--server-seconds`` whatever happens.
* Every measured scan runs in a fresh client process (this script with ``--client``), so
  the peak RSS is that of one scan; the client prints its figures as one JSON line.
* A second micro-run probes 127.1.0.0/22 x the same 4 ports (4096 probes) where nothing
  listens: connection refused, status ``closed``.

Only loopback addresses are ever contacted. Run: ``.venv/bin/python bench/bench_scan.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import multiprocessing
import os
import platform
import resource
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SERVER_BASE = "127.0.50.1"  # the served endpoints: SERVER_BASE + i, i = 0, 1, ...
REFUSED_RANGE = "127.1.0.0/22"  # 1024 addresses where nothing listens
BENCH_PORTS: tuple[int, ...] = (8443, 443, 10443, 9443)  # none is a SIP port (5061, 5062, 7001)
PORT_443_FALLBACK = 4443  # if binding 443 needs a privilege we lack
MAX_N = 16000  # endpoints; the server holds one listening socket per endpoint
SERVER_START_SECONDS = 60.0
CLIENT_RUN_SECONDS = 120.0  # a client process that takes longer is killed and the bench fails
CONTROL_SECONDS = 10.0  # answers from the server's control loop
FD_HEADROOM = 256
MIB = 1024 * 1024


class BenchError(Exception):
    """The benchmark cannot produce a valid figure; the message says why."""


# --- the server process -------------------------------------------------------------------


def _raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_main(addresses: int, ports: tuple[int, ...], control: Connection, limit_seconds: float) -> None:
    """Serve ``addresses`` x ``ports`` TLS endpoints until told to stop (runs in the child)."""
    try:
        _serve(addresses, ports, control, limit_seconds)
    except BaseException as exc:  # reported to the parent, which fails loudly
        with contextlib.suppress(OSError):
            control.send(("error", f"{type(exc).__name__}: {exc}"))
        raise


def _serve(addresses: int, ports: tuple[int, ...], control: Connection, limit_seconds: float) -> None:
    from datetime import UTC, datetime

    import trio
    from OpenSSL import SSL

    from scanner.lab import Behaviour, LabPKI, LabService, LeafKind, handle_connection, server_context

    _raise_fd_limit(addresses * len(ports) + 4 * FD_HEADROOM + 1024)
    pki = LabPKI.generate(datetime.now(UTC))
    service = LabService(ports[0], Behaviour.TLS)
    first = ipaddress.IPv4Address(SERVER_BASE)
    # One certificate per simulated host, the same on all its ports, as an Expressway has:
    # the client parses a new leaf per host and shares only the intermediate.
    contexts: list[SSL.Context] = []
    for offset in range(addresses):
        leaf, chain = pki.leaf(f"bench{offset}", LeafKind.PUBLIC_BOTH_EXPIRING)
        contexts.append(server_context(leaf, chain, pki, service))

    def handler_for(ctx: SSL.Context) -> Any:
        async def handler(stream: trio.SocketStream) -> None:
            await handle_connection(stream, ctx, service)

        return handler

    async def main() -> None:
        with trio.move_on_after(limit_seconds):
            real_ports = list(ports)
            per_host: list[list[trio.SocketListener]] = [[] for _ in range(addresses)]
            for i, port in enumerate(ports):
                try:
                    per_host[0] += await trio.open_tcp_listeners(port, host=str(first))
                except PermissionError:
                    real_ports[i] = PORT_443_FALLBACK
                    per_host[0] += await trio.open_tcp_listeners(PORT_443_FALLBACK, host=str(first))
            for offset in range(1, addresses):
                for port in real_ports:
                    per_host[offset] += await trio.open_tcp_listeners(port, host=str(first + offset))
            async with trio.open_nursery() as nursery:
                for ctx, listeners in zip(contexts, per_host, strict=True):
                    nursery.start_soon(trio.serve_listeners, handler_for(ctx), listeners)
                control.send(("ready", pki.public_root.pem.decode("ascii"), real_ports))
                while True:
                    await trio.lowlevel.wait_readable(control.fileno())
                    message = control.recv()
                    if message == "cpu":
                        control.send(("cpu", _cpu_seconds()))
                    else:  # "stop", or anything unexpected
                        nursery.cancel_scope.cancel()
                        return

    trio.run(main)


@dataclass
class Server:
    process: multiprocessing.process.BaseProcess
    control: Connection
    root_pem: str
    ports: tuple[int, ...]

    def ask(self, message: str) -> Any:
        self.control.send(message)
        if not self.control.poll(CONTROL_SECONDS):
            raise BenchError(f"the server did not answer {message!r} within {CONTROL_SECONDS:g}s")
        kind, value = self.control.recv()
        if kind == "error":
            raise BenchError(f"the server failed: {value}")
        return value

    def cpu(self) -> float:
        if not self.process.is_alive():
            raise BenchError("the server process is gone (its --server-seconds limit may have passed)")
        return float(self.ask("cpu"))

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.control.send("stop")
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.control.close()


def start_server(addresses: int, limit_seconds: float) -> Server:
    mp = multiprocessing.get_context("spawn")
    parent_end, child_end = mp.Pipe(duplex=True)
    process = mp.Process(
        target=server_main,
        args=(addresses, BENCH_PORTS, child_end, limit_seconds),
        name="ekuscan-bench-server",
        daemon=True,
    )
    process.start()
    child_end.close()
    try:
        if not parent_end.poll(SERVER_START_SECONDS):
            raise BenchError(f"the server did not start within {SERVER_START_SECONDS:g}s")
        try:
            message = parent_end.recv()
        except EOFError:
            raise BenchError(f"the server exited during start-up (exit code {process.exitcode})") from None
        if message[0] != "ready":
            raise BenchError(f"the server failed to start: {message[1]}")
    except BaseException:
        process.terminate()
        process.join(5)
        raise
    return Server(process, parent_end, message[1], tuple(message[2]))


# --- the client process -------------------------------------------------------------------


def endpoint_specs(n: int, ports: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """Targets for exactly ``n`` served endpoints: a range with every port, then the remainder."""
    full, rest = divmod(n, len(ports))
    first = ipaddress.IPv4Address(SERVER_BASE)
    specs = [(f"{first}-{first + full - 1}", ports)] if full else []
    if rest:
        specs.append((str(first + full), ports[:rest]))
    return specs


def client_main(args: argparse.Namespace) -> int:
    """One measured scan; prints one JSON line of figures on stdout."""
    from datetime import UTC, datetime, timedelta

    from scanner import __version__
    from scanner.app.output import ReportStream
    from scanner.core.analysis import AnalysisContext
    from scanner.core.targets import parse_target
    from scanner.core.trust import load_pem_bundle
    from scanner.edge.files import load_packaged_policy
    from scanner.edge.net import ProbeConfig
    from scanner.edge.pool import PoolConfig, ensure_fd_limit, run_stoppable
    from scanner.edge.spool import DiskSpool
    from scanner.edge.workers import AnalysisInputs, judge_sweep
    from scanner.report.inventory import Inventory
    from scanner.writers import OutputFormat, RunInfo, make_writer

    ports = tuple(int(p) for p in args.ports.split(","))
    if args.client == "tls":
        specs = [parse_target(text, spec_ports) for text, spec_ports in endpoint_specs(args.n[0], ports)]
    else:
        specs = [parse_target(REFUSED_RANGE, ports)]
    for spec in specs:
        address = ipaddress.ip_address(spec.first)
        if not address.is_loopback or not ipaddress.ip_address(spec.last).is_loopback:
            raise BenchError(f"refusing to scan {spec.text}: not loopback")
    expected = sum(spec.probe_count for spec in specs)

    now = datetime.now(UTC)
    policy = load_packaged_policy()
    roots_pem = Path(args.roots).read_bytes()
    roots = load_pem_bundle(roots_pem)
    ctx = AnalysisContext(now=now, warn=timedelta(days=policy.warn_days), roots=roots, policy=policy)
    concurrency = ensure_fd_limit(args.concurrency)
    config = PoolConfig(
        concurrency=concurrency, probe=ProbeConfig(connect_timeout=args.timeout, timeout=args.timeout)
    )
    # The timed JSON goes to a temporary file, as ``-o FILE`` writes it (minus the fsync), so the
    # peak RSS does not include an in-memory copy of the output; it is parsed afterwards.
    sink = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    inventory = Inventory(spool=DiskSpool)
    writer = make_writer(OutputFormat.JSON, sink, RunInfo(__version__, now, now), spool=DiskSpool)
    stream = ReportStream(writer, inventory)
    inputs = AnalysisInputs(roots_pem, now, ctx.warn, policy.document)

    async def sweep() -> None:
        await judge_sweep(specs, None, config, inputs, 1, stream.record, ctx)

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    run_stoppable(sweep)
    writer.finish(inventory, time.perf_counter() - t0)
    wall = time.perf_counter() - t0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(args.profile)

    # Not timed: what was written must be valid JSON.
    sink.seek(0)
    text = sink.read()
    sink.close()
    document = json.loads(text)
    summary = document["summary"]
    result = {
        "mode": args.client,
        "expected": expected,
        "probes": summary["probes"],
        "listed": len(document["endpoints"]),
        "by_status": summary["by_status"],
        "by_verdict": {k: v for k, v in summary["by_verdict"].items() if v},
        "concurrency": concurrency,
        "wall_s": wall,
        "user_s": usage1.ru_utime - usage0.ru_utime,
        "sys_s": usage1.ru_stime - usage0.ru_stime,
        "rss_before_mib": rss_before * 1024 / MIB,  # ru_maxrss is in KiB on Linux
        "peak_rss_mib": usage1.ru_maxrss * 1024 / MIB,
        "json_bytes": len(text.encode()),
    }
    print(json.dumps(result))
    return 0


# --- the driver ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    probes: int
    ok: int
    closed: int
    wall_s: float
    cpu_s: float
    sys_s: float
    peak_rss_mib: float
    rss_before_mib: float
    server_cpu_s: float | None
    verdicts: dict[str, int]

    @property
    def rate(self) -> float:
        return self.probes / self.wall_s

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu_s / self.probes

    @property
    def server_cpu_ms(self) -> float | None:
        return None if self.server_cpu_s is None else 1000 * self.server_cpu_s / self.probes


def run_client(
    mode: str, n: int, ports: tuple[int, ...], roots: Path, args: argparse.Namespace, profile: int = 0
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--client",
        mode,
        "--n",
        str(n),
        "--ports",
        ",".join(map(str, ports)),
        "--roots",
        str(roots),
        "--concurrency",
        str(args.concurrency),
        "--timeout",
        str(args.timeout),
        "--profile",
        str(profile),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=CLIENT_RUN_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"a client run ({mode}, N={n}) took over {CLIENT_RUN_SECONDS:g}s") from None
    if profile:
        print(done.stderr, file=sys.stderr)
    if done.returncode != 0:
        raise BenchError(f"the client ({mode}, N={n}) failed with exit {done.returncode}:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(mode: str, n: int, server: Server, roots: Path, args: argparse.Namespace, want: str) -> Sample:
    cpu0 = server.cpu()
    result = run_client(mode, n, server.ports, roots, args)
    server_cpu = server.cpu() - cpu0 if mode == "tls" else None
    statuses: dict[str, int] = result["by_status"]
    sample = Sample(
        probes=result["probes"],
        ok=statuses.get("ok", 0),
        closed=statuses.get("closed", 0),
        wall_s=result["wall_s"],
        cpu_s=result["user_s"] + result["sys_s"],
        sys_s=result["sys_s"],
        peak_rss_mib=result["peak_rss_mib"],
        rss_before_mib=result["rss_before_mib"],
        server_cpu_s=server_cpu,
        verdicts=result["by_verdict"],
    )
    got = statuses.get(want, 0)
    if result["probes"] != result["expected"] or got != result["expected"]:
        raise BenchError(
            f"{mode} N={n}: expected {result['expected']} probes with status {want!r}, "
            f"got {result['probes']} probes, statuses {statuses}"
        )
    if mode == "tls" and result["listed"] != n:
        raise BenchError(f"tls N={n}: the JSON lists {result['listed']} endpoints, expected {n}")
    return sample


def _spread(values: Sequence[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def _versions() -> str:
    from cryptography.hazmat.backends.openssl.backend import backend
    from OpenSSL import SSL

    pyopenssl = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()
    crypto = backend.openssl_version_text()
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}); "
        f"pyOpenSSL/cryptography link {pyopenssl}"
        + (f" (cryptography: {crypto})" if crypto != pyopenssl else "")
        + f"; stdlib ssl {ssl.OPENSSL_VERSION}"
    )


def bench(args: argparse.Namespace) -> int:
    ns: list[int] = args.n
    if any(n < 1 or n > MAX_N for n in ns):
        raise BenchError(f"--n: each N must be 1..{MAX_N}")
    started = time.monotonic()
    addresses = -(-max(ns) // len(BENCH_PORTS))
    print("ekuscan scan benchmark: targets -> trio pool (TCP + TLS handshake) -> parse -> trust -> rules")
    print("  -> verdicts -> Inventory -> JSON writer (to /dev/null); loopback only")
    print(
        f"machine: {os.cpu_count()} cores (os.cpu_count()), {platform.system()} {platform.machine()}, "
        f"load average (1 min) at start {os.getloadavg()[0]:.2f}"
    )
    print(f"versions: {_versions()}")
    server = start_server(addresses, args.server_seconds)
    try:
        last = ipaddress.IPv4Address(SERVER_BASE) + addresses - 1
        print(
            f"server: 1 separate process (trio, 1 ECDSA P-256 leaf per address + 1 shared intermediate), "
            f"{addresses * len(server.ports)} endpoints on {SERVER_BASE}-{last} "
            f"x ports {','.join(map(str, server.ports))}"
        )
        print(
            f"client: fresh process per run, concurrency {args.concurrency}, timeout {args.timeout:g}s, "
            f"repeat {args.repeat}; median (min-max)"
        )
        print(
            f"note: the server shares the machine's {os.cpu_count()} cores with the client, so endpoints/s "
            "is the pair's throughput; client CPU excludes the server's."
        )
        with tempfile.TemporaryDirectory(prefix="ekuscan-bench-") as tmp:
            roots = Path(tmp) / "lab-public-root.pem"
            roots.write_text(server.root_pem, encoding="ascii")
            measure("tls", min(ns), server, roots, args, "ok")  # warm-up, not reported
            results: dict[int, list[Sample]] = {}
            for n in ns:
                results[n] = [measure("tls", n, server, roots, args, "ok") for _ in range(args.repeat)]
            refused = [measure("refused", 0, server, roots, args, "closed") for _ in range(args.repeat)]
            if args.profile:
                print(f"\nprofile of one client run at N={max(ns)} (on stderr)", flush=True)
                run_client("tls", max(ns), server.ports, roots, args, profile=args.profile)
    finally:
        server.stop()

    print()
    header = (
        f"{'N':>6}  {'endpoints/s (wall)':<18}  {'client CPU ms/ep':<18}  {'(sys)':<5}  {'CPU/wall':<8}  "
        f"{'peak RSS MiB':<18}  {'server CPU ms/ep':<17}  status ok"
    )
    print(header)
    print("-" * len(header))
    for n, samples in results.items():
        server_ms = [s.server_cpu_ms for s in samples if s.server_cpu_ms is not None]
        print(
            f"{n:>6}  {_spread([s.rate for s in samples], '.0f'):<18}  "
            f"{_spread([s.cpu_ms for s in samples], '.2f'):<18}  "
            f"{statistics.median(1000 * s.sys_s / s.probes for s in samples):<5.2f}  "
            f"{statistics.median(s.cpu_s / s.wall_s for s in samples):<8.0%}  "
            f"{_spread([s.peak_rss_mib for s in samples], '.1f'):<18}  "
            f"{_spread(server_ms, '.2f'):<17}  "
            f"{min(s.ok for s in samples)}/{n}"
        )
    verdicts = results[max(ns)][0].verdicts
    rss_base = statistics.median(s.rss_before_mib for s in results[max(ns)])
    print(
        f"verdicts at N={max(ns)}: {verdicts}; "
        f"RSS before the scan started (imports, roots): {rss_base:.1f} MiB"
    )
    print()
    probes = refused[0].probes
    print(f"refused probes: {REFUSED_RANGE} x {len(server.ports)} ports = {probes} probes, nothing listening")
    print(
        f"  probes/s (wall) {_spread([s.rate for s in refused], '.0f')}; "
        f"client CPU ms/probe {_spread([s.cpu_ms for s in refused], '.3f')}; "
        f"peak RSS MiB {_spread([s.peak_rss_mib for s in refused], '.1f')}; "
        f"status closed {min(s.closed for s in refused)}/{probes}"
    )
    print(
        f"\ncolumns: median (min-max) over {args.repeat} runs; (sys) = kernel part of the client CPU; "
        "CPU/wall = client CPU time / scan wall time"
    )
    print(
        f"total bench time {time.monotonic() - started:.1f}s; "
        f"load average (1 min) at end {os.getloadavg()[0]:.2f}"
    )
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, nargs="+", default=[200, 1000], help="endpoint counts")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per N (median reported)")
    parser.add_argument("--concurrency", type=int, default=256, help="connections in flight")
    parser.add_argument("--timeout", type=float, default=5.0, help="connect and handshake timeout (s)")
    parser.add_argument(
        "--server-seconds", type=float, default=300.0, help="hard limit on the server's life (s)"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="K", help="also profile one run; print K top functions"
    )
    parser.add_argument("--client", choices=["tls", "refused"], help=argparse.SUPPRESS)
    parser.add_argument("--ports", default=",".join(map(str, BENCH_PORTS)), help=argparse.SUPPRESS)
    parser.add_argument("--roots", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.repeat > 50:
        parser.error("--repeat must be 1..50")
    if args.concurrency < 1 or args.concurrency > 4096:
        parser.error("--concurrency must be 1..4096")
    if not 0.05 <= args.timeout <= 60:
        parser.error("--timeout must be 0.05..60")
    if not 1 <= args.server_seconds <= 3600:
        parser.error("--server-seconds must be 1..3600")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.client:
            return client_main(args)
        return bench(args)
    except BenchError as exc:
        print(f"bench_scan: FAILED: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
