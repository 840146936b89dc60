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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from scanner.core.policy import GENERIC_SERVER_LINK, LinkSpec
from scanner.core.usage import Usability
from scanner.model import EffectKind, Finding, LinkEffect, LinkVerdict, Use, Verdict

_UNDATED = datetime.max.replace(tzinfo=UTC)  # an effect without a date yields to a dated one of its kind


def links_for_endpoint(links: Iterable[LinkSpec], port: int) -> tuple[tuple[str, Use], ...]:
    """The links a certificate seen on ``port`` takes part in.

    Server links are those listening on this port; until X15.5 the same certificate is the
    host's client certificate, so every client link of the role counts wherever we saw it.
    A port no server link names still serves TLS: it gets the generic ``tls-server`` link.
    Port 0 (a certificate file) takes part in every server link of the role.
    """
    links = tuple(links)
    server = [
        (link.name, Use.SERVER)
        for link in links
        if link.uses is Use.SERVER and (port == 0 or link.applies_to_port(port))
    ]
    client = [(link.name, Use.CLIENT) for link in links if link.uses is Use.CLIENT]
    if not server:
        server = [(GENERIC_SERVER_LINK, Use.SERVER)]
    return (*server, *client)


def judge_links(
    wanted: Iterable[tuple[str, Use]],
    usability: Mapping[Use, Usability],
    findings: Iterable[Finding],
    now: datetime,
    unknown_reason: str,
) -> tuple[LinkVerdict, ...]:
    """One verdict per link, from the findings' effects and the chain's usability per use.

    ``usability`` is empty when there is no certificate to judge: every link is then
    ``unknown`` for ``unknown_reason``.
    """
    if not usability:
        return tuple(LinkVerdict(name, use, Verdict.UNKNOWN, unknown_reason) for name, use in wanted)
    effects = [f.effect for f in findings if f.effect is not None]
    effects += [e for u in usability.values() if (e := u.effect(now)) is not None]
    return tuple(_judge(name, use, usability[use], effects) for name, use in wanted)


def _judge(name: str, use: Use, usable: Usability, effects: Sequence[LinkEffect]) -> LinkVerdict:
    applying = [e for e in effects if use in e.uses]
    if not applying:
        return LinkVerdict(name, use, Verdict.OK, usable.reason())
    decisive = min(applying, key=_precedence)  # min keeps the first of equals: findings order
    return LinkVerdict(name, use, decisive.verdict, decisive.reason, decisive.breaks_on)


def _precedence(effect: LinkEffect) -> tuple[EffectKind, datetime]:
    return effect.kind, _UNDATED if effect.breaks_on is None else effect.breaks_on


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: v.rank, default=Verdict.UNKNOWN)


def earliest_break(links: Iterable[LinkVerdict]) -> datetime | None:
    dates = [link.breaks_on for link in links if link.breaks_on is not None]
    return min(dates) if dates else None
