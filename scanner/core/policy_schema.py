"""Reading policy data: every field of ``policy.json`` (or a user's copy) checked into a ``Policy``.

``parse_policy`` reports *every* problem at once, one line each with its JSON path, so a user
fixing a copy sees the whole list on the first run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from scanner.core.alert_meanings import alert_meanings
from scanner.core.chrome_root_list import chrome_root_store
from scanner.core.policy import (
    PACKAGED,
    POLICY_SCHEMA,
    ConditionScope,
    DatedFact,
    FixedRelease,
    LinkCondition,
    LinkPeer,
    LinkSpec,
    Policy,
    PolicyError,
    ProductNotice,
    PublicCA,
    ReleaseRange,
    Releases,
)
from scanner.core.policy_checker import Checker as _Checker
from scanner.model import Product, Role, Use, Version

_TOP_LEVEL = {
    "schema",
    "about",
    "defaults",
    "dates",
    "max_validity",
    "public_cas",
    "expressway_releases",
    "product_notices",
    "chrome_root_store",
    "client_cert_alerts",
    "links",
}


def parse_policy(document: Any, origin: str = PACKAGED) -> Policy:
    """Validate a policy document; raises PolicyError listing every problem."""
    check = _Checker()
    top = check.obj(document, "policy")
    if top is None:
        raise PolicyError(check.problems)
    if top.get("schema") != POLICY_SCHEMA:
        check.fail("policy.schema", f"expected {POLICY_SCHEMA!r}, got {top.get('schema')!r}")
    check.unknown_keys(top, _TOP_LEVEL, "policy")
    warn_days = 30
    defaults = check.obj(top.get("defaults", {}), "policy.defaults")
    if defaults is not None:
        value = defaults.get("warn_days", 30)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            check.fail("policy.defaults.warn_days", "must be a non-negative integer")
        else:
            warn_days = value
    links = tuple(_links(check, top.get("links")))
    _check_peers(check, links)
    dates = _dates(check, top.get("dates", {}))
    validity, validity_source = _max_validity(check, top.get("max_validity", {"steps": []}))
    cas = tuple(_public_cas(check, top.get("public_cas", [])))
    releases = _releases(check, top.get("expressway_releases", {}))
    notices = tuple(_product_notices(check, top.get("product_notices", [])))
    chrome = chrome_root_store(check, top["chrome_root_store"]) if "chrome_root_store" in top else None
    alerts = alert_meanings(check, top["client_cert_alerts"]) if "client_cert_alerts" in top else None
    if check.problems:
        raise PolicyError(check.problems)
    return Policy(
        links,
        warn_days,
        dates,
        validity,
        validity_source,
        cas,
        releases,
        origin,
        document,
        chrome_root_store=chrome,
        product_notices=notices,
        client_cert_alerts=alerts,
    )


_LINK_FIELDS = {
    "role",
    "name",
    "uses",
    "ports",
    "description",
    "from_version",
    "before_version",
    "service",
    "condition",
    "source",
    "peer",
}
_CONDITION_FIELDS = {"text", "scope", "from_version", "before_version", "note", "source"}


def _links(check: _Checker, raw_links: Any) -> Iterator[LinkSpec]:
    for where, raw in check.items(raw_links, "policy.links"):
        link = check.obj(raw, where)
        if link is None:
            continue
        check.unknown_keys(link, _LINK_FIELDS, where)
        role = uses = None
        try:
            role = Role(str(link.get("role")))
        except ValueError:
            check.fail(f"{where}.role", f"must be one of {', '.join(r.value for r in Role)}")
        try:
            uses = Use(str(link.get("uses")))
        except ValueError:
            check.fail(f"{where}.uses", "must be 'server' or 'client'")
        name = check.text(link.get("name"), f"{where}.name")
        ports = link.get("ports", [])
        if not isinstance(ports, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports
        ):
            check.fail(f"{where}.ports", "must be a list of port numbers (1-65535)")
            ports = []
        description = check.text(link.get("description"), f"{where}.description", required=False)
        low, high = _version_window(check, link, where)
        service = check.text(link.get("service"), f"{where}.service") if "service" in link else None
        condition = _link_condition(check, link.get("condition"), f"{where}.condition")
        source = check.text(link.get("source"), f"{where}.source", required=False)
        peer = _link_peer(check, link.get("peer"), f"{where}.peer", uses) if "peer" in link else None
        if role is not None and uses is not None and name:
            yield LinkSpec(
                role, name, uses, frozenset(ports), description, low, high, service, condition, source, peer
            )


def _link_peer(check: _Checker, raw: Any, where: str, uses: Use | None) -> LinkPeer | None:
    """A client link's ``peer``: the role and server link at its other end."""
    peer = check.obj(raw, where)
    if peer is None:
        return None
    check.unknown_keys(peer, {"role", "link"}, where)
    if uses is not Use.CLIENT:
        check.fail(where, "only a client link has a peer (the server link it dials)")
    try:
        role = Role(str(peer.get("role")))
    except ValueError:
        check.fail(f"{where}.role", f"must be one of {', '.join(r.value for r in Role)}")
        return None
    name = check.text(peer.get("link"), f"{where}.link")
    return LinkPeer(role, name) if name else None


