"""Discovery output as targets: what a ``-i`` file holds, and the open TCP ports masscan, zmap, nmap found.

``ekuscan scan -i FILE`` reads a target CSV, or the output of the tools built for discovery:
nmap XML (``-oX``, masscan's ``-oX`` too) and greppable (``-oG``, masscan's too), masscan list
(``-oL``) and JSON (``-oJ``), and zmap CSV (``-f saddr,sport``). ``sniff`` tells them apart by
content, never by file name. Each reader is a generator over the file's lines that yields one
``Found`` per record as it reads, so a discovery file of millions of lines (a /8 at line rate)
costs memory for the open ports it names, not for its banners, closed ports or length. Nothing
here does I/O: the readers take lines, whoever opened the file.

The formats, as the tools write them (sources: masscan ``src/out-text.c``, ``out-json.c``,
``out-grepable.c``, ``out-xml.c``; nmap ``output.cc``, ``docs/nmap.dtd``; zmap
``src/output_modules/module_csv.c``): only records of an *open* port over *TCP* count; masscan's
banner records, nmap's closed and filtered ports, UDP and SCTP are skipped; zmap rows are its
successful SYN-ACKs (its default output filter; a ``success`` or ``classification`` column, when
present, is honoured).
"""

from __future__ import annotations

import csv
import enum
import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain

from scanner.core.discovered import Found, address_of, discovery_error, port_of
from scanner.core.nmap_xml import read_nmap_xml
from scanner.core.targets import CSV_COLUMNS, SpecKind, TargetError, TargetSpec, normalise_name
from scanner.model import Role


class InputFormat(enum.StrEnum):
    """What a ``-i`` file holds, as sniffed from its first lines."""

    TARGET_CSV = "target CSV"
    NMAP_XML = "nmap XML (-oX)"
    GREPABLE = "greppable output (-oG)"
    MASSCAN_LIST = "masscan list (-oL)"
    MASSCAN_JSON = "masscan JSON (-oJ)"
    ZMAP_CSV = "zmap CSV"

    @property
    def names_hosts(self) -> bool:
        """Whether the tool writes a host name beside the address (only nmap does)."""
        return self in (InputFormat.NMAP_XML, InputFormat.GREPABLE)


EXPECTED = (
    f"a target CSV (header {','.join(CSV_COLUMNS)}), or the output of nmap (-oX, -oG), "
    "masscan (-oL, -oJ, -oX, -oG) or zmap (-O csv -f saddr,sport)"
)
_GREPABLE_HEADER = re.compile(r"^# (Nmap|Masscan) \S+ scan initiated ")
_MASSCAN_LINE = re.compile(r"^(open|closed|unknown|up|banner) (tcp|udp|sctp|icmp|arp|err) \d+ ")
_NMAP_NORMAL = ("Starting Nmap ", "Nmap scan report for ", "Nmap done: ", "PORT ")


def sniff(lines: Iterable[str], source: str) -> tuple[InputFormat, Iterator[str]]:
    """The file's format, and all its lines again (those read to decide included).

    The first line that is not blank and not a target CSV's ``#`` comment decides. A file of
    comments only is a target CSV (which then says it is empty).
    """
    remaining = iter(lines)
    head: list[str] = []
    for number, line in enumerate(remaining, start=1):
        head.append(line)
        text = line.strip()
        if not text:
            continue
        found = _format_of(text, source, number)
        if found is not None:
            return found, chain(head, remaining)
    return InputFormat.TARGET_CSV, chain(head, remaining)


