"""Sweeping at scale: worker processes, shards, rate and per-host caps, retries, stopping.

Caps are counted on the server side, by loopback servers the tests start. Nothing is timed
against a threshold of speed: where time appears, it is an upper bound that a slower
machine only makes easier to meet (a cap holds), or a generous limit on a hang.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import trio

from scanner.core.targets import expand, parse_target
from scanner.edge.net import ProbeConfig
from scanner.edge.pool import PoolConfig, backoff_seconds
from scanner.edge.progress import Progress, progress_line
from scanner.model import Status
from tests.addresses import LAB_SWEEP, POOL
from tests.netutil import endpoint, scan_endpoints, serve
from tests.watch import progress_done, start_on_terminal

AT = "2027-01-15"  # a fixed evaluation date, so that runs can be compared field by field
SWEEP = LAB_SWEEP  # the test lab's hosts, and closed addresses around them
SWEEP_SIZE = ipaddress.ip_network(SWEEP).num_addresses


def ekuscan_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "scanner", *args]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ekuscan_cmd(*args),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture(scope="module")
def lab_args(lab, tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("sweep") / "root.pem"
    root.write_bytes(lab.pki.public_root.pem)
    return ["--public-roots", str(root), "--at", AT, "--timeout", "1", "--fail-on", "never"]


def without_durations(document: dict) -> dict:
    document = json.loads(json.dumps(document))
    document.pop("started_at")
    document["summary"].pop("duration_s", None)
    for e in document["endpoints"]:
        e.pop("duration_ms", None)
    return document


# --- workers --------------------------------------------------------------------------------


@pytest.mark.slow
def test_workers_give_the_same_inventory_as_one_process(lab, lab_args, tmp_path):
    """One process, forked workers (the default where it is safe) and spawned interpreters."""
    outputs = {}
    for workers, start in ((1, "fork"), (2, "fork"), (3, "fork"), (2, "spawn"), (3, "spawn")):
        out = tmp_path / f"w{workers}{start}.json"
        env = {"EKUSCAN_WORKER_START": start}
        result = run("scan", SWEEP, *lab_args, "--workers", str(workers), "-o", str(out), env=env)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # not a terminal: no progress line
        outputs[workers, start] = without_durations(json.loads(out.read_text()))
    one = outputs[1, "fork"]
    assert one["summary"]["probes"] == 64 * 4
    assert one["summary"]["by_status"]["ok"] >= 10
    for key, document in outputs.items():
        assert document == one, key
    # Workers judge hosts whole too: roles inferred from banners and listeners, releases read.
    inferred = {h["product"] for h in one["hosts"] if h["role_source"] == "inferred"}
    assert {"expressway-e", "cucm", "cube"} <= inferred


@pytest.mark.slow
def test_workers_give_the_same_output_in_every_format(lab, lab_args, tmp_path):
    """Workers render their hosts with the writer's renderer (JSON, JSONL, Prometheus) and send
    the rest as reports (CSV, the table); with --show-all a host's closed ports are in its
    package. Each output is the one process's, byte for byte apart from times."""

    def timeless(fmt: str, text: str) -> str:
        if fmt == "prometheus":  # the run's time and duration, and each probe's
            return "\n".join(
                line for line in text.splitlines() if "duration" not in line and "_timestamp" not in line
            )
        if fmt == "csv":
            return re.sub(r",\d+\.\d,", ",D,", text)  # duration_ms
        document = without_durations(json.loads(text))
        return json.dumps(document, sort_keys=True)

    for fmt, extra in (("json", ["--show-all"]), ("prometheus", []), ("csv", []), ("table", [])):
        texts = {}
        for workers in (1, 2):
            out = tmp_path / f"w{workers}.{fmt}"
            result = run(
                "scan", SWEEP, *lab_args, "--workers", str(workers), "-f", fmt, "-o", str(out), *extra
            )
            assert result.returncode == 0, result.stderr
            texts[workers] = out.read_text()
        if fmt == "table":
            texts = {
                k: re.sub(r"\d+(\.\d+)?\s*s\b|\d{4}-\d\d-\d\dT[\d:]+Z", "T", v) for k, v in texts.items()
            }
        else:
            texts = {k: timeless(fmt, v) for k, v in texts.items()}
        assert texts[2] == texts[1], fmt