def _check_peers(check: _Checker, links: tuple[LinkSpec, ...]) -> None:
    servers = {(link.role, link.name) for link in links if link.uses is Use.SERVER}
    for link in links:
        if link.peer is not None and (link.peer.role, link.peer.link) not in servers:
            check.fail(
                f"policy.links[{link.role.value}/{link.name}].peer",
                f"no server link {link.peer.link!r} of role {link.peer.role.value}",
            )


def _version_window(
    check: _Checker, raw: dict[str, Any], where: str
) -> tuple[Version | None, Version | None]:
    low = check.version(raw.get("from_version"), f"{where}.from_version")
    high = check.version(raw.get("before_version"), f"{where}.before_version")
    if low is not None and high is not None and not low < high:
        check.fail(where, "from_version must be before before_version")
    return low, high


def _link_condition(check: _Checker, raw: Any, where: str) -> LinkCondition | None:
    """A link's ``condition``: what it depends on that a scan cannot see, and since when."""
    if raw is None:
        return None
    condition = check.obj(raw, where)
    if condition is None:
        return None
    check.unknown_keys(condition, _CONDITION_FIELDS, where)
    text = check.text(condition.get("text"), f"{where}.text")
    scope = None
    try:
        scope = ConditionScope(str(condition.get("scope", ConditionScope.LINK.value)))
    except ValueError:
        check.fail(f"{where}.scope", f"must be one of {', '.join(s.value for s in ConditionScope)}")
    low, high = _version_window(check, condition, where)
    note = check.text(condition.get("note"), f"{where}.note", required=False)
    source = check.text(condition.get("source"), f"{where}.source")
    if not text or scope is None:
        return None
    return LinkCondition(text, scope, source, low, high, note)


def _dates(check: _Checker, raw: Any) -> dict[str, DatedFact]:
    entries = check.obj(raw, "policy.dates")
    result: dict[str, DatedFact] = {}
    for key, value in (entries or {}).items():
        where = f"policy.dates.{key}"
        entry = check.obj(value, where)
        if entry is None:
            continue
        check.unknown_keys(entry, {"date", "source", "note"}, where)
        day = check.day(entry.get("date"), f"{where}.date")
        source = check.text(entry.get("source"), f"{where}.source")
        note = check.text(entry.get("note"), f"{where}.note", required=False)
        if day is not None:
            result[key] = DatedFact(day, source, note)
    return result


def _max_validity(check: _Checker, raw: Any) -> tuple[tuple[tuple[date | None, int], ...], str]:
    section = check.obj(raw, "policy.max_validity")
    if section is None:
        return (), ""
    check.unknown_keys(section, {"steps", "source"}, "policy.max_validity")
    source = check.text(section.get("source"), "policy.max_validity.source", required=False)
    steps: list[tuple[date | None, int]] = []
    for where, item in check.items(section.get("steps"), "policy.max_validity.steps"):
        step = check.obj(item, where)
        if step is None:
            continue
        start = check.day(step.get("issued_from"), f"{where}.issued_from", nullable=True)
        days = step.get("days")
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            check.fail(f"{where}.days", "must be a positive integer")
            continue
        previous = steps[-1][0] if steps else None
        if steps and (start is None or (previous is not None and start <= previous)):
            check.fail(f"{where}.issued_from", "steps must be in increasing date order")
        steps.append((start, days))
    return tuple(steps), source


def _public_cas(check: _Checker, raw: Any) -> Iterator[PublicCA]:
    for where, item in check.items(raw, "policy.public_cas"):
        ca = check.obj(item, where)
        if ca is None:
            continue
        check.unknown_keys(
            ca,
            {
                "name",
                "organizations",
                "issuer_common_names",
                "clientauth_cutoff",
                "chrome_bound",
                "source",
                "note",
            },
            where,
        )
        name = check.text(ca.get("name"), f"{where}.name")
        orgs = check.strings(ca.get("organizations", []), f"{where}.organizations")
        cns = check.strings(ca.get("issuer_common_names", []), f"{where}.issuer_common_names")
        if not orgs and not cns:
            check.fail(where, "needs organizations or issuer_common_names to match certificates by")
        cutoff = check.day(ca.get("clientauth_cutoff"), f"{where}.clientauth_cutoff", nullable=True)
        source = check.text(ca.get("source"), f"{where}.source")
        note = check.text(ca.get("note"), f"{where}.note", required=False)
        yield PublicCA(
            name,
            frozenset(o.casefold() for o in orgs),
            tuple(c.casefold() for c in cns),
            cutoff,
            source,
            note,
            chrome_bound=check.flag(ca.get("chrome_bound"), f"{where}.chrome_bound", True),
        )


