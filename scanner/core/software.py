"""What product and release a peer runs, from the banners it sends (pure).

Sources (domain.md Q2): Expressway and VCS answer SIP with ``Server: TANDBERG/<build>
(X<version>)``; the B2BUA leg adds ``-b2bua-<n>``; TelePresence Conductor says ``(XC<version>)``;
CUCM says ``Cisco-CUCM<major>.<minor>``; CUBE and IOS gateways say
``Cisco-SIPGateway/IOS-<version>``. The Expressway-E MRA listener on 8443 answers HTTP with
``Server: CE_E``. The build number is not trusted: no public map from build to release exists
after X12.5, so the release comes from the parentheses only.
"""

from __future__ import annotations

import re

from scanner.model import Fingerprint, Product, Version

MAX_BANNER_CHARS = 256  # longer headers are cut before matching: no regex sees megabytes


# The Expressway pattern of domain.md, with an optional fourth version part and the B2BUA suffix.
_EXPRESSWAY = re.compile(r"TANDBERG/(\d+) \(X(\d+(?:\.\d+){0,3})(-b2bua-[\d.]+)?\)")
_CONDUCTOR = re.compile(r"TANDBERG/\d+ \(XC(\d+(?:\.\d+){0,3})[^)]*\)")
_TANDBERG_OTHER = re.compile(r"TANDBERG/\d+ \((?:TC|CE|F|RoomOS|MX)[^)]*\)")
_CUCM = re.compile(r"Cisco-CUCM(\d+(?:\.\d+){0,3})")
_CUBE = re.compile(r"Cisco-SIPGateway/IOS-(\d+(?:\.\d+){0,3})")


def from_sip(banner: str | None) -> Fingerprint | None:
    """The product behind a SIP ``Server``/``User-Agent`` value, or None if we do not know it."""
    if not banner:
        return None
    text = banner.strip()[:MAX_BANNER_CHARS]
    if match := _CONDUCTOR.match(text):
        return Fingerprint(Product.CONDUCTOR, Version.parse("XC" + match.group(1)), text)
    if match := _EXPRESSWAY.match(text):
        return Fingerprint(
            Product.EXPRESSWAY, Version.parse("X" + match.group(2)), text, b2bua=match.group(3) is not None
        )
    if _TANDBERG_OTHER.match(text):
        return Fingerprint(Product.TELEPRESENCE_ENDPOINT, None, text)
    if match := _CUCM.match(text):
        return Fingerprint(Product.CUCM, Version.parse(match.group(1)), text)
    if match := _CUBE.match(text):
        return Fingerprint(Product.CUBE, Version.parse(match.group(1)), text)
    return None


def from_http(server: str | None) -> Fingerprint | None:
    """The product behind an HTTP ``Server`` header: ``CE_E`` is the Expressway-E MRA listener."""
    if server is not None and server.strip()[:MAX_BANNER_CHARS].upper() == "CE_E":
        return Fingerprint(Product.EXPRESSWAY_E, None, server.strip())
    return None