def _format_of(text: str, source: str, number: int) -> InputFormat | None:
    if text.startswith("<"):
        return InputFormat.NMAP_XML
    if text.startswith(("[", "{")):
        return InputFormat.MASSCAN_JSON
    if text.startswith("#masscan"):
        return InputFormat.MASSCAN_LIST
    if _GREPABLE_HEADER.match(text) or text.startswith(("Host: ", "Timestamp: ")):
        return InputFormat.GREPABLE
    if text.startswith("#"):
        return None  # a comment of a target CSV
    if _MASSCAN_LINE.match(text):
        return InputFormat.MASSCAN_LIST  # masscan -oL lines without the header (grep open scan.txt)
    if text.startswith(_NMAP_NORMAL):
        raise discovery_error(
            source, number, "nmap's normal output (-oN) is not read: give -oX or -oG output"
        )
    cells = [cell.strip().lower() for cell in next(csv.reader([text]), [])]
    if "saddr" in cells:
        return InputFormat.ZMAP_CSV
    if "target" in cells:
        return InputFormat.TARGET_CSV
    raise discovery_error(source, number, f"not a file ekuscan reads: expected {EXPECTED}")


def read_found(fmt: InputFormat, lines: Iterable[str], source: str) -> Iterator[Found]:
    """The records of a discovery file (not a target CSV), lazily, in file order."""
    readers = {
        InputFormat.NMAP_XML: read_nmap_xml,
        InputFormat.GREPABLE: read_grepable,
        InputFormat.MASSCAN_LIST: read_masscan_list,
        InputFormat.MASSCAN_JSON: read_masscan_json,
        InputFormat.ZMAP_CSV: read_zmap_csv,
    }
    if fmt not in readers:
        raise ValueError(f"{fmt} is not discovery output")
    return readers[fmt](lines, source)


# --- greppable: nmap -oG, masscan -oG -------------------------------------------------------

_HOST_FIELD = re.compile(r"^Host: (\S+) \((.*)\)$")
_PORT_ENTRY = re.compile(r"^(\d+)/([^/]*)/([^/]*)/")


def read_grepable(lines: Iterable[str], source: str) -> Iterator[Found]:
    """``Host: 10.0.0.1 (name)<TAB>Ports: 443/open/tcp//https///, 22/closed/tcp//ssh///``.

    Fields are tab-separated; ``Status:`` lines and masscan's ``Port:``/``Banner:`` records carry
    no ``Ports:`` field and are skipped. nmap writes the reverse-DNS name in the parentheses.
    """
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip() or text.startswith("#"):
            continue
        fields = text.split("\t")
        host = next((f for f in fields if f.startswith("Host: ")), None)
        if host is None:
            if text.startswith(_NMAP_NORMAL):
                raise discovery_error(
                    source, number, "nmap's normal output (-oN) is not read: give -oX or -oG output"
                )
            raise discovery_error(source, number, "expected a greppable 'Host: ADDRESS (NAME)' line")
        match = _HOST_FIELD.match(host.strip())
        if match is None:
            raise discovery_error(
                source, number, f"bad field {host.strip()!r} (expected 'Host: ADDRESS (NAME)')"
            )
        ports_field = next((f for f in fields if f.startswith("Ports: ")), None)
        if ports_field is None:
            continue
        address = address_of(match.group(1), source, number)
        ports = _grepable_ports(ports_field.removeprefix("Ports: "), source, number)
        if ports:
            yield Found(*address, tuple(ports), match.group(2) or None)


def _grepable_ports(text: str, source: str, number: int) -> list[int]:
    """Open TCP ports of a ``Ports:`` field; entries are ``PORT/STATE/PROTOCOL/OWNER/SERVICE/RPC/VERSION/``.

    nmap replaces ``/`` with ``|`` in service and version, but not ``, ``, which separates
    entries: a piece that does not start like an entry belongs to the version before it.
    """
    ports: list[int] = []
    for index, piece in enumerate(text.split(", ")):
        match = _PORT_ENTRY.match(piece.strip())
        if match is None:
            if index == 0:
                raise discovery_error(
                    source, number, f"bad port entry {piece.strip()!r} (expected PORT/STATE/PROTOCOL/...)"
                )
            continue
        if match.group(2) == "open" and match.group(3) == "tcp":
            ports.append(port_of(match.group(1), source, number))
    return ports


# --- masscan -oL ------------------------------------------------------------------------------


