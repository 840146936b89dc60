"""What ekuscan knows, as text for people: every finding code (``ekuscan rules``) and the policy in force."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from scanner.app.errors import UsageFailure
from scanner.app.inputs import load_policy
from scanner.core.rules import EVERY_RULE, RULES_BY_CODE
from scanner.edge.files import packaged_policy_text
from scanner.report.safety import json_text


def rules_text(code: str | None) -> str:
    """Every rule with its severity and doc, or one rule in full with its fix."""
    if code is None:
        lines: list[str] = []
        for r in EVERY_RULE:
            lines.append(f"{r.code}  ({r.severity.label}): {r.summary}")
            lines += [textwrap.indent(textwrap.fill(p, 100), "    ") for p in _paragraphs(r.doc)]
            lines.append("")
        lines.append("'ekuscan rules CODE' shows one rule in full, with its fix.")
        return "\n".join(lines) + "\n"
    found = RULES_BY_CODE.get(code.upper())
    if found is None:
        raise UsageFailure(f"unknown finding code {code!r}; 'ekuscan rules' lists them")
    text = f"{found.code} ({found.severity.label}): {found.summary}\n\n{found.doc}\n"
    return text + (f"\nFix: {found.fix}\n" if found.fix else "")


def _paragraphs(doc: str) -> list[str]:
    return [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]


def policy_text(policy_file: Path | None) -> str:
    """The packaged policy as shipped, or ``--policy FILE`` after validation, as JSON."""
    if policy_file is None:
        return packaged_policy_text()
    return json_text(json.dumps(load_policy(policy_file).document, indent=1, ensure_ascii=False)) + "\n"
