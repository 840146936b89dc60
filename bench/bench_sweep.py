"""Sweep benchmark: ekuscan as a user runs it, against nginx, next to the tools people use today.

Four parts, each printing its figures (median, min-max over ``--repeat`` rounds of whole-process
runs; each round runs every row of a part once, so ratios compare runs made under the same load):

1. **Live endpoints**: nginx serves N = 1000 TLS endpoints on loopback (250 addresses x ports
   8443, 443, 10443, 9443; one ECDSA P-256 leaf per address + a shared intermediate). ekuscan
   scans them with the full pipeline (parse, rules, verdicts, JSON file) with its defaults,
   ``--workers 1`` and ``--workers 2``, each at N and N/2 (marginal CPU per endpoint); nmap
   ``--script ssl-cert`` scans the same endpoints in every round (``--peers all``: sslscan
   ``--no-ciphersuites`` and sslyze ``--certinfo`` too). Endpoints/s (wall time of the whole
   process), client CPU per endpoint (user + sys of the process and its children, from
   ``wait4``), peak RSS (largest single process) and peak RSS of the process tree (sampled).
2. **Refused probes**: 127.1.0.0/18 x 4 ports (65,536 probes) where nothing listens, ``-f
   jsonl``; nmap ``-sT`` on the same range for scale.
3. **Memory with N**: the live scan at N = 10^4 (2500 addresses), and 127.1.0.0/16 x 4 ports
   (262,144 refused probes).
4. **Latency and silence** (``--parts netns``): a network namespace of its own with only
   ``lo``, 50 ms of delay each way (``tc netem``) and nftables (or iptables) dropping every
   packet to 127.77.0.0/20 except a few live addresses, served by nginx inside it. ekuscan
   sweeps the /20 x 4 ports with ``--timeout 1``; expected time = probes x timeout / concurrency.

A summary table at the end sets issue 14's targets beside the figures. It installs what is
missing (nginx, nmap, nftables, with ``--peers all`` sslscan, with apt-get; sslyze with pip into
a separate venv, ``.venv-peers``); a peer that cannot be installed prints "not installed".
Servers and namespaces it starts are stopped by pid / deleted in ``finally`` blocks, also on
Ctrl-C and SIGTERM. Only loopback addresses are contacted, and the namespace it creates.
Needs root (nginx on 443, namespaces, netem). Run: ``make bench`` or
``.venv/bin/python bench/bench_sweep.py [--repeat 3] [--parts live,refused,memory,netns]``.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PEERS_VENV = REPO / ".venv-peers"
LIVE_BASE = ipaddress.IPv4Address("127.0.60.1")  # live endpoints: LIVE_BASE + i
LIVE_PORTS = (8443, 443, 10443, 9443)  # none is a SIP port: one handshake per endpoint
REFUSED_SWEEP = "127.1.0.0/18"  # x 4 ports = 65,536 probes (issue 14's figure)
REFUSED_BIG_SWEEP = "127.1.0.0/16"  # x 4 ports = 262,144 probes: memory flat with N
NETNS_RANGE = ipaddress.IPv4Network("127.77.0.0/20")
NETNS_LIVE = tuple(NETNS_RANGE[i] for i in (10, 517, 1290, 2049, 3333, 4000))  # served; the rest is dropped
NETNS_DELAY_MS = 50
SSLSCAN_SAMPLE = 100  # endpoints given to sslscan, which probes them one at a time
RUN_LIMIT_SECONDS = 600.0  # any one measured process
SAMPLE_SECONDS = 0.05
MIB = 1024 * 1024


class BenchError(Exception):
    """The benchmark cannot produce a valid figure; the message says why."""


class Stopped(Exception):
    """SIGTERM: clean up and leave."""


# --- measuring one process ------------------------------------------------------------------


@dataclass
class Measured:
    wall_s: float
    cpu_s: float  # user + sys of the process and its waited-for children (wait4)
    maxrss_mib: float  # the largest single process (its VmHWM, sampled)
    tree_peak_mib: float  # the largest sum of VmRSS over the process tree at one sample
    returncode: int
    stdout: str = ""
    stderr: str = ""
    load: float = 0.0  # the 1-minute load average when the run ended


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _sample_tree(pid: int, hwm: dict[int, float]) -> float:
    """Sum of VmRSS over the tree under ``pid`` (MiB); records each process's VmHWM in ``hwm``.

    Not ``ru_maxrss``: a child's ru_maxrss starts from the RSS of the process that forked it
    (Linux keeps the pre-exec high-water mark), so it would report this bench's own size.
    """
    total, todo, seen = 0.0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    hwm[current] = max(hwm.get(current, 0.0), int(line.split()[1]) / 1024)
        todo += _children(current)
    return total


def _output_file(path: Path | None) -> IO[str]:
    return path.open("w") if path else tempfile.TemporaryFile("w+")


def measure(command: Sequence[str], *, stdout_file: Path | None = None) -> Measured:
    """Run one process to its end; wall time, CPU (with children), peak RSS."""
    with contextlib.ExitStack() as stack:
        out_handle = stack.enter_context(_output_file(stdout_file))
        err_handle = stack.enter_context(tempfile.TemporaryFile("w+"))
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out_handle, stderr=err_handle, stdin=subprocess.DEVNULL)
        tree_peak = 0.0
        hwm: dict[int, float] = {}
        next_sample = started
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    wall = time.perf_counter() - started
                    break
                now = time.perf_counter()
                if now >= next_sample:
                    tree_peak = max(tree_peak, _sample_tree(process.pid, hwm))
                    next_sample = now + SAMPLE_SECONDS
                if now - started > RUN_LIMIT_SECONDS:
                    process.kill()
                    raise BenchError(f"{command[0]} took over {RUN_LIMIT_SECONDS:g}s")
                time.sleep(0.005)
        except BaseException:
            with contextlib.suppress(OSError):
                process.kill()
                os.waitpid(process.pid, 0)
            raise
        process.returncode = os.waitstatus_to_exitcode(status)
        out_text = ""
        if stdout_file is None:
            out_handle.seek(0)
            out_text = out_handle.read()
        err_handle.seek(0)
        err_text = err_handle.read()
    return Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        maxrss_mib=max(hwm.values(), default=0.0),
        tree_peak_mib=tree_peak,
        returncode=process.returncode,
        stdout=out_text,
        stderr=err_text,
        load=os.getloadavg()[0],
    )


# --- servers and namespaces -----------------------------------------------------------------


def ensure_tools(names: dict[str, str]) -> None:
    """apt-get install the packages whose command is missing (command -> package)."""
    missing = [package for command, package in names.items() if shutil.which(command) is None]
    if not missing or shutil.which("apt-get") is None:
        return
    print(f"installing with apt-get: {' '.join(missing)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run = subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing], capture_output=True, env=env, check=False
    )
    if run.returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *missing], capture_output=True, env=env, check=False
        )


def ensure_sslyze() -> Path | None:
    sslyze = PEERS_VENV / "bin" / "sslyze"
    if not sslyze.exists():
        print("installing sslyze into .venv-peers (pip)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], capture_output=True, check=False)
        subprocess.run(
            [str(PEERS_VENV / "bin" / "pip"), "install", "-q", "sslyze"], capture_output=True, check=False
        )
    return sslyze if sslyze.exists() else None


@dataclass
class Pki:
    root_pem: Path
    chains: list[tuple[Path, Path]] = field(default_factory=list)  # (leaf + intermediate, key)


def make_pki(directory: Path, hosts: int) -> Pki:
    from cryptography.hazmat.primitives import serialization

    from scanner.lab import LabPKI, LeafKind

    directory.mkdir(parents=True, exist_ok=True)
    pki = LabPKI.generate(datetime.now(UTC))
    result = Pki(directory / "root.pem")
    result.root_pem.write_bytes(pki.public_root.pem)
    for i in range(hosts):
        leaf, chain = pki.leaf(f"bench{i}", LeafKind.PUBLIC_BOTH_EXPIRING)
        cert = directory / f"c{i}.pem"
        key = directory / f"k{i}.pem"
        cert.write_bytes(leaf.pem + b"".join(c.pem for c in chain))
        key.write_bytes(
            leaf.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        result.chains.append((cert, key))
    return result


def nginx_config(directory: Path, pki: Pki, addresses: Sequence[ipaddress.IPv4Address]) -> Path:
    servers = []
    for address, (cert, key) in zip(addresses, pki.chains, strict=False):
        listens = "".join(f"    listen {address}:{port} ssl;\n" for port in LIVE_PORTS)
        servers.append(
            f"  server {{\n{listens}    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
            "    return 204;\n  }\n"
        )
    temp = directory / "tmp"
    temp.mkdir(exist_ok=True)
    config = directory / "nginx.conf"
    config.write_text(
        "daemon off;\nmaster_process on;\nworker_processes auto;\n"
        f"pid {directory}/nginx.pid;\nerror_log {directory}/error.log warn;\n"
        "worker_rlimit_nofile 65536;\nevents { worker_connections 16384; }\n"
        "http {\n  access_log off;\n  ssl_protocols TLSv1.2 TLSv1.3;\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n" + "".join(servers) + "}\n"
    )
    return config


@contextlib.contextmanager
def nginx(config: Path, probe: tuple[str, int], prefix: Sequence[str] = ()) -> Iterator[None]:
    """nginx in the foreground (so its pid is ours to stop), ready when ``probe`` accepts."""
    _raise_fd_limit(70000)
    process = subprocess.Popen(
        [*prefix, "nginx", "-c", str(config), "-p", str(config.parent)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchError(f"nginx exited: {process.stderr.read() if process.stderr else ''}")
            if _accepts(probe, prefix):
                break
            if time.monotonic() > deadline:
                raise BenchError("nginx did not start within 60 s")
            time.sleep(0.2)
        yield
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful stop of the master and its workers
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _accepts(address: tuple[str, int], prefix: Sequence[str]) -> bool:
    if prefix:  # inside a namespace: ask from there
        check = f"import socket; socket.create_connection(({address[0]!r}, {address[1]}), 1).close()"
        return (
            subprocess.run([*prefix, PYTHON, "-c", check], capture_output=True, check=False).returncode == 0
        )
    try:
        socket.create_connection(address, 1).close()
    except OSError:
        return False
    return True


def _raise_fd_limit(need: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


@contextlib.contextmanager
def lossy_namespace(live: Sequence[ipaddress.IPv4Address]) -> Iterator[str]:
    """A namespace with only lo: 50 ms delay each way, and silence for all of NETNS_RANGE but ``live``."""
    name = f"ekubench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        netem = subprocess.run(
            [
                "tc",
                "-n",
                name,
                "qdisc",
                "add",
                "dev",
                "lo",
                "root",
                "netem",
                "delay",
                f"{NETNS_DELAY_MS}ms",
                "limit",
                "100000",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        delay = (
            f"netem {NETNS_DELAY_MS} ms each way"
            if netem.returncode == 0
            else f"NO added delay (tc netem failed: {netem.stderr.strip() or netem.returncode}; "
            "this kernel may lack sch_netem)"
        )
        exe = ["ip", "netns", "exec", name]
        allowed = ", ".join(str(a) for a in live)
        if shutil.which("nft"):
            rules = (
                "table inet ekubench {\n  chain input {\n    type filter hook input priority 0;\n"
                f"    ip daddr {NETNS_RANGE} ip daddr != {{ {allowed} }} drop\n  }}\n}}\n"
            )
            subprocess.run([*exe, "nft", "-f", "-"], input=rules, text=True, check=True)
            how = "nftables"
        else:
            for address in live:
                subprocess.run(
                    [*exe, "iptables", "-A", "INPUT", "-d", str(address), "-j", "ACCEPT"], check=True
                )
            subprocess.run(
                [*exe, "iptables", "-A", "INPUT", "-d", str(NETNS_RANGE), "-j", "DROP"], check=True
            )
            how = "iptables"
        print(
            f"  namespace {name}: lo only, {delay}, {how} drops input to "
            f"{NETNS_RANGE} except {len(live)} addresses",
            flush=True,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


# --- the figures ----------------------------------------------------------------------------


def _spread(values: Sequence[float], fmt: str) -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


@dataclass
class Row:
    name: str
    runs: list[Measured]
    units: int  # endpoints or probes per run
    note: str = ""

    @property
    def rate(self) -> float:
        return statistics.median(self.units / m.wall_s for m in self.runs)

    @property
    def cpu_ms(self) -> float:
        return statistics.median(1000 * m.cpu_s / self.units for m in self.runs)

    def line(self) -> str:
        if not self.runs:
            return f"  {self.name:<34} {self.note}"
        return (
            f"  {self.name:<34} {_spread([self.units / m.wall_s for m in self.runs], '.0f'):<18} "
            f"{_spread([1000 * m.cpu_s / self.units for m in self.runs], '.2f'):<18} "
            f"{_spread([m.maxrss_mib for m in self.runs], '.1f'):<18} "
            f"{_spread([m.tree_peak_mib for m in self.runs], '.1f'):<18} "
            f"{_spread([m.load for m in self.runs], '.1f'):<14} {self.note}"
        )

    @property
    def cpu_s(self) -> float:
        return statistics.median(m.cpu_s for m in self.runs)

    @property
    def wall_s(self) -> float:
        return statistics.median(m.wall_s for m in self.runs)

    @property
    def rss_mib(self) -> float:
        return max(m.maxrss_mib for m in self.runs)


HEADER = (
    f"  {'tool':<34} {'per s (wall)':<18} {'CPU ms each':<18} {'peak RSS MiB':<18} "
    f"{'tree peak MiB':<18} {'load avg':<14} check"
)


def ekuscan(*args: str) -> list[str]:
    return [PYTHON, "-m", "scanner", "scan", *args]


def run_ekuscan(args: Sequence[str], out: Path, expect_ok: int | None, label: str) -> Measured:
    measured = measure(ekuscan(*args, "-o", str(out), "--fail-on", "never", "-q"))
    if measured.returncode != 0:
        raise BenchError(f"{label}: ekuscan exited {measured.returncode}: {measured.stderr[-2000:]}")
    if expect_ok is not None:
        summary = _summary(out)
        ok = summary["by_status"].get("ok", 0)
        if ok != expect_ok:
            raise BenchError(f"{label}: {ok} endpoints ok, expected {expect_ok}: {summary['by_status']}")
    return measured


def _summary(out: Path) -> dict:
    if out.suffix == ".jsonl":
        counts: dict[str, int] = {}
        with out.open() as handle:
            for line in handle:
                status = json.loads(line)["status"]
                counts[status] = counts.get(status, 0) + 1
        return {"by_status": counts}
    summary: dict = json.loads(out.read_text())["summary"]
    return summary


def live_targets(n: int) -> tuple[list[str], list[ipaddress.IPv4Address]]:
    hosts = -(-n // len(LIVE_PORTS))
    addresses = [LIVE_BASE + i for i in range(hosts)]
    full, rest = divmod(n, len(LIVE_PORTS))
    args = [f"{addresses[0]}-{addresses[full - 1]}"] if full else []
    args += [f"{addresses[full]}:{p}" for p in LIVE_PORTS[:rest]]
    return args, addresses


LIVE_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ekuscan (defaults)", ()),
    ("ekuscan --workers 1", ("--workers", "1")),
    ("ekuscan --workers 2", ("--workers", "2")),
)


@dataclass
class Live:
    """Part 1's figures: each ekuscan configuration at N and N/2, and nmap, run round by round."""

    n: int
    rows: dict[str, Row]
    half: dict[str, Row]
    nmap: Row | None
    wall_ratios: dict[str, list[float]]  # per round: ekuscan's wall time / nmap's in the same round
    cpu_ratios: dict[str, list[float]]
    startup_cpu_s: float = 0.0
    peers: list[Row] = field(default_factory=list)

    def marginal_ms(self, label: str) -> float | None:
        """CPU per endpoint from two sizes: (CPU at N - CPU at N/2) / (N - N/2), medians."""
        if label not in self.half:
            return None
        half_n = self.half[label].units
        return 1000 * (self.rows[label].cpu_s - self.half[label].cpu_s) / (self.n - half_n)