def test_workers_use_the_policy_given(lab, lab_args, tmp_path):
    """--policy FILE reaches the worker processes: a policy without client links shows none."""
    document = json.loads(run("policy", "show").stdout)
    document["links"] = [link for link in document["links"] if link["uses"] == "server"]
    policy = tmp_path / "servers-only.json"
    policy.write_text(json.dumps(document))
    for workers in ("1", "2"):
        result = run("scan", SWEEP, *lab_args, "-f", "jsonl", "--workers", workers, "--policy", str(policy))
        assert result.returncode == 0, result.stderr
        uses = {link["uses"] for line in result.stdout.splitlines() for link in json.loads(line)["links"]}
        assert uses == {"server"}, workers


def test_workers_stream_jsonl_in_target_order(lab, lab_args):
    lines = {}
    for workers in (1, 2):
        result = run("scan", SWEEP, *lab_args, "-f", "jsonl", "--workers", str(workers))
        assert result.returncode == 0, result.stderr
        lines[workers] = [json.loads(line) for line in result.stdout.splitlines()]
        for line in lines[workers]:
            line.pop("duration_ms", None)
    assert lines[2] == lines[1]
    order = [(tuple(map(int, e["ip"].split("."))), e["port"]) for e in lines[1]]
    position = {port: i for i, port in enumerate((5061, 7001, 8443, 443))}
    assert order == sorted(order, key=lambda k: (k[0], position.get(k[1], 9)))


# --- shards ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_shards_together_cover_the_whole_sweep_once(lab, lab_args):
    def endpoints(*extra: str) -> tuple[list[tuple[str, int]], int]:
        result = run("scan", SWEEP, *lab_args, "-f", "json", "--show-all", *extra)
        assert result.returncode == 0, result.stderr
        document = json.loads(result.stdout)
        return [(e["ip"], e["port"]) for e in document["endpoints"]], document["summary"]["probes"]

    whole, whole_probes = endpoints()
    parts = [endpoints("--shard", f"{k}/3", "--workers", str(k)) for k in (1, 2, 3)]
    assert sum(probes for _, probes in parts) == whole_probes == 256
    together = [e for part, _ in parts for e in part]
    assert sorted(together) == sorted(whole) and len(set(together)) == len(together)
    assert all(part for part, _ in parts)


# --- caps, counted by the server ------------------------------------------------------------


class Counter:
    """A TCP server's view: when each connection arrived, and how many were open at once."""

    def __init__(self, hold: float) -> None:
        self.hold = hold
        self.arrivals: list[float] = []
        self.open = 0
        self.most_open = 0

    async def handler(self, stream: trio.SocketStream) -> None:
        self.arrivals.append(trio.current_time())
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await trio.sleep(self.hold)  # then close: the probe sees a TLS failure, fine here
        finally:
            self.open -= 1
            await stream.aclose()


def most_in_any_window(arrivals: list[float], length: float) -> int:
    arrivals = sorted(arrivals)
    best, start = 0, 0
    for end, t in enumerate(arrivals):
        while t - arrivals[start] > length:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_rate_cap_holds_at_the_server(nursery):
    counter = Counter(hold=0)
    ports = [await serve(nursery, counter.handler, host=str(POOL[1])) for _ in range(6)]
    endpoints = [endpoint(str(POOL[1]), p) for p in ports for _ in range(5)]  # 30 connections
    config = PoolConfig(concurrency=64, rate=20.0, probe=ProbeConfig(connect_timeout=2, timeout=2))
    observations = await _collect(endpoints, config)
    assert len(observations) == 30 and len(counter.arrivals) == 30
    # A token bucket of burst 1: at most 1 + 20 * t connections in any t seconds.
    for length in (0.1, 0.25, 0.5, 1.0):
        assert most_in_any_window(counter.arrivals, length) <= 1 + 20 * length + 1  # +1: clock skew
    assert max(counter.arrivals) - min(counter.arrivals) >= 29 / 20 * 0.9


@pytest.mark.parametrize("cap", [1, 2])
async def test_per_host_cap_holds_at_the_server(nursery, cap):
    counter = Counter(hold=0.2)
    ports = [await serve(nursery, counter.handler, host=str(POOL[2])) for _ in range(8)]
    other = Counter(hold=0.2)
    other_ports = [await serve(nursery, other.handler, host=str(POOL[3])) for _ in range(8)]
    endpoints = [endpoint(str(POOL[2]), p) for p in ports] + [endpoint(str(POOL[3]), p) for p in other_ports]
    config = PoolConfig(concurrency=64, max_per_host=cap, probe=ProbeConfig(connect_timeout=2, timeout=2))
    observations = await _collect(endpoints, config)
    assert len(observations) == 16
    assert counter.most_open == cap and other.most_open == cap  # each host alone, both at once
    assert len(counter.arrivals) == len(other.arrivals) == 8


