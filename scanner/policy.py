"""The policy data: which links use a host's certificate, and the defaults behind them.

The data ships as ``scanner/data/policy.json`` so that a fact changes in one reviewed file,
not in code. ``load_policy`` validates it into typed values; the analysis receives a
``Policy`` and never reads files itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from scanner.models import Role, Use

POLICY_SCHEMA = "ekuscan/policy/1"
GENERIC_SERVER_LINK = "tls-server"


class PolicyError(ValueError):
    """The policy data is malformed; the message names the field."""


@dataclass(frozen=True, slots=True)
class LinkSpec:
    role: Role
    name: str
    uses: Use
    ports: frozenset[int]  # empty: any port
    description: str

    def applies_to_port(self, port: int) -> bool:
        return not self.ports or port in self.ports


@dataclass(frozen=True, slots=True)
class Policy:
    links: tuple[LinkSpec, ...]
    warn_days: int

    def links_for(self, role: Role) -> tuple[LinkSpec, ...]:
        """The role's links; ``expressway`` (C or E unknown) is the union of both rows."""
        if role is Role.EXPRESSWAY:
            wanted = {Role.EXPRESSWAY_C, Role.EXPRESSWAY_E, Role.EXPRESSWAY}
        else:
            wanted = {role}
        seen: set[tuple[str, Use]] = set()
        result = []
        for link in self.links:
            if link.role in wanted and (link.name, link.uses) not in seen:
                seen.add((link.name, link.uses))
                result.append(link)
        return tuple(result)


def parse_policy(document: Any) -> Policy:
    if not isinstance(document, dict):
        raise PolicyError("policy: the top level must be an object")
    if document.get("schema") != POLICY_SCHEMA:
        raise PolicyError(f"policy.schema: expected {POLICY_SCHEMA!r}, got {document.get('schema')!r}")
    defaults = document.get("defaults", {})
    warn_days = defaults.get("warn_days", 30) if isinstance(defaults, dict) else None
    if not isinstance(warn_days, int) or warn_days < 0:
        raise PolicyError("policy.defaults.warn_days: must be a non-negative integer")
    raw_links = document.get("links")
    if not isinstance(raw_links, list):
        raise PolicyError("policy.links: must be a list")
    return Policy(links=tuple(_link(i, raw) for i, raw in enumerate(raw_links)), warn_days=warn_days)


def _link(index: int, raw: Any) -> LinkSpec:
    where = f"policy.links[{index}]"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: must be an object")
    try:
        role = Role(str(raw.get("role")))
        uses = Use(str(raw.get("uses")))
    except ValueError as exc:
        raise PolicyError(f"{where}: {exc}") from None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise PolicyError(f"{where}.name: must be a non-empty string")
    ports = raw.get("ports", [])
    if not isinstance(ports, list) or not all(isinstance(p, int) and 0 < p < 65536 for p in ports):
        raise PolicyError(f"{where}.ports: must be a list of port numbers")
    return LinkSpec(role, name, uses, frozenset(ports), str(raw.get("description", "")))


def load_packaged_policy() -> Policy:
    text = resources.files("scanner").joinpath("data/policy.json").read_text(encoding="utf-8")
    return parse_policy(json.loads(text))
