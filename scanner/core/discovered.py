"""What one record of discovery output says: an address, its open TCP ports, the name given to it (pure)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from scanner.core.targets import TargetError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Found:
    """An address where a discovery tool found open TCP ports; ``name`` is the host name it wrote, if any."""

    address: IPAddress
    ports: tuple[int, ...]
    name: str | None = None


def discovery_error(source: str, line: int, what: str) -> TargetError:
    """``scan.xml: line 57: <port> without portid``: the file, the line, what is wrong."""
    return TargetError(f"{source}: line {line}: {what}")


def address_of(text: str, source: str, line: int) -> IPAddress:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise discovery_error(source, line, f"{text.strip()!r} is not an IP address") from None


def port_of(text: str, source: str, line: int) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 65536:
        raise discovery_error(source, line, f"bad port {value!r}: ports are numbers 1-65535")
    return int(value)
