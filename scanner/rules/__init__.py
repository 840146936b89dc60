"""The rule engine and its rules; see ``registry.ALL_RULES``."""

from scanner.rules._engine import ChainUnderTest, Hit, Rule, RuleContext, evaluate
from scanner.rules.registry import ALL_RULES, RULES_BY_CODE

__all__ = ["ALL_RULES", "RULES_BY_CODE", "ChainUnderTest", "Hit", "Rule", "RuleContext", "evaluate"]