def nmap_live_command(addresses: Sequence[ipaddress.IPv4Address]) -> list[str] | None:
    if shutil.which("nmap") is None or len(addresses) > 254:
        return None
    span = f"{addresses[0]}-{str(addresses[-1]).rsplit('.', 1)[1]}"
    return [
        "nmap",
        "-n",
        "-Pn",
        "--script",
        "ssl-cert",
        "-p",
        ",".join(map(str, LIVE_PORTS)),
        span,
        "-oN",
        "-",
    ]


def part_live(
    n: int,
    repeat: int,
    work: Path,
    peers: bool,
    options: Sequence[tuple[str, tuple[str, ...]]] = LIVE_OPTIONS,
    sizes: bool = True,
    with_nmap: bool = True,
) -> Live:
    """Round by round (every configuration once, then nmap), so each ratio compares runs made
    at the same moment, under the same load; medians over the rounds."""
    targets, addresses = live_targets(n)
    half_targets, _ = live_targets(n // 2)
    pki = make_pki(work, len(addresses))
    config = nginx_config(work, pki, addresses)
    ports = ",".join(map(str, LIVE_PORTS))
    common = ["-p", ports, "--public-roots", str(pki.root_pem), "--timeout", "5", "-f", "json"]
    runs: dict[str, list[Measured]] = {label: [] for label, _ in options}
    half_runs: dict[str, list[Measured]] = {label: [] for label, _ in options}
    nmap_runs: list[Measured] = []
    nmap_command = nmap_live_command(addresses) if with_nmap else None
    with nginx(config, (str(addresses[-1]), LIVE_PORTS[0])):
        run_ekuscan([*targets, *common], work / "warm.json", n, "warm-up")  # page cache, nginx state
        for _ in range(repeat):
            for label, extra in options:
                runs[label].append(run_ekuscan([*targets, *common, *extra], work / "out.json", n, label))
                if sizes:
                    half = run_ekuscan([*half_targets, *common, *extra], work / "half.json", n // 2, label)
                    half_runs[label].append(half)
            if nmap_command is not None:
                nmap_runs.append(measure(nmap_command))
        startup = statistics.median(
            measure(ekuscan("127.0.0.1:1", "-f", "json", "-q", "--fail-on", "never")).cpu_s for _ in range(3)
        )
        peer_list = peer_rows(n, addresses, repeat, work) if peers else []
    rows = {label: Row(label, runs[label], n, f"{n}/{n} ok") for label, _ in options}
    half_rows = {
        label: Row(f"{label}, N = {n // 2}", half_runs[label], n // 2)
        for label in half_runs
        if half_runs[label]
    }
    nmap = None
    if nmap_runs:
        found = nmap_runs[-1].stdout.count("Subject: commonName=")
        nmap = Row("nmap --script ssl-cert", nmap_runs, n, f"{found}/{n} certs seen")
    wall = {
        label: [m.wall_s / p.wall_s for m, p in zip(runs[label], nmap_runs, strict=False)] for label in runs
    }
    cpu = {label: [m.cpu_s / p.cpu_s for m, p in zip(runs[label], nmap_runs, strict=False)] for label in runs}
    return Live(n, rows, half_rows, nmap, wall, cpu, startup, peer_list)


def peer_rows(n: int, addresses: Sequence[ipaddress.IPv4Address], repeat: int, work: Path) -> list[Row]:
    """sslscan and sslyze (``--peers all``): slow, for scale; nmap runs in every round of part 1."""
    rows = []
    endpoints = [f"{a}:{p}" for a in addresses for p in LIVE_PORTS][:n]
    target_file = work / "targets.txt"
    target_file.write_text("\n".join(endpoints) + "\n")
    if shutil.which("sslscan"):
        # sslscan checks one endpoint after the other (a few per second here): a sample will do.
        sample = min(n, SSLSCAN_SAMPLE)
        sample_file = work / "sslscan-targets.txt"
        sample_file.write_text("\n".join(endpoints[:sample]) + "\n")
        command = ["sslscan", "--no-ciphersuites", "--no-colour", f"--targets={sample_file}"]
        runs = [measure(command) for _ in range(repeat)]
        found = runs[-1].stdout.count("Subject:")
        rows.append(Row("sslscan --no-ciphersuites", runs, sample, f"{found}/{sample} certs seen (sample)"))
    else:
        rows.append(Row("sslscan --no-ciphersuites", [], n, "not installed"))
    sslyze = ensure_sslyze()
    if sslyze is not None:
        out = work / "sslyze.json"
        command = [str(sslyze), "--certinfo", "--quiet", f"--targets_in={target_file}", f"--json_out={out}"]
        runs = [measure(command) for _ in range(repeat)]
        try:
            results = json.loads(out.read_text())["server_scan_results"]
            found = sum(1 for r in results if r.get("scan_status") == "COMPLETED")
        except (OSError, ValueError, KeyError):
            found = -1
        rows.append(Row("sslyze --certinfo", runs, n, f"{found}/{n} completed"))
    else:
        rows.append(Row("sslyze --certinfo", [], n, "not installed"))
    return rows


REFUSED_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ekuscan (defaults) -f jsonl", ()),
    ("ekuscan --workers 1 -f jsonl", ("--workers", "1")),
)


def part_refused(
    repeat: int,
    work: Path,
    nmap_too: bool,
    sweep: str = REFUSED_SWEEP,
    options: Sequence[tuple[str, tuple[str, ...]]] = REFUSED_OPTIONS,
) -> list[Row]:
    """Round by round, as part 1; nmap -sT once, for scale."""
    probes = ipaddress.ip_network(sweep).num_addresses * 4
    ports = "5061,7001,8443,443"
    runs: dict[str, list[Measured]] = {label: [] for label, _ in options}
    for _ in range(repeat):
        for label, extra in options:
            args = [sweep, "-p", ports, "-f", "jsonl", "--timeout", "5", *extra]
            runs[label].append(run_ekuscan(args, work / "refused.jsonl", None, "refused"))
    closed = _summary(work / "refused.jsonl")["by_status"]  # swept and closed: not listed
    rows = [Row(label, runs[label], probes, f"listed {sum(closed.values())}") for label, _ in options]
    if nmap_too and shutil.which("nmap"):
        nmap = [measure(["nmap", "-n", "-Pn", "-sT", "-p", ports, sweep, "-oN", "/dev/null"])]
        rows.append(Row("nmap -sT (1 run)", nmap, probes))
    return rows


def _check(value: float | None, target: float, at_least: bool) -> str:
    if value is None:
        return "n/a"
    return "yes" if (value >= target if at_least else value <= target) else "NO"


def print_summary(live: Live | None, refused: list[Row], memory: list[Row], loads: list[float]) -> None:
    """Issue 14's targets beside what this run measured (medians; ratios from the same rounds)."""
    print("\nsummary: issue 14's targets (medians of the rounds; ratios against nmap from the same round)")
    lines: list[tuple[str, str, str, str]] = []
    if live is not None:
        default = live.rows["ekuscan (defaults)"]
        rate = default.rate
        lines.append(
            (
                f"{live.n} live endpoints, defaults: endpoints/s",
                f"{rate:.0f}",
                ">= 950",
                _check(rate, 950, True),
            )
        )
        if live.nmap is not None:
            wall = statistics.median(live.wall_ratios[default.name])
            cpu = statistics.median(live.cpu_ratios[default.name])
            lines.append(("  wall time / nmap's", f"{wall:.2f}", "<= 0.55", _check(wall, 0.55, False)))
            lines.append(
                (
                    "  client CPU / nmap's (tree, start-up in)",
                    f"{cpu:.2f}",
                    "<= 0.65",
                    _check(cpu, 0.65, False),
                )
            )
            lines.append(
                ("  nmap: endpoints/s, CPU ms each", f"{live.nmap.rate:.0f}, {live.nmap.cpu_ms:.2f}", "", "")
            )
        lines.append(("  CPU ms per endpoint (whole run)", f"{default.cpu_ms:.2f}", "", ""))
        for label in live.rows:
            marginal = live.marginal_ms(label)
            if marginal is not None:
                target = "<= 0.8" if label == default.name else ""
                check = _check(marginal, 0.8, False) if target else ""
                lines.append(
                    (
                        f"  marginal CPU ms/endpoint {live.n // 2}->{live.n}, {label[8:]}",
                        f"{marginal:.2f}",
                        target,
                        check,
                    )
                )
        lines.append(("  start-up CPU (one closed port)", f"{1000 * live.startup_cpu_s:.0f} ms", "", ""))
        rss = max(row.rss_mib for row in live.rows.values())
        lines.append(
            (f"  peak RSS per process, N = {live.n}", f"{rss:.1f} MiB", "<= 60", _check(rss, 60, False))
        )
    for row in refused:
        if row.runs and row.name.startswith("ekuscan (defaults)"):
            lines.append(
                (
                    f"{row.units} refused probes, defaults: probes/s",
                    f"{row.rate:.0f}",
                    ">= 25000",
                    _check(row.rate, 25000, True),
                )
            )
        elif row.runs:
            lines.append((f"  {row.name}: probes/s", f"{row.rate:.0f}", "", ""))
    lines += [
        (f"peak RSS per process, {row.name}, N = {row.units}", f"{row.rss_mib:.1f} MiB", "flat", "")
        for row in memory
        if row.runs
    ]
    width = max(len(line[0]) for line in lines) if lines else 10
    print(f"  {'figure':<{width}}  {'measured':>14}  {'target':>9}  met")
    for name, value, target, check in lines:
        print(f"  {name:<{width}}  {value:>14}  {target:>9}  {check}")
    print(
        f"  load average while measuring: {min(loads):.2f}-{max(loads):.2f} (1-minute; each row's is above)"
    )


def part_netns(work: Path, repeat: int, concurrency: int) -> None:
    pki = make_pki(work, len(NETNS_LIVE))
    config = nginx_config(work, pki, NETNS_LIVE)
    ports = ",".join(map(str, LIVE_PORTS))
    probes = NETNS_RANGE.num_addresses * len(LIVE_PORTS)
    live = len(NETNS_LIVE) * len(LIVE_PORTS)
    silent = probes - live
    timeout = 1.0
    expected = silent * timeout / concurrency
    with lossy_namespace(NETNS_LIVE) as name:
        exe = ["ip", "netns", "exec", name]
        with nginx(config, (str(NETNS_LIVE[0]), LIVE_PORTS[0]), prefix=exe):
            rows = []
            for _ in range(repeat):
                out = work / "netns.json"
                measured = measure(
                    [
                        *exe,
                        *ekuscan(
                            str(NETNS_RANGE),
                            "-p",
                            ports,
                            "--timeout",
                            str(timeout),
                            "-c",
                            str(concurrency),
                            "-f",
                            "json",
                            "-o",
                            str(out),
                            "--fail-on",
                            "never",
                            "-q",
                        ),
                    ]
                )
                if measured.returncode != 0:
                    raise BenchError(f"netns sweep exited {measured.returncode}: {measured.stderr[-2000:]}")
                statuses = _summary(out)["by_status"]
                rows.append((measured, statuses))
    print(
        f"  {probes} probes ({silent} to silent addresses, {live} live endpoints), --timeout {timeout:g}, "
        f"-c {concurrency}"
    )
    print(
        f"  expected time: silent probes x timeout / concurrency = {silent} x {timeout:g} / {concurrency} "
        f"= {expected:.1f} s"
    )
    for measured, statuses in rows:
        print(
            f"  actual: {measured.wall_s:.1f} s ({measured.wall_s / expected:.2f} x expected), "
            f"live found {statuses.get('ok', 0)}/{live}, statuses {statuses}, "
            f"CPU {measured.cpu_s:.1f} s, peak RSS {measured.maxrss_mib:.1f} MiB"
        )


def _versions() -> str:
    from OpenSSL import SSL

    nginx_version = subprocess.run(
        ["nginx", "-v"], capture_output=True, text=True, check=False
    ).stderr.strip()
    return (
        f"Python {platform.python_version()}; {SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()}; "
        f"{nginx_version.replace('nginx version: ', '')}"
    )


def bench(args: argparse.Namespace) -> int:
    parts = set(args.parts.split(","))
    if os.geteuid() != 0:
        raise BenchError("needs root: nginx on port 443, network namespaces, tc netem")
    started = time.monotonic()
    # A user's install has its bytecode (pip writes it); with this set, every measured run would
    # compile ekuscan's sources again (0.25-0.3 s of CPU a run here). The warm-up run writes it.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    tools = {"nginx": "nginx-light", "nmap": "nmap", "nft": "nftables"}
    if args.peers == "all":
        tools["sslscan"] = "sslscan"
    ensure_tools(tools)
    if shutil.which("nginx") is None:
        raise BenchError("nginx is not installed and apt-get could not install it")
    print(f"ekuscan sweep benchmark (loopback only; whole-process runs; median (min-max) of {args.repeat})")
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(f"versions: {_versions()}")
    loads = [os.getloadavg()[0]]
    live: Live | None = None
    refused: list[Row] = []
    memory: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ekuscan-sweep-bench-") as tmp:
        work = Path(tmp)
        if "live" in parts:
            print(
                f"\n1. live endpoints: nginx, N = {args.n} ({args.n // 4} addresses x 4 ports), "
                "ECDSA P-256 leaf + intermediate; client = the scanning process and its workers; "
                f"each round runs every row once (and N = {args.n // 2} for the marginal CPU)"
            )
            live = part_live(args.n, args.repeat, work / "live", args.peers == "all")
            print(HEADER)
            for row in [
                *live.rows.values(),
                *live.half.values(),
                *([live.nmap] if live.nmap else []),
                *live.peers,
            ]:
                print(row.line())
                loads += [m.load for m in row.runs]
            print(
                f"  (ekuscan's start-up, a scan of one closed port: {1000 * live.startup_cpu_s:.0f} ms CPU, "
                "included above)"
            )
        if "refused" in parts:
            probes = ipaddress.ip_network(REFUSED_SWEEP).num_addresses * 4
            print(
                f"\n2. refused probes: {REFUSED_SWEEP} x 4 ports = {probes} probes, nothing listens, -f jsonl"
            )
            refused = part_refused(args.repeat, work, nmap_too=True)
            print(HEADER.replace("per s (wall)", "probes/s (wall)"))
            for row in refused:
                print(row.line())
                loads += [m.load for m in row.runs]
        if "memory" in parts:
            print(
                "\n3. memory with N (RSS of the largest process / of the tree), ekuscan defaults, 1 run each"
            )
            (work / "m").mkdir(exist_ok=True)
            big = part_live(args.big_n, 1, work / "m", False, LIVE_OPTIONS[:1], sizes=False, with_nmap=False)
            memory = [Row(f"{row.name} live", row.runs, row.units, row.note) for row in big.rows.values()]
            memory += part_refused(1, work, False, REFUSED_BIG_SWEEP, REFUSED_OPTIONS[:1])
            print(HEADER.replace("tool", "N live or refused"))
            for row in memory:
                print(row.line())
                loads += [m.load for m in row.runs]
        if "netns" in parts:
            print(f"\n4. latency and silence: {NETNS_RANGE} x 4 ports in a namespace of its own")
            (work / "n").mkdir(exist_ok=True)
            part_netns(work / "n", 1, args.concurrency)
    loads.append(os.getloadavg()[0])
    print_summary(live, refused, memory, loads)
    print(
        f"\ntotal bench time {time.monotonic() - started:.0f} s; load average at end "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds per figure (median reported)")
    parser.add_argument("--n", type=int, default=1000, help="live endpoints in part 1")
    parser.add_argument("--big-n", type=int, default=10000, help="live endpoints in part 2")
    parser.add_argument("--concurrency", type=int, default=512, help="-c for the namespace sweep")
    parser.add_argument("--parts", default="live,refused,memory", help="live,refused,memory,netns")
    parser.add_argument(
        "--peers", choices=("nmap", "all"), default="nmap", help="all: sslscan and sslyze too (minutes more)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 20 or not 8 <= args.n <= 1000 or not 4 <= args.big_n <= 40000:
        parser.error("--repeat 1..20, --n 8..1000 (one nginx range of addresses), --big-n 4..40000")

    def stop(signum: int, frame: object) -> None:
        raise Stopped

    signal.signal(signal.SIGTERM, stop)
    try:
        return bench(args)
    except BenchError as exc:
        print(f"bench_sweep: FAILED: {exc}", file=sys.stderr)
        return 3
    except (KeyboardInterrupt, Stopped):
        print("bench_sweep: interrupted; servers and namespaces cleaned up", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