async def test_without_a_per_host_cap_connections_overlap(nursery):
    # The control for the test above: the servers do see parallel connections when allowed.
    counter = Counter(hold=0.2)
    ports = [await serve(nursery, counter.handler, host=str(POOL[4])) for _ in range(8)]
    await _collect([endpoint(str(POOL[4]), p) for p in ports], PoolConfig(concurrency=64))
    assert counter.most_open > 2


@pytest.mark.slow
async def test_rate_is_shared_by_the_worker_processes(nursery, tmp_path):
    counter = Counter(hold=0)
    ports = [await serve(nursery, counter.handler, host=str(POOL[10 + i]), port=9443) for i in range(40)]
    assert set(ports) == {9443}
    result = await trio.run_process(
        ekuscan_cmd(
            "scan",
            f"{POOL[10]}-{POOL[49]}",
            "-p",
            "9443",
            "--rate",
            "30",
            "--workers",
            "2",
            "--timeout",
            "2",
            "-f",
            "json",
            "--fail-on",
            "never",
        ),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["probes"] == 40
    assert len(counter.arrivals) == 40
    # Two workers at 15/s each, each a bucket of burst 1: at most 2 + 30 t in t seconds.
    for length in (0.25, 0.5, 1.0):
        assert most_in_any_window(counter.arrivals, length) <= 2 + 30 * length + 1


async def _collect(endpoints, config):
    send, receive = trio.open_memory_channel(0)
    with trio.fail_after(60):
        async with trio.open_nursery() as inner:
            inner.start_soon(scan_endpoints, endpoints, config, send)
            async with receive:
                return [o async for o in receive]


# --- retries --------------------------------------------------------------------------------


async def test_timeouts_are_retried_with_backoff(nursery):
    counter = Counter(hold=5)  # accepts, never answers the ClientHello
    port = await serve(nursery, counter.handler, host=str(POOL[5]))
    config = PoolConfig(retries=2, probe=ProbeConfig(connect_timeout=1, timeout=0.2))
    [observation] = await _collect([endpoint(str(POOL[5]), port)], config)
    assert observation.status is Status.TIMEOUT and "(3 attempts)" in (observation.error or "")
    assert len(counter.arrivals) == 3
    gaps = [b - a for a, b in zip(counter.arrivals, counter.arrivals[1:], strict=False)]
    assert gaps[0] >= 0.2 + backoff_seconds(1) * 0.9 and gaps[1] >= 0.2 + backoff_seconds(2) * 0.9


async def test_refused_connections_are_not_retried():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [observation] = await _collect([endpoint("127.0.0.1", port)], PoolConfig(retries=3))
    assert observation.status is Status.CLOSED and "attempts" not in (observation.error or "")


def test_backoff_doubles_and_is_capped():
    assert [backoff_seconds(n) for n in (1, 2, 3, 4, 10)] == [0.5, 1.0, 2.0, 4.0, 8.0]


# --- DNS ------------------------------------------------------------------------------------


async def test_first_address_only(nursery):
    counter = Counter(hold=0)
    port = await serve(nursery, counter.handler, host="127.0.0.1")
    every = await _collect(list(expand([parse_target(f"localhost:{port}")])), PoolConfig())
    first = await _collect(
        list(expand([parse_target(f"localhost:{port}")])), PoolConfig(first_address_only=True)
    )
    assert len(first) == 1 and first[0].endpoint.ip == every[0].endpoint.ip
    assert len(every) == len(socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM))


# --- usage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["10.0.0.0/11"], "2097152 addresses"),
        (["fd00::/100"], "the limit is"),
        (["127.0.0.1", "--shard", "4/3"], "bad shard"),
        (["127.0.0.1", "--workers", "0"], "--workers"),
        (["127.0.0.1", "--rate", "0"], "--rate"),
    ],
)
def test_sweep_usage_errors_are_one_line(args, needle):
    result = run("scan", *args)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_low_open_file_limit_is_said_clearly():
    import resource

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        ekuscan_cmd("scan", f"127.0.0.1:{port}", "-c", "512", "-f", "json"),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=low_limit,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "open-file limit allows only 36 connections" in result.stderr and "ulimit -n" in result.stderr


# --- stopping: Ctrl-C and SIGTERM with workers, and no orphan --------------------------------


