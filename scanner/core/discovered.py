"""What one record of discovery output says: an address, its open TCP ports, the name given to it (pure)."""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple

from scanner.core.targets import TargetError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_OCTET = re.compile(r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\Z")  # 0-255, no leading zero (as ipaddress)


class Found(NamedTuple):
    """An address where a discovery tool found open TCP ports; ``name`` is the host name it wrote, if any.

    The address is kept as ``TargetSpec`` keeps it, a version and an integer: a /8's worth of
    ``ipaddress`` objects would be most of the time spent reading the file. A named tuple, not a
    frozen dataclass, for the same reason: one is made per record, and it is made 4 times faster.
    """

    version: int  # 4 or 6
    value: int
    ports: tuple[int, ...]
    name: str | None = None

    @property
    def address(self) -> IPAddress:
        return ipaddress.IPv4Address(self.value) if self.version == 4 else ipaddress.IPv6Address(self.value)


def discovery_error(source: str, line: int, what: str) -> TargetError:
    """``scan.xml: line 57: <port> without portid``: the file, the line, what is wrong."""
    return TargetError(f"{source}: line {line}: {what}")


def address_of(text: str, source: str, line: int) -> tuple[int, int]:
    """An address as its version and value; dotted-quad IPv4, the common case, without ``ipaddress``."""
    text = text.strip()
    parts = text.split(".")
    if len(parts) == 4 and text.isascii() and all(_OCTET.match(part) for part in parts):
        a, b, c, d = (int(part) for part in parts)
        return 4, a << 24 | b << 16 | c << 8 | d
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise discovery_error(source, line, f"{text!r} is not an IP address") from None
    return address.version, int(address)


def port_of(text: str, source: str, line: int) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 65536:
        raise discovery_error(source, line, f"bad port {value!r}: ports are numbers 1-65535")
    return int(value)
