"""Reading discovery output: how fast each format is read, and what memory it costs.

Writes masscan (-oL, -oJ), nmap (-oX, -oG) and zmap (saddr,sport) files of a given number of
records over 10.0.0.0/8 into a temporary directory (nothing is scanned: the files are made
up, in the tools' formats), then reads each in a fresh process the way ``ekuscan scan -i``
does (``app.inputs.target_specs``: sniff, read, merge, sort) and prints the wall time, records
per second and the process's peak RSS (``VmHWM``). ``--open-share`` makes most records noise
(banners, closed ports), which must cost time but no memory.

    .venv/bin/python bench/bench_discovery.py --records 1000000
    .venv/bin/python bench/bench_discovery.py --records 1000000 --open-share 0.001
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

READ = """
import sys, time
from pathlib import Path
from scanner.app.inputs import target_specs
started = time.perf_counter()
specs = target_specs([], Path(sys.argv[1]), (443,), None, None)
elapsed = time.perf_counter() - started
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(elapsed, len(specs), sum(len(s.ports) for s in specs), peak)
"""

Record = tuple[str, int, bool]  # address, port, open


def records(count: int, open_share: float, seed: int = 12) -> Iterator[Record]:
    rng = random.Random(seed)
    for _ in range(count):
        address = str(ipaddress.IPv4Address(0x0A000000 + rng.randrange(2**24)))
        yield address, rng.choice((443, 5061, 7001, 8443)), rng.random() < open_share


def masscan_list(items: Iterator[Record]) -> Iterator[str]:
    yield "#masscan\n"
    for address, port, is_open in items:
        if is_open:
            yield f"open tcp {port} {address} 1772532722\n"
        else:
            yield f"banner tcp {port} {address} 1772532722 ssl TLS/1.2 cipher:0xc02f, host.example.com\n"
    yield "# end\n"


def masscan_json(items: Iterator[Record]) -> Iterator[str]:
    yield "[\n"
    for n, (address, port, is_open) in enumerate(items):
        status = "open" if is_open else "closed"
        entry = {"port": port, "proto": "tcp", "status": status, "reason": "syn-ack", "ttl": 52}
        record = {"ip": address, "timestamp": "1772532722", "ports": [entry]}
        yield ("" if n == 0 else ",\n") + json.dumps(record) + "\n"
    yield "]\n"


def nmap_xml(items: Iterator[Record]) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    yield '<nmaprun scanner="nmap" version="7.94">\n'
    for address, port, is_open in items:
        state = "open" if is_open else "closed"
        yield (
            f'<host><status state="up" reason="syn-ack" reason_ttl="52"/>\n'
            f'<address addr="{address}" addrtype="ipv4"/>\n<hostnames>\n'
            f'<hostname name="h{address.replace(".", "-")}.example.com" type="PTR"/>\n</hostnames>\n'
            f'<ports><port protocol="tcp" portid="{port}"><state state="{state}" reason="syn-ack" '
            f'reason_ttl="52"/><service name="https" method="table" conf="3"/></port>\n</ports>\n'
            '<times srtt="400" rttvar="200" to="100000"/>\n</host>\n'
        )
    yield '<runstats><finished time="1772532725" elapsed="4"/><hosts up="1" total="1"/></runstats>\n'
    yield "</nmaprun>\n"


def nmap_grepable(items: Iterator[Record]) -> Iterator[str]:
    yield "# Nmap 7.94 scan initiated Tue Mar  3 10:12:01 2026 as: nmap -oG - 10.0.0.0/8\n"
    for address, port, is_open in items:
        state = "open" if is_open else "closed"
        yield f"Host: {address} ()\tStatus: Up\n"
        yield f"Host: {address} ()\tPorts: {port}/{state}/tcp//https///\tIgnored State: closed (3)\n"
    yield "# Nmap done at Tue Mar  3 10:12:09 2026 -- 16777216 IP addresses scanned\n"


def zmap_csv(items: Iterator[Record]) -> Iterator[str]:
    yield "saddr,sport,classification,success\n"
    for address, port, is_open in items:
        yield f"{address},{port},{'synack,1' if is_open else 'rst,0'}\n"


FORMATS: dict[str, Callable[[Iterator[Record]], Iterator[str]]] = {
    "masscan -oL": masscan_list,
    "masscan -oJ": masscan_json,
    "nmap -oX": nmap_xml,
    "nmap -oG": nmap_grepable,
    "zmap csv": zmap_csv,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--open-share", type=float, default=1.0, help="share of records that are open")
    args = parser.parse_args()
    print(f"{args.records:,} records each, {args.open_share:.1%} of them open TCP ports")
    print(
        f"{'format':<13} {'file MB':>8} {'seconds':>8} {'records/s':>10} {'hosts':>9} {'ports':>9} "
        f"{'peak MiB':>9}"
    )
    with tempfile.TemporaryDirectory() as directory:
        empty = Path(directory) / "empty"
        empty.write_text("#masscan\n# end\n")
        print(f"{'(no records)':<13} {'':>8} {'':>8} {'':>10} {'':>9} {'':>9} {read(empty)[3] / 1024:>9.1f}")
        for name, write in FORMATS.items():
            path = Path(directory) / name.replace(" ", "")
            with path.open("w") as handle:
                handle.writelines(write(records(args.records, args.open_share)))
            seconds, hosts, ports, peak_kib = read(path)
            size = path.stat().st_size / 1e6
            print(
                f"{name:<13} {size:>8.0f} {seconds:>8.2f} {args.records / seconds:>10,.0f} {hosts:>9,} "
                f"{ports:>9,} {peak_kib / 1024:>9.1f}"
            )
            path.unlink()


def read(path: Path) -> tuple[float, int, int, int]:
    """Seconds to read the file, hosts and ports found, peak RSS in KiB: in a process of its own."""
    result = subprocess.run(
        [sys.executable, "-c", READ, str(path)], capture_output=True, text=True, check=True
    )
    seconds, hosts, ports, peak_kib = result.stdout.split()
    return float(seconds), int(hosts), int(ports), int(peak_kib)


if __name__ == "__main__":
    main()
