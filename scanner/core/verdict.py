"""Link verdicts and the endpoint verdict, from the typed effects of the findings (pure).

DESIGN.md section 5: a link *breaks* when the chain cannot be used for the link's side of
the handshake now (missing usage, expired, not yet valid); it is *at-risk* when it works
now but has a known date of failure (a public certificate that still carries clientAuth,
for the client side; expiry inside the warning window, for every link; a server that
accepts public client CAs, for the server side); it is *ok* otherwise, and *unknown* when
there is no certificate to judge.

Nothing is decided twice here. Each rule that decides something about the links attaches a
``LinkEffect`` to its finding (which use, break or at-risk, the date, the sentence), and
``usage.py``'s ``Usability`` gives the effect of a missing usage. A link shows the effect of
the first ``EffectKind`` that applies to its use, the earliest date within a kind. Codes,
messages and details of findings are for people and scripts; no verdict reads them.

Which links an endpoint's certificate takes part in is the link table's business
(``links_for_endpoint``): the role's links, a CUCM link only where its service's certificate
is presented, and with the condition (configuration a scan cannot see) each link carries.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from scanner.core.policy import GENERIC_SERVER_LINK, ConditionScope, LinkCondition, LinkSpec
from scanner.core.usage import Usability
from scanner.model import EffectKind, Finding, LinkEffect, LinkVerdict, Use, Verdict, Version

_UNDATED = datetime.max.replace(tzinfo=UTC)  # an effect without a date yields to a dated one of its kind


class PlannedLink(NamedTuple):
    """A link one endpoint's certificate takes part in, and what its verdict depends on."""

    name: str
    uses: Use
    condition: LinkCondition | None = None  # in force on the host's release
    unseen: str | None = None  # set: the link's certificate is not this one, and why it is not judged


def links_for_endpoint(
    links: Iterable[LinkSpec],
    port: int,
    host_ports: Collection[int] = (),
    version: Version | None = None,
    used: Collection[str] | None = None,
) -> tuple[PlannedLink, ...]:
    """The links a certificate seen on ``port`` takes part in (``links``: the role's, on its release).

    Server links are those listening on this port; a port no server link names still serves
    TLS: it gets the generic ``tls-server`` link. Port 0 (a certificate file) takes part in
    every link of the role. A client link presents the host's one certificate (Expressway
    before X15.5), so it counts wherever we saw it, unless it names a ``service``: then it
    presents that service's certificate (CUCM's CallManager on 5061, Tomcat on 8443/443), the
    one its server links show, and only those endpoints judge it. Where no probed port of the
    host (``host_ports``) shows that certificate, the endpoint on the host's lowest port lists
    the link as unseen, so that it is reported once, as ``unknown``, rather than guessed from
    another service's certificate. ``used`` (the CSV's ``links`` column) keeps only the named
    links, and drops the condition of a link it names: the user says it exists.
    """
    links = tuple(links)
    chosen = [link for link in links if used is None or link.name in used]
    listening = [
        link for link in links if link.uses is Use.SERVER and (port == 0 or link.applies_to_port(port))
    ]
    planned = [_planned(link, version, used) for link in listening if link in chosen]
    if not listening and (used is None or GENERIC_SERVER_LINK in used):
        planned.append(PlannedLink(GENERIC_SERVER_LINK, Use.SERVER))
    reports_unseen = not host_ports or port <= min(host_ports)
    for link in chosen:
        if link.uses is not Use.CLIENT:
            continue
        if link.service is None or port == 0:
            planned.append(_planned(link, version, used))
            continue
        shows = [s for s in links if s.uses is Use.SERVER and s.service == link.service]
        if any(s.applies_to_port(port) for s in shows):
            planned.append(_planned(link, version, used))
        elif reports_unseen and not any(s.applies_to_port(p) for s in shows for p in host_ports):
            planned.append(_planned(link, version, used, unseen=_unseen_reason(link.service, shows)))
    return tuple(planned)


def _planned(
    link: LinkSpec, version: Version | None, used: Collection[str] | None, unseen: str | None = None
) -> PlannedLink:
    condition = link.condition
    if condition is not None and (
        not condition.applies_to_version(version)
        or (condition.scope is ConditionScope.LINK and used is not None and link.name in used)
    ):
        condition = None
    return PlannedLink(link.name, link.uses, condition, unseen)


