"""One object for each distinct value of the estate's host identities (``Inventory.estate_findings``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

from scanner.core.peers import ClientCARequest, ClientChain

_T = TypeVar("_T")


class Interned:
    """One object for each distinct value: the estate's rules hold every host's chains at once,
    and read back from the spool, the same few CAs' names, links and leaves recur on every
    host as copies (one name's canonical form is some twenty small objects)."""

    def __init__(self) -> None:
        self._values: dict[object, Any] = {}

    def _one(self, value: _T) -> _T:
        known: _T = self._values.setdefault(value, value)
        return known

    def chain(self, chain: ClientChain) -> ClientChain:
        one = self._one
        return one(
            replace(
                chain,
                link=one(chain.link),
                peer_link=one(chain.peer_link),
                leaf_sha256=one(chain.leaf_sha256),
                leaf_issuer=one(chain.leaf_issuer),
                issuers=one(chain.issuers),
                root=one(chain.root) if chain.root is not None else None,
            )
        )

    def request(self, request: ClientCARequest) -> ClientCARequest:
        return self._one(replace(request, link=self._one(request.link), names=self._one(request.names)))

    def label(self, label: str) -> str:
        return self._one(label)
