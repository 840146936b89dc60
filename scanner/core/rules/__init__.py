"""The rule engine and its rules; see ``registry.ALL_RULES`` and ``registry.ESTATE_RULES``."""

from scanner.core.rules._engine import (
    ChainUnderTest,
    EstateRule,
    Hit,
    HostIdentity,
    PublicClientCA,
    Rule,
    RuleContext,
    SightingFacts,
    SightingRule,
    evaluate,
    evaluate_estate,
    evaluate_sighting,
)
from scanner.core.rules.registry import ALL_RULES, ESTATE_RULES, EVERY_RULE, RULES_BY_CODE, SIGHTING_RULES

__all__ = [
    "ALL_RULES",
    "ESTATE_RULES",
    "EVERY_RULE",
    "RULES_BY_CODE",
    "SIGHTING_RULES",
    "ChainUnderTest",
    "EstateRule",
    "Hit",
    "HostIdentity",
    "PublicClientCA",
    "Rule",
    "RuleContext",
    "SightingFacts",
    "SightingRule",
    "evaluate",
    "evaluate_estate",
    "evaluate_sighting",
]
