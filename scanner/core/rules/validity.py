"""Validity-window rules over every certificate of the path."""

from __future__ import annotations

from collections.abc import Sequence

from scanner.core.rules._engine import EVERY_USE, ChainUnderTest, Hit, RuleContext, day, rule
from scanner.model import EffectKind, LinkEffect, Severity


def _which(index: int) -> str:
    return "leaf" if index == 0 else "CA certificate"


@rule(
    "EXPIRED",
    Severity.CRITICAL,
    "a certificate of the chain is past its notAfter",
    fix="Install a renewed certificate (and the issuing chain) now.",
)
def expired(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """A certificate in the path (leaf or CA) expired before the evaluation time.

    Every link that uses the chain fails: peers reject expired certificates on both sides of
    mutual TLS. Evaluated at ``--at`` when given, so a future date shows what will have expired.
    """
    return tuple(
        Hit(
            f"{_which(i)} {c.subject} expired on {day(c.not_after)}",
            c.sha256,
            # The links broke on that day; the first certificate to have expired is the one shown.
            effect=LinkEffect(
                EffectKind.EXPIRED, EVERY_USE, f"{c.subject} expired on {day(c.not_after)}", c.not_after
            ),
        )
        for i, c in enumerate(chain.path)
        if c.not_after < ctx.now
    )


@rule(
    "NOT_YET_VALID",
    Severity.HIGH,
    "a certificate of the chain is not valid until a later date",
    fix="Check the host's clock and the certificate's notBefore; peers reject it until then.",
)
def not_yet_valid(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """A certificate in the path has a notBefore after the evaluation time."""
    return tuple(
        Hit(
            f"{_which(i)} {c.subject} is not valid before {day(c.not_before)}",
            c.sha256,
            # The links fail now, at the evaluation time, whatever the day it becomes valid.
            effect=LinkEffect(
                EffectKind.NOT_YET_VALID,
                EVERY_USE,
                f"{c.subject} not valid before {day(c.not_before)}",
                ctx.now,
            ),
        )
        for i, c in enumerate(chain.path)
        if c.not_before > ctx.now
    )


@rule(
    "EXPIRES_SOON",
    Severity.MEDIUM,
    "a certificate of the chain expires within the warning window (--warn-days)",
    fix="Renew before the date shown; if the host dials out with mutual TLS, make sure the renewal "
    "still carries clientAuth.",
)
def expires_soon(chain: ChainUnderTest, ctx: RuleContext) -> Sequence[Hit]:
    """A certificate in the path expires within ``--warn-days`` of the evaluation time.

    Already expired certificates are reported by EXPIRED instead.
    """
    hits = []
    for i, c in enumerate(chain.path):
        remaining = c.not_after - ctx.now
        if remaining.total_seconds() >= 0 and remaining <= ctx.warn:
            hits.append(
                Hit(
                    f"{_which(i)} {c.subject} expires on {day(c.not_after)} ({remaining.days} days)",
                    c.sha256,
                    # Every link works until the chain's first certificate expires: the earliest wins.
                    effect=LinkEffect(
                        EffectKind.EXPIRES_SOON,
                        EVERY_USE,
                        f"chain expires on {day(c.not_after)}",
                        c.not_after,
                    ),
                )
            )
    return hits