def _unseen_reason(service: str, shows: Sequence[LinkSpec]) -> str:
    if not shows:
        return f"the {service} certificate is not presented on any TLS port: a scan cannot see it"
    ports = sorted({p for s in shows for p in s.ports})  # not empty: a portless server link shows everywhere
    where = ", ".join(map(str, ports))
    return f"the {service} certificate is presented on {where}, which this scan did not probe"


def services_of_endpoint(links: Iterable[LinkSpec], port: int) -> tuple[str, ...]:
    """The services whose certificate a port presents: those of the server links listening there."""
    if port == 0:
        return ()
    found = {link.service for link in links if link.uses is Use.SERVER and link.applies_to_port(port)}
    return tuple(sorted(s for s in found if s is not None))


def judge_links(
    wanted: Iterable[PlannedLink | tuple[str, Use]],
    usability: Mapping[Use, Usability],
    findings: Iterable[Finding],
    now: datetime,
    unknown_reason: str,
    known: dict[PlannedLink, LinkVerdict] | None = None,
) -> tuple[LinkVerdict, ...]:
    """One verdict per link, from the findings' effects and the chain's usability per use.

    ``usability`` is empty when there is no certificate to judge: every link is then
    ``unknown`` for ``unknown_reason``. A link's condition goes with its verdict: a link that
    exists only where a feature is used carries it whatever its verdict; a host that checks
    its peers' client EKU only where configured carries it on the verdict that comes from
    accepting public client CAs.

    ``known``: the verdicts already given for these same usability, findings, time and reason,
    by planned link; new ones are added. The ports of a host plan the same client links, so
    most of a port's verdicts are made once per host (and are the same objects).
    """
    planned = [PlannedLink(*w) for w in wanted]
    effects = [f.effect for f in findings if f.effect is not None]
    effects += [e for u in usability.values() if (e := u.effect(now)) is not None]
    verdicts = []
    for link in planned:
        if known is not None and (same := known.get(link)) is not None:
            verdicts.append(same)
        elif link.unseen is not None or not usability:
            reason = link.unseen if link.unseen is not None else unknown_reason
            verdicts.append(
                LinkVerdict(link.name, link.uses, Verdict.UNKNOWN, reason, None, _exists_if(link))
            )
        else:
            verdicts.append(_judge(link, usability[link.uses], effects))
        if known is not None:
            known[link] = verdicts[-1]
    return tuple(verdicts)


def _exists_if(link: PlannedLink) -> str | None:
    condition = link.condition
    return condition.text if condition is not None and condition.scope is ConditionScope.LINK else None


def _judge(link: PlannedLink, usable: Usability, effects: Sequence[LinkEffect]) -> LinkVerdict:
    applying = [e for e in effects if link.uses in e.uses]
    if not applying:
        return LinkVerdict(link.name, link.uses, Verdict.OK, usable.reason(), None, _exists_if(link))
    decisive = min(applying, key=_precedence)  # min keeps the first of equals: findings order
    condition, reason = _exists_if(link), decisive.reason
    checked_if = link.condition
    if (
        checked_if is not None
        and checked_if.scope is ConditionScope.CLIENT_EKU_CHECK
        and decisive.kind is EffectKind.PUBLIC_CLIENT_CAS
    ):
        # Peers without clientAuth fail only where the host checks their EKU.
        condition = checked_if.text
        reason += f"; {checked_if.note}" if checked_if.note else f"; only if {checked_if.text}"
    return LinkVerdict(link.name, link.uses, decisive.verdict, reason, decisive.breaks_on, condition)


def _precedence(effect: LinkEffect) -> tuple[EffectKind, datetime]:
    return effect.kind, _UNDATED if effect.breaks_on is None else effect.breaks_on


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: v.rank, default=Verdict.UNKNOWN)


def earliest_break(links: Iterable[LinkVerdict]) -> datetime | None:
    dates = [link.breaks_on for link in links if link.breaks_on is not None]
    return min(dates) if dates else None
