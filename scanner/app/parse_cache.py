"""Parsed certificates kept for a report: one parse per distinct DER, in a bounded LRU cache."""

from __future__ import annotations

from collections import OrderedDict

from scanner.core.certs import ParsedCert, parse_der
from scanner.model import UnparsedCert

PARSE_CACHE = 4096  # parsed certificates kept: a large estate's distinct leaves of many hosts, and more


class ParseCache:
    """One parse per distinct DER while it stays among the ``size`` most recently used."""

    def __init__(self, size: int = PARSE_CACHE) -> None:
        self.size = size
        self.parses = 0
        self._parsed: OrderedDict[bytes, ParsedCert | UnparsedCert] = OrderedDict()

    def __call__(self, der: bytes) -> ParsedCert | UnparsedCert:
        found = self._parsed.get(der)
        if found is not None:
            self._parsed.move_to_end(der)
            return found
        self.parses += 1
        parsed = parse_der.__wrapped__(der)  # past parse_der's own small cache: this one is larger
        self._parsed[der] = parsed
        if len(self._parsed) > self.size:
            self._parsed.popitem(last=False)
        return parsed