def read_masscan_list(lines: Iterable[str], source: str) -> Iterator[Found]:
    """``open tcp 443 10.0.0.1 1700000000``; ``banner tcp 443 10.0.0.1 1700000000 ssl ...`` is skipped."""
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        if parts[0] == "banner" and len(parts) >= 5:
            continue
        if len(parts) != 5 or not all(p.isascii() and p.isdigit() for p in (parts[2], parts[4])):
            raise discovery_error(
                source, number, "expected a masscan list line 'STATUS PROTOCOL PORT ADDRESS TIMESTAMP'"
            )
        status, protocol, port_text, address_text, _ = parts
        address = address_of(address_text, source, number)
        if status == "open" and protocol == "tcp":  # not "up arp 0 ..." nor "open icmp 0 ..."
            yield Found(*address, (port_of(port_text, source, number),))


# --- masscan -oJ ------------------------------------------------------------------------------

_RECORD_START = re.compile(r"[^\s,\[\]]")  # past the array's brackets and the commas between records
_FINISHED = re.compile(r"\{\s*finished\s*:\s*1\s*\}")  # masscan 1.0's closing line, not JSON
MAX_JSON_RECORD = 4 * 2**20  # a record's text; masscan's banners are at most 64 KiB before escaping


def read_masscan_json(lines: Iterable[str], source: str) -> Iterator[Found]:
    """Records ``{"ip": "10.0.0.1", "ports": [{"port": 443, "proto": "tcp", "status": "open"}]}``.

    masscan writes one record per line between ``[`` and ``]``, the comma before each record
    (1.3) or after it, closing with ``{finished: 1}`` (1.0); a file cut short by an interrupted
    scan lacks the ``]``. All of these are read, and so is the array reformatted (``jq .``): a
    record may span lines (JSON strings cannot, so a record that fails to parse only at the end
    of what was read goes on on the next line). Banner records (a ``service``, no ``status``)
    are skipped.
    """
    decoder = json.JSONDecoder()
    buffer, first_line, position = "", 1, 0  # buffer: the text from line first_line on
    for number, line in enumerate(lines, start=1):
        first_line += buffer.count("\n", 0, position)
        buffer, position = buffer[position:], 0
        if not buffer:
            first_line = number
        buffer += line if line.endswith("\n") else line + "\n"
        while True:
            position = _next_record(buffer, position)
            if position == len(buffer):
                break
            try:
                record, end = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError as exc:
                if exc.pos < len(buffer.rstrip()) or len(buffer) - position > MAX_JSON_RECORD:
                    line_of_error = first_line + buffer.count("\n", 0, exc.pos)
                    raise discovery_error(source, line_of_error, f"bad JSON: {exc.msg}") from None
                break  # the record goes on on the next line
            yield from _json_record(record, source, first_line + buffer.count("\n", 0, position))
            position = end
    if position < len(buffer):
        line_of_record = first_line + buffer.count("\n", 0, position)
        raise discovery_error(source, line_of_record, "the file ends inside a JSON record")


def _next_record(buffer: str, position: int) -> int:
    """Where the next record starts (``len(buffer)``: none yet), past separators and ``{finished: 1}``."""
    while True:
        start = _RECORD_START.search(buffer, position)
        if start is None:
            return len(buffer)
        finished = _FINISHED.match(buffer, start.start())
        if finished is None:
            return start.start()
        position = finished.end()


def _json_record(record: object, source: str, number: int) -> Iterator[Found]:
    if not (
        isinstance(record, dict)
        and isinstance(record.get("ip"), str)
        and isinstance(record.get("ports"), list)
    ):
        raise discovery_error(source, number, 'expected a masscan record {"ip": ..., "ports": [...]}')
    ports: list[int] = []
    for entry in record["ports"]:
        if not isinstance(entry, dict) or "port" not in entry:
            raise discovery_error(source, number, 'expected "ports": [{"port": ..., "proto": ..., ...}]')
        if entry.get("status") == "open" and entry.get("proto") == "tcp":  # ICMP and ARP have port 0
            ports.append(port_of(str(entry["port"]), source, number))
    if ports:
        yield Found(*address_of(record["ip"], source, number), tuple(ports))


# --- zmap -O csv -f saddr,sport ---------------------------------------------------------------


