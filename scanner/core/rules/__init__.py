"""The rule engine and its rules; see ``registry.ALL_RULES`` and ``registry.ESTATE_RULES``."""

from scanner.core.rules._engine import (
    ChainUnderTest,
    EstateRule,
    Hit,
    HostIdentity,
    PublicClientCA,
    Rule,
    RuleContext,
    evaluate,
    evaluate_estate,
)
from scanner.core.rules.registry import ALL_RULES, ESTATE_RULES, EVERY_RULE, RULES_BY_CODE

__all__ = [
    "ALL_RULES",
    "ESTATE_RULES",
    "EVERY_RULE",
    "RULES_BY_CODE",
    "ChainUnderTest",
    "EstateRule",
    "Hit",
    "HostIdentity",
    "PublicClientCA",
    "Rule",
    "RuleContext",
    "evaluate",
    "evaluate_estate",
]