def _processes_marked(mark: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"EKUSCAN_TEST_MARK={mark}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _wait_until_gone(mark: str, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _processes_marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def silent_listeners():
    """Addresses that accept TCP (the kernel does, from the backlog) and never say a word."""
    sockets = []
    for i in range(12):
        s = socket.socket()
        s.bind((str(POOL[100 + i]), 5061))
        s.listen(64)
        sockets.append(s)
    yield f"{POOL[100]}-{POOL[111]}"
    for s in sockets:
        s.close()


def _sweep_argv(silent: str, lab_args: list[str], *extra: str) -> list[str]:
    return ekuscan_cmd(
        "scan", SWEEP, silent, *lab_args, "-p", "5061", "--timeout", "30", "--workers", "3", *extra
    )


def _start_sweep(mark: str, silent: str, lab_args: list[str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _sweep_argv(silent, lab_args, *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "EKUSCAN_TEST_MARK": mark},
    )


def _workers_of(parent: int, mark: str) -> list[int]:
    """The worker processes ``parent`` started.

    Not every marked process: trio's import runs ``ldconfig -p`` (``ctypes.util.find_library``),
    and until that child execs, /proc shows it with its parent's environment and command line.
    A forked worker keeps that command line too, but names itself ``ekuscan-w<N>`` (its comm).
    """
    workers = []
    for pid in _processes_marked(mark):
        try:
            ppid = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
            comm = (Path("/proc") / str(pid) / "comm").read_text().strip()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and (b"scanner.edge.workers" in argv or comm.startswith("ekuscan-w")):
            workers.append(pid)
    return workers


def _wait_for_workers(proc: subprocess.Popen[str], mark: str, count: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while len(found := _workers_of(proc.pid, mark)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return len(found)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "code", "fmt"),
    [(signal.SIGINT, 130, "json"), (signal.SIGTERM, 143, "json"), (signal.SIGINT, 130, "csv")],
    ids=["SIGINT", "SIGTERM", "SIGINT-csv"],
)
def test_stopping_a_sweep_with_workers_leaves_valid_output_and_no_orphan(
    lab, lab_args, silent_listeners, tmp_path, sig, code, fmt
):
    mark = uuid.uuid4().hex
    out = tmp_path / f"partial.{fmt}"
    env = {**os.environ, "EKUSCAN_TEST_MARK": mark}
    proc, terminal = start_on_terminal(_sweep_argv(silent_listeners, lab_args, "-o", str(out)), env)
    try:
        assert _wait_for_workers(proc, mark, 2, 20) == 2  # --workers 3: this process and two more
        # The progress line says when most of the lab's block is done (a few lab services take
        # their time; which ones varies); the silent addresses hold every share for 30 s.
        assert progress_done(terminal, SWEEP_SIZE * 3 // 4, 60), terminal.text(0)
        stopped_at = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=20)
        took = time.monotonic() - stopped_at
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == code, terminal.text()
    assert took < 5  # about a second; the rest is slack for a loaded machine (the silent probes hold 30 s)
    if fmt == "json":
        document = json.loads(out.read_text())
        assert document["summary"]["probes"] >= 1
        statuses = {e["status"] for e in document["endpoints"]}
    else:
        import csv

        from scanner.writers.csv import COLUMNS

        rows = list(csv.reader(out.read_text().splitlines()))
        assert tuple(rows[0]) == COLUMNS and all(len(row) == len(COLUMNS) for row in rows)
        statuses = {row[COLUMNS.index("status")] for row in rows[1:]}
    assert statuses and statuses <= {"ok", "timeout", "no-tls", "tls-error"}
    assert _wait_until_gone(mark, 5) == []


@pytest.mark.slow
def test_workers_do_not_outlive_a_killed_parent(lab, lab_args, silent_listeners):
    mark = uuid.uuid4().hex
    proc = _start_sweep(mark, silent_listeners, lab_args, "-f", "json")
    try:
        assert _wait_for_workers(proc, mark, 2, 20) == 2
        proc.kill()  # no chance to clean up: the workers must notice on their own
        proc.wait(10)
        assert _wait_until_gone(mark, 5) == []
    finally:
        proc.kill()
        proc.communicate()


# --- progress -------------------------------------------------------------------------------


def test_progress_line():
    assert progress_line(0, 1000, 0, 0.0) == "0/1000 probes (0.0%), 0 live, 0/s"
    assert progress_line(250, 1000, 3, 0.5) == "250/1000 probes (25.0%), 3 live, 500/s, ETA 2s"
    assert progress_line(1000, 262144, 0, 0.2, approximate=True).startswith("1000/~262144 probes")
    assert progress_line(10, 5, 1, 1.0) == "10/10 probes (100.0%), 1 live, 10/s"  # total was low
    assert "ETA 1h05m" in progress_line(1, 3901, 0, 1.0)


def test_progress_redraws_a_few_times_a_second_and_erases_itself():
    import io

    from tests.factories import observation

    now = [0.0]
    out = io.StringIO()
    progress = Progress(out, 100, clock=lambda: now[0])
    report = _report(observation())
    progress.update(report)
    assert out.getvalue() == ""  # nothing in the first second: a short sweep shows no line
    now[0] = 1.0
    for _ in range(10):
        progress.update(report)
        now[0] += 0.01
    assert out.getvalue().count("\r") == 1  # 10 updates within 0.1 s: drawn once
    now[0] += 1
    progress.update(report)
    assert out.getvalue().count("probes") == 2 and "12/100 probes" in out.getvalue()
    progress.close()
    assert out.getvalue().endswith("\r" + " " * len("ekuscan: " + progress_line(12, 100, 12, 2.1)) + "\r")


def _report(obs):
    from scanner.core.analysis import analyze
    from tests.conftest import context

    return analyze(obs, context())


# --- a polite goodbye -----------------------------------------------------------------------


class GoodbyeWatcher:
    """A TLS server that records how each client left: close_notify, FIN, or a reset."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.endings: list[str] = []
        self.changed = trio.Event()

    async def handler(self, stream: trio.SocketStream) -> None:
        from OpenSSL import SSL

        conn = SSL.Connection(self.ctx, None)
        conn.set_accept_state()
        ending = "timeout"
        with trio.move_on_after(5):
            try:
                while True:
                    try:
                        conn.do_handshake()
                        break
                    except SSL.WantReadError:
                        await stream.send_all(_pending(conn))
                        conn.bio_write(await stream.receive_some(65536) or b"\x15")
                await stream.send_all(_pending(conn))  # our Finished and session tickets
                while True:
                    try:
                        conn.recv(65536)
                    except SSL.WantReadError:
                        data = await stream.receive_some(65536)
                        if not data:
                            ending = "fin without close_notify"
                            break
                        conn.bio_write(data)
                    except SSL.ZeroReturnError:
                        rest = await stream.receive_some(65536)
                        ending = "close_notify, fin" if rest == b"" else "close_notify, then data"
                        break
            except (trio.BrokenResourceError, ConnectionResetError):
                ending = "reset"
            except SSL.Error as exc:
                ending = f"tls error {exc}"
        self.endings.append(ending)
        self.changed.set()
        await stream.aclose()


def _pending(conn) -> bytes:
    from OpenSSL import SSL

    try:
        return conn.bio_read(65536)
    except SSL.WantReadError:
        return b""


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
async def test_a_probe_ends_with_close_notify_and_fin_not_a_reset(nursery, version):
    from OpenSSL import SSL

    from scanner.lab import LabPKI
    from tests.factories import SA
    from tests.netutil import context_for, lab_leaf

    pki = LabPKI.generate(__import__("datetime").datetime.now(__import__("datetime").UTC))
    ctx = context_for(pki, lab_leaf(pki, eku=[SA]), [pki.private_ca])
    if version == "TLSv1.2":
        ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
    watcher = GoodbyeWatcher(ctx)
    port = await serve(nursery, watcher.handler, host=str(POOL[6]))
    observations = await _collect([endpoint(str(POOL[6]), port)] * 5, PoolConfig())
    assert [o.tls_version for o in observations] == [version] * 5
    with trio.fail_after(5):
        while len(watcher.endings) < 5:
            await watcher.changed.wait()
            watcher.changed = trio.Event()
    assert watcher.endings == ["close_notify, fin"] * 5, watcher.endings


@pytest.mark.parametrize("quiet", [False, True], ids=["terminal", "quiet"])
def test_progress_on_a_terminal_only_without_quiet(silent_listeners, quiet):
    import pty

    controller, terminal = pty.openpty()
    try:
        args = [f"{POOL[100]}:5061", "--timeout", "1.5", "-f", "json", "--fail-on", "never"]
        result = subprocess.run(
            ekuscan_cmd("scan", *args, *(["-q"] if quiet else [])),
            stdout=subprocess.PIPE,
            stderr=terminal,
            timeout=60,
            check=False,
        )
        os.close(terminal)
        terminal = -1
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
        if terminal >= 0:
            os.close(terminal)
    assert result.returncode == 0
    assert json.loads(result.stdout)["summary"]["probes"] == 1
    if quiet:
        assert shown == b""
    else:
        # Drawn while the silent probe waits (the rate and ETA move on), then erased at the end.
        assert shown.startswith(b"\rekuscan: 0/1 probes (0.0%), 0 live, 0/s")
        assert shown.endswith(b" \r")