def read_zmap_csv(lines: Iterable[str], source: str) -> Iterator[Found]:
    """``saddr,sport`` and a row per SYN-ACK; zmap 2 wrote ``saddr, sport``. Extra columns are allowed."""
    header: list[str] | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = [cell.strip() for cell in next(csv.reader([line], skipinitialspace=True))]
        except csv.Error as exc:
            raise discovery_error(source, number, f"bad CSV: {exc}") from None
        if header is None:
            header = [cell.lower() for cell in row]
            if "saddr" not in header or "sport" not in header:
                raise discovery_error(
                    source,
                    number,
                    "zmap output without a saddr and a sport column: write it with -f saddr,sport",
                )
            continue
        if len(row) != len(header):
            raise discovery_error(source, number, f"{len(row)} fields, the header has {len(header)}")
        cells = dict(zip(header, row, strict=True))
        if (
            cells.get("success", "1") not in ("1", "true")
            or cells.get("classification", "synack") != "synack"
        ):
            continue  # a RST or another failure, where the output filter let them through
        yield Found(*address_of(cells["saddr"], source, number), (port_of(cells["sport"], source, number),))


# --- from records to target specs -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscoveryOptions:
    """What the command line adds to discovered addresses."""

    port_filter: frozenset[int] | None = None  # -p: only these of the open ports
    role: Role | None = None  # --role
    sni: str | None = None  # --sni: for addresses without a name from the file
    sni_from_input: bool = False  # --sni-from-input: the name nmap gives an address is its SNI


def discovered_specs(found: Iterable[Found], options: DiscoveryOptions) -> list[TargetSpec]:
    """One address spec per address (and SNI name), with its open ports, in address order.

    masscan and zmap write records in the random order the replies came; sorting makes two
    runs over the same network one file. A record repeated, or an address in several records,
    is one spec. The specs are those ``parse_target`` makes of the address, built directly:
    a /8's discovery is too many to parse back from text.
    """
    default_sni = normalise_name(options.sni) if options.sni else None
    hosts: dict[tuple[int, int, str], list[int]] = {}  # a list: a small dict or set is 3-4 times larger
    for record in found:
        kept = [p for p in record.ports if options.port_filter is None or p in options.port_filter]
        if not kept:
            continue
        name = _dns_name(record.name) if options.sni_from_input else None
        key = (record.version, record.value, name or default_sni or "")
        if key in hosts:
            hosts[key] += kept
        else:
            hosts[key] = kept
    specs: list[TargetSpec] = []
    for key in sorted(hosts):
        version, value, sni = key
        text = str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))
        found_ports = hosts.pop(key)  # popped: the records' memory goes as the specs' comes
        ports = tuple(found_ports) if len(found_ports) == 1 else tuple(sorted(set(found_ports)))
        specs.append(
            TargetSpec(text, SpecKind.ADDRESS, None, value, value, version, ports, options.role, sni or None)
        )
    return specs


def _dns_name(text: str | None) -> str | None:
    """A DNS name from the file, or None: never an address, nothing that is not a host name."""
    if not text:
        return None
    try:
        ipaddress.ip_address(text)
        return None
    except ValueError:
        pass
    try:
        return normalise_name(text)
    except TargetError:
        return None


def check_options(fmt: InputFormat, source: str, options: DiscoveryOptions) -> None:
    """``--sni-from-input`` only where the file names hosts: nmap's output does, the others do not."""
    if not options.sni_from_input or fmt.names_hosts:
        return
    if fmt is InputFormat.TARGET_CSV:
        raise TargetError(f"--sni-from-input: {source} is a target CSV: its sni column names the SNI")
    raise TargetError(
        f"--sni-from-input: {source} is {fmt}, which names no hosts; nmap's -oX and -oG output do"
    )


def read_targets(
    fmt: InputFormat, lines: Iterable[str], source: str, options: DiscoveryOptions
) -> list[TargetSpec]:
    """A discovery file's targets: its addresses with their open TCP ports."""
    return discovered_specs(read_found(fmt, lines, source), options)
