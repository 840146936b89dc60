"""Link verdicts and the endpoint verdict, from the chain's usability and dates (pure).

DESIGN.md section 5: a link *breaks* when the chain cannot be used for the link's side of
the handshake now (missing usage, expired, not yet valid); it is *at-risk* when it works
now but has a known date of failure (a public certificate that still carries clientAuth,
for the client side; expiry inside the warning window, for every link); it is *ok*
otherwise, and *unknown* when there is no certificate to judge.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from scanner.core.policy import GENERIC_SERVER_LINK, LinkSpec
from scanner.core.rules._engine import day
from scanner.core.usage import Usability
from scanner.model import CertFacts, Finding, LinkVerdict, Use, Verdict

SUNSET_CODE = "CLIENTAUTH_SUNSET"
PUBLIC_CLIENT_CA_CODE = "PUBLIC_CLIENT_CA_TRUSTED"


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
    path: tuple[CertFacts, ...],
    usability: dict[Use, Usability],
    findings: Iterable[Finding],
    now: datetime,
    warn: timedelta,
    unknown_reason: str,
    client_unknown_reason: str | None = None,
) -> tuple[LinkVerdict, ...]:
    """One verdict per link; ``path`` is empty when there is no certificate to judge.

    ``client_unknown_reason`` marks the client links as not judgeable (X15.5's separate
    client certificate store).
    """
    if not path:
        return tuple(LinkVerdict(name, use, Verdict.UNKNOWN, unknown_reason) for name, use in wanted)
    by_code = {f.code: f for f in findings}
    sunset = by_code.get(SUNSET_CODE)
    public_clients = by_code.get(PUBLIC_CLIENT_CA_CODE)
    expiry = min(c.not_after for c in path)
    expired = [c for c in path if c.not_after < now]
    early = [c for c in path if c.not_before > now]
    verdicts = []
    for name, use in wanted:
        usab = usability[use]
        if use is Use.CLIENT and client_unknown_reason is not None:
            verdict = LinkVerdict(name, use, Verdict.UNKNOWN, client_unknown_reason)
        elif not usab.usable:
            verdict = LinkVerdict(name, use, Verdict.BREAKS, usab.reason(), now)
        elif expired:
            first = min(expired, key=lambda c: c.not_after)
            verdict = LinkVerdict(
                name,
                use,
                Verdict.BREAKS,
                f"{first.subject} expired on {day(first.not_after)}",
                first.not_after,
            )
        elif early:
            verdict = LinkVerdict(
                name,
                use,
                Verdict.BREAKS,
                f"{early[0].subject} not valid before {day(early[0].not_before)}",
                now,
            )
        elif use is Use.CLIENT and sunset is not None:
            cutoff = dict(sunset.details).get("clientauth_cutoff")
            verdict = LinkVerdict(
                name,
                use,
                Verdict.AT_RISK,
                f"public certificate carries clientAuth until {day(path[0].not_after)}; "
                + (f"renewals from {cutoff} will not" if cutoff else "its replacement will not"),
                min(expiry, sunset.breaks_on) if sunset.breaks_on else expiry,
            )
        elif expiry - now <= warn:
            verdict = LinkVerdict(name, use, Verdict.AT_RISK, f"chain expires on {day(expiry)}", expiry)
        elif use is Use.SERVER and public_clients is not None:
            when = public_clients.breaks_on
            verdict = LinkVerdict(
                name,
                use,
                Verdict.AT_RISK,
                "accepts client certificates from public CAs: peers lose clientAuth"
                + (f", all by {day(when)}" if when else ""),
                when,
            )
        else:
            verdict = LinkVerdict(name, use, Verdict.OK, usab.reason())
        verdicts.append(verdict)
    return tuple(verdicts)


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: v.rank, default=Verdict.UNKNOWN)


def earliest_break(links: Iterable[LinkVerdict]) -> datetime | None:
    dates = [link.breaks_on for link in links if link.breaks_on is not None]
    return min(dates) if dates else None
