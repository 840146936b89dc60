"""Estate rules: what only several hosts together show."""

from __future__ import annotations

from collections.abc import Sequence

from scanner.core.rules._engine import Hit, HostIdentity, estate_rule
from scanner.model import Product, Role, Severity, Version

_EXPRESSWAY_ROLES = (Role.EXPRESSWAY, Role.EXPRESSWAY_C, Role.EXPRESSWAY_E)


@estate_rule(
    "EXPRESSWAY_VERSION_MISMATCH",
    Severity.MEDIUM,
    "Expressways of one group run different releases (C and E must match)",
    fix="Upgrade the Expressway-C and -E of each pair or cluster to the same release (X15.5 for the fix).",
)
def expressway_version_mismatch(hosts: Sequence[HostIdentity]) -> Sequence[Hit]:
    """Expressway hosts that work together run different releases.

    FN74362 requires Expressway-C and -E to run the same release: a C on X15.4 with an E on
    X14 still checks clientAuth where the E no longer provides it, and X15.5's separate client
    store only helps when both sides have it. Hosts are compared within their CSV label (use
    one label per C/E pair or cluster); hosts without a label are compared with each other.
    Only hosts whose SIP banner named a release take part.
    """
    groups: dict[str, dict[Version, list[str]]] = {}
    for h in hosts:
        sw = h.software
        if (
            sw is None
            or sw.version is None
            or sw.product not in (Product.EXPRESSWAY, Product.EXPRESSWAY_E)
            or h.role not in _EXPRESSWAY_ROLES
        ):
            continue
        groups.setdefault(h.label, {}).setdefault(sw.version, []).append(h.host)
    hits = []
    for label, versions in groups.items():
        if len(versions) < 2:
            continue
        seen = "; ".join(f"{v} on {', '.join(names)}" for v, names in sorted(versions.items()))
        where = f"label {label!r}" if label else "hosts without a label"
        hits.append(
            Hit(
                f"Expressways of {where} run different releases: {seen}",
                details=tuple(("release", str(v)) for v in sorted(versions)),
            )
        )
    return hits
