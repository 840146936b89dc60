"""Targets: parse what the user wrote, expand it lazily into endpoints (pure).

A target is ``host``, ``host:port``, ``[v6]:port``, an IPv4/IPv6 literal, a CIDR block
(``10.20.0.0/22``) or an address range (``10.1.1.10-10.1.1.90``, or ``10.1.1.10-90``).
Parsing produces small ``TargetSpec`` values, one per argument or CSV row; ``expand`` walks
them as integers and yields endpoints one at a time, so a /8 costs a few objects, not a
list of 16 million.

Duplicates are dropped without remembering every endpoint produced: an endpoint is skipped
when an *earlier* spec would have produced the same (address or name, port, SNI). Earlier
single hosts are looked up in a dict; earlier ranges are checked arithmetically. Memory is
proportional to the number of specs, never to the number of endpoints.
"""

from __future__ import annotations

import csv
import enum
import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

from scanner.core.shares import SHARD_SALT, share_of
from scanner.model import Endpoint, Role

DEFAULT_PORTS: tuple[int, ...] = (5061, 7001, 8443, 443)
MAX_RANGE_ADDRESSES = 2**24  # a /8; larger ranges are refused (a /64 would never end)
LARGE_SWEEP_ADDRESSES = 2**20  # ranges holding more addresses in total need --yes
MAX_SHARDS = 4096
CSV_COLUMNS = ("target", "ports", "role", "sni", "label", "links")  # links: optional, added with issue 9

LinkNames = Callable[[Role | None], Collection[str]]  # the links a role has (None: any role)
HostEndpoints = tuple[str, int, Callable[[], Iterable[Endpoint]]]  # host text, endpoint count, their maker
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class TargetError(ValueError):
    """A target, port list or CSV row that cannot be understood; the message says why."""


class SpecKind(enum.Enum):
    NAME = "name"
    ADDRESS = "address"
    RANGE = "range"  # CIDR blocks become ranges too


@dataclass(frozen=True, slots=True)
class TargetSpec:
    text: str  # as the user wrote it
    kind: SpecKind
    name: str | None  # NAME: the normalised DNS name
    first: int  # ADDRESS/RANGE: first and last address as integers
    last: int
    version: int  # 4 or 6 (0 for names)
    ports: tuple[int, ...]
    role: Role | None = None
    sni: str | None = None
    label: str = ""
    links: tuple[str, ...] | None = None  # the CSV's links column: the links the host really uses

    @property
    def size(self) -> int:
        return 0 if self.kind is SpecKind.NAME else self.last - self.first + 1

    @property
    def probe_count(self) -> int:
        return (1 if self.kind is SpecKind.NAME else self.size) * len(self.ports)

    def covers(self, version: int, address: int, port: int, sni: str | None) -> bool:
        return (
            self.kind is not SpecKind.NAME
            and self.version == version
            and self.first <= address <= self.last
            and self.sni == sni
            and port in self.ports
        )


# --- parsing ------------------------------------------------------------------------------


def parse_ports(text: str, separators: str = ",;") -> tuple[int, ...]:
    """``5061,7001`` or ``7001-7003``; order kept, duplicates dropped."""
    ports: dict[int, None] = {}  # an ordered set: 1-65535 must not cost 65535² comparisons
    for item in re.split(f"[{re.escape(separators)}]", text):
        item = item.strip()
        if not item:
            continue
        low, sep, high = item.partition("-")
        try:
            start = int(low)
            end = int(high) if sep else start
        except ValueError:
            raise TargetError(f"bad port {item!r}: ports are numbers 1-65535") from None
        if not (0 < start <= end < 65536):
            raise TargetError(f"bad port {item!r}: ports are numbers 1-65535")
        if end - start >= 65535:
            raise TargetError(f"bad port range {item!r}")
        ports.update(dict.fromkeys(range(start, end + 1)))
    if not ports:
        raise TargetError(f"no ports in {text!r}")
    return tuple(ports)


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise TargetError(f"unknown role {text!r} (one of: {valid})") from None