def _releases(check: _Checker, raw: Any) -> Releases:
    where = "policy.expressway_releases"
    section = check.obj(raw, where)
    if section is None:
        return Releases()
    check.unknown_keys(
        section,
        {
            "source",
            "affected",
            "unsupported_before",
            "serverauth_only_e_from",
            "separate_client_store_from",
            "fixed",
            "notice_lists",
        },
        where,
    )
    affected = [
        span
        for path, item in check.items(section.get("affected", []), f"{where}.affected")
        if (span := _release_range(check, item, path)) is not None
    ]
    fixed = []
    for path, item in check.items(section.get("fixed", []), f"{where}.fixed"):
        entry = check.obj(item, path)
        if entry is None:
            continue
        version = check.version(entry.get("version"), f"{path}.version", nullable=False)
        summary = check.text(entry.get("summary"), f"{path}.summary")
        if version is not None:
            fixed.append(FixedRelease(version, summary))
    return Releases(
        affected=tuple(affected),
        unsupported_before=check.version(section.get("unsupported_before"), f"{where}.unsupported_before"),
        serverauth_only_e_from=check.version(
            section.get("serverauth_only_e_from"), f"{where}.serverauth_only_e_from"
        ),
        separate_client_store_from=check.version(
            section.get("separate_client_store_from"), f"{where}.separate_client_store_from"
        ),
        fixed=tuple(fixed),
        source=check.text(section.get("source"), f"{where}.source", required=False),
        listed=check.text(section.get("notice_lists"), f"{where}.notice_lists", required=False),
    )


def _release_range(check: _Checker, item: Any, path: str) -> ReleaseRange | None:
    """``["X14.0.0", "X14.3.7"]`` (both included), or a train: ``{"train": "X14"}`` for every
    X14 release, ``{"train": "X15", "before": "X15.4"}`` for the X15 releases before X15.4."""
    if isinstance(item, dict):
        check.unknown_keys(item, {"train", "before", "note"}, path)
        check.text(item.get("note"), f"{path}.note", required=False)
        train = check.version(item.get("train"), f"{path}.train", nullable=False)
        before = check.version(item.get("before"), f"{path}.before")
        if train is None:
            return None
        if len(train.parts) != 1:
            check.fail(f"{path}.train", f"must be a major release like X14, got {item.get('train')!r}")
            return None
        following = Version((train.parts[0] + 1,), train.prefix)
        if before is not None and not train < before < following:
            check.fail(f"{path}.before", f"must be a release of the {train} train after {train}")
            return None
        if before is None:
            return ReleaseRange(train, before=following, label=f"every {train}")
        return ReleaseRange(train, before=before, label=f"{train} before {before}")
    if not isinstance(item, list) or len(item) != 2:
        check.fail(
            path, 'must be a pair of releases like ["X14.0.0", "X14.3.7"] or a train like {"train": "X14"}'
        )
        return None
    low = check.version(item[0], f"{path}[0]", nullable=False)
    high = check.version(item[1], f"{path}[1]", nullable=False)
    if low is None or high is None:
        return None
    if high < low:
        check.fail(path, "the first release must not be after the second")
    return ReleaseRange(low, through=high, label=f"{low}-{high}")


def _product_notices(check: _Checker, raw: Any) -> Iterator[ProductNotice]:
    known = {"product", "notice", "revision", "source", "affected", "fixed_in", "fixed_in_version"}
    for where, item in check.items(raw, "policy.product_notices"):
        entry = check.obj(item, where)
        if entry is None:
            continue
        check.unknown_keys(entry, known | {"fix_published", "note"}, where)
        product = None
        try:
            product = Product(str(entry.get("product")))
        except ValueError:
            check.fail(f"{where}.product", f"must be one of {', '.join(p.value for p in Product)}")
        fixed_in = check.text(entry.get("fixed_in"), f"{where}.fixed_in", required=False) or None
        notice = ProductNotice(
            product=product or Product.CUCM,
            notice=check.text(entry.get("notice"), f"{where}.notice"),
            revision=check.text(entry.get("revision"), f"{where}.revision", required=False),
            source=check.text(entry.get("source"), f"{where}.source"),
            affected=check.text(entry.get("affected"), f"{where}.affected"),
            fixed_in=fixed_in,
            fixed_in_version=check.version(entry.get("fixed_in_version"), f"{where}.fixed_in_version"),
            fix_published=check.flag(entry.get("fix_published"), f"{where}.fix_published", False),
            note=check.text(entry.get("note"), f"{where}.note", required=False),
        )
        if product is not None:
            yield notice


def parse_policy_text(text: str, origin: str = PACKAGED) -> Policy:
    """A policy from its JSON text; every problem (bad JSON included) is a ``PolicyError``."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError([f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    return parse_policy(document, origin=origin)