def normalise_name(text: str) -> str:
    """Validate a DNS name; returns it lower-cased without a trailing dot."""
    name = text.strip().rstrip(".").lower()
    try:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        raise TargetError(f"bad host name {text!r}") from None
    labels = ascii_name.split(".")
    if not name or len(ascii_name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise TargetError(f"bad target {text!r}: not a host name, address, CIDR block or range")
    if all(label.isdigit() for label in labels):
        raise TargetError(f"bad address {text!r}")
    return name


def _split_port(text: str) -> tuple[str, int | None]:
    """Split ``host:port`` and ``[v6]:port``; a bare IPv6 literal has no port."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise TargetError(f"bad target {text!r}: missing ']'")
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise TargetError(f"bad target {text!r}")
        return host, _port_of(text, rest[1:])
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port_of(text, port)
    return text, None


def _port_of(target: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise TargetError(f"bad target {target!r}: the port must be a number 1-65535")
    return int(text)


def _range(
    text: str, first: ipaddress.IPv4Address | ipaddress.IPv6Address, last_text: str
) -> tuple[int, int]:
    try:
        last = ipaddress.ip_address(last_text)
    except ValueError:
        # Short form for IPv4: 10.1.1.10-90 means 10.1.1.10-10.1.1.90.
        if first.version == 4 and last_text.isascii() and last_text.isdigit() and int(last_text) < 256:
            last = ipaddress.IPv4Address((int(first) & ~0xFF) | int(last_text))
        else:
            raise TargetError(f"bad range {text!r}: {last_text!r} is not an address") from None
    if last.version != first.version:
        raise TargetError(f"bad range {text!r}: mixes IPv4 and IPv6")
    if int(last) < int(first):
        raise TargetError(f"bad range {text!r}: the end is before the start")
    return int(first), int(last)


def parse_target(
    text: str,
    ports: Sequence[int] = DEFAULT_PORTS,
    role: Role | None = None,
    sni: str | None = None,
    label: str = "",
) -> TargetSpec:
    """Parse one target; raises TargetError with a message that quotes the input."""
    raw = text.strip()
    if not raw:
        raise TargetError("empty target")
    if any(c.isspace() for c in raw):
        raise TargetError(f"bad target {raw!r}: contains spaces")
    if sni is not None:
        sni = normalise_name(sni)

    def made(
        kind: SpecKind, first: int, last: int, version: int, at: Sequence[int], name: str = ""
    ) -> TargetSpec:
        return TargetSpec(
            raw, kind, name or None, first, last, version, tuple(at), role, sni or name or None, label
        )

    if "/" in raw:
        try:
            net = ipaddress.ip_network(raw, strict=False)
        except ValueError:
            raise TargetError(f"bad CIDR block {raw!r}") from None
        first, last = int(net.network_address), int(net.broadcast_address)
        return _check_size(made(SpecKind.RANGE, first, last, net.version, ports))
    if "-" in raw:
        head, _, tail = raw.partition("-")
        try:
            start = ipaddress.ip_address(head)
        except ValueError:
            start = None
        if start is not None:
            low, high = _range(raw, start, tail)
            return _check_size(made(SpecKind.RANGE, low, high, start.version, ports))
    host, port = _split_port(raw)
    target_ports = (port,) if port is not None else tuple(ports)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return made(SpecKind.NAME, 0, 0, 0, target_ports, normalise_name(host))
    return made(SpecKind.ADDRESS, int(address), int(address), address.version, target_ports)


def _check_size(spec: TargetSpec) -> TargetSpec:
    if spec.size > MAX_RANGE_ADDRESSES:
        raise TargetError(
            f"range {spec.text!r} has {spec.size} addresses; the limit is {MAX_RANGE_ADDRESSES} "
            "(a /8): split it"
        )
    return spec


def parse_links(text: str, role: Role | None, link_names: LinkNames | None = None) -> tuple[str, ...]:
    """The CSV's ``links`` cell: link names separated by ``;``, each one the role's (``link_names``)."""
    names = tuple(dict.fromkeys(n.strip() for n in re.split("[;,]", text) if n.strip()))
    known = link_names(role) if link_names is not None else names
    if unknown := [name for name in names if name not in known]:
        whose = f"role {role.value}" if role is not None else "any role"
        raise TargetError(f"unknown link {unknown[0]!r} for {whose} (known: {', '.join(sorted(known))})")
    return names


def parse_csv(
    lines: Iterable[str],
    source: str,
    default_ports: Sequence[int] = DEFAULT_PORTS,
    default_role: Role | None = None,
    link_names: LinkNames | None = None,
) -> list[TargetSpec]:
    """Parse a target CSV (header ``target,ports,role,sni,label[,links]``; ``#`` starts a comment).

    Errors name the file and line: ``targets.csv:7: bad port 'x'``; ``link_names`` checks ``links``.
    """
    specs: list[TargetSpec] = []
    header: list[str] | None = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            row = next(csv.reader([line]))
        except csv.Error as exc:
            raise TargetError(f"{source}:{number}: {exc}") from None
        row = [cell.strip() for cell in row]
        if header is None:
            header = [cell.lower() for cell in row]
            unknown = [c for c in header if c not in CSV_COLUMNS]
            if "target" not in header or unknown:
                raise TargetError(
                    f"{source}:{number}: the header must name the columns "
                    f"{','.join(CSV_COLUMNS)} (target is required)"
                )
            continue
        if len(row) > len(header):
            raise TargetError(f"{source}:{number}: {len(row)} fields, the header has {len(header)}")
        cells = dict(zip(header, row, strict=False))
        try:
            ports = parse_ports(cells["ports"], ";,") if cells.get("ports") else tuple(default_ports)
            role = parse_role(cells["role"]) if cells.get("role") else default_role
            spec = parse_target(
                cells.get("target", ""), ports, role, cells.get("sni") or None, cells.get("label", "")
            )
            if cells.get("links"):
                spec = replace(spec, links=parse_links(cells["links"], role, link_names))
            specs.append(spec)
        except TargetError as exc:
            raise TargetError(f"{source}:{number}: {exc}") from None
    if header is None:
        raise TargetError(f"{source}: empty file (expected the header {','.join(CSV_COLUMNS)})")
    return specs


# --- expansion ----------------------------------------------------------------------------


def _address_text(version: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


MAX_HOST_GROUP = 64  # ports of one host judged together (the Expressway set is 4 to 10)


def _host_key(spec: TargetSpec) -> tuple[int, int | str] | None:
    """Single hosts named by several specs (one CSV row per port, say) share this key."""
    if spec.kind is SpecKind.NAME:
        assert spec.name is not None
        return (0, spec.name)
    if spec.kind is SpecKind.ADDRESS:
        return (spec.version, spec.first)
    return None


def expand(specs: Sequence[TargetSpec]) -> Iterator[Endpoint]:
    """Yield each endpoint once, lazily, host by host, in the order of the specs.

    All endpoints of one host come out together and share a group number and size, so the
    analysis can judge a host as a whole (``hosts.HostGrouper``): a host named by several
    specs is expanded where it is first named.
    """
    for _, _, make in expand_hosts(specs):
        yield from make()


def expand_hosts(specs: Sequence[TargetSpec]) -> Iterator[HostEndpoints]:
    """``expand`` a host at a time, each with at least one endpoint: whoever probes only some hosts
    (a worker's share) makes the endpoints of those only."""
    seen_points: dict[tuple[str, str | None], set[int]] = {}  # earlier single hosts: (key, sni) -> ports
    earlier_ranges: list[TargetSpec] = []
    same_host: dict[tuple[int, int | str], list[TargetSpec]] = {}
    for spec in specs:
        key = _host_key(spec)
        if key is not None:
            same_host.setdefault(key, []).append(spec)
    group = 0
    for spec in specs:
        key = _host_key(spec)
        if key is None:
            for value in range(spec.first, spec.last + 1):
                group += 1  # numbered as they are made: no second Endpoint per probe (issue 14)
                host = _address_host(spec, value, seen_points, earlier_ranges, group)
                if host[1]:
                    yield host
            earlier_ranges.append(spec)
            continue
        host_specs = same_host.pop(key, None)
        if host_specs is None:
            continue  # expanded with the first spec that named this host
        found = []
        for each in host_specs:
            if each.kind is SpecKind.NAME:
                assert each.name is not None
                ports = seen_points.setdefault((each.name, each.sni), set())
                for port in each.ports:
                    if port not in ports:
                        ports.add(port)
                        found.append(
                            Endpoint(
                                each.text,
                                each.name,
                                None,
                                port,
                                each.role,
                                each.sni,
                                each.label,
                                links=each.links,
                            )
                        )
            else:
                text, _, make = _address_host(each, each.first, seen_points, earlier_ranges)
                found.extend(make())
                seen_points.setdefault((text, each.sni), set()).update(each.ports)
        group += 1
        if found:
            yield found[0].host, len(found), partial(_grouped, found, group)


def _address_host(
    spec: TargetSpec,
    value: int,
    seen_points: dict[tuple[str, str | None], set[int]],
    earlier_ranges: list[TargetSpec],
    group: int = 0,
) -> HostEndpoints:
    """Address ``value`` of ``spec``: its text and the ports no earlier spec probes, made on demand."""
    text, swept = _address_text(spec.version, value), spec.kind is SpecKind.RANGE
    done = seen_points.get((text, spec.sni)) or ()
    ports = [
        p
        for p in spec.ports
        if p not in done and not any(r.covers(spec.version, value, p, spec.sni) for r in earlier_ranges)
    ]
    size, row = (len(ports) if len(ports) <= MAX_HOST_GROUP else 1), (spec.text, text, text)  # as _grouped
    return (
        text,
        len(ports),
        lambda: [
            Endpoint(*row, p, spec.role, spec.sni, spec.label, swept, group, size, spec.links) for p in ports
        ],
    )


def _grouped(endpoints: list[Endpoint], group: int) -> Iterator[Endpoint]:
    # A host probed on very many ports (a port sweep of one address) is judged port by port:
    # holding thousands of results until the last port answers would stall the stream.
    size = len(endpoints) if len(endpoints) <= MAX_HOST_GROUP else 1
    for endpoint in endpoints:
        yield replace(endpoint, group=group, group_size=size)


# --- size of a sweep, and shares of it ------------------------------------------------------


def check_sweep_size(specs: Sequence[TargetSpec], confirmed: bool) -> None:
    """Refuse a sweep whose ranges hold more than LARGE_SWEEP_ADDRESSES addresses, unless confirmed.

    A typo (``/12`` for ``/24``, an IPv6 ``/64``'s neighbour ``/100``) should cost a message, not
    a week of probing someone else's network.
    """
    addresses = sum(spec.size for spec in specs if spec.kind is SpecKind.RANGE)
    if addresses > LARGE_SWEEP_ADDRESSES and not confirmed:
        probes = sum(spec.probe_count for spec in specs)
        largest = max((s for s in specs if s.kind is SpecKind.RANGE), key=lambda s: s.size)
        raise TargetError(
            f"the ranges hold {addresses} addresses ({probes} probes; the largest is {largest.text!r}); "
            f"more than {LARGE_SWEEP_ADDRESSES} needs --yes"
        )


@dataclass(frozen=True, slots=True)
class Shard:
    """Part ``index`` (1-based) of ``count``: ``--shard 2/3``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    index, sep, count = text.strip().partition("/")
    if not (sep and index.isascii() and index.isdigit() and count.isascii() and count.isdigit()):
        raise TargetError(f"bad shard {text!r}: write K/N, e.g. 2/3")
    shard = Shard(int(index), int(count))
    if not 1 <= shard.index <= shard.count <= MAX_SHARDS:
        raise TargetError(f"bad shard {text!r}: K/N needs 1 <= K <= N <= {MAX_SHARDS}")
    return shard


def in_shard(host: str, shard: Shard) -> bool:
    """Whether ``host`` is in ``shard``: the shards of a list are disjoint and together make the whole."""
    return share_of(host, shard.count, SHARD_SALT) == shard.index - 1
