"""The problem collector policy parsing uses: every bad field, with its JSON path, not just the first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from scanner.model import Version


class Checker:
    """Collects every problem with its JSON path instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def obj(self, value: Any, where: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(where, "must be an object")
            return None
        return value

    def text(self, value: Any, where: str, *, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(where, "must be a non-empty string" if required else "must be a string")
            return ""
        return value

    def day(self, value: Any, where: str, *, nullable: bool = False) -> date | None:
        if value is None and nullable:
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            self.fail(where, f"must be a date like 2027-03-15{' or null' if nullable else ''}, got {value!r}")
            return None

    def version(self, value: Any, where: str, *, nullable: bool = True) -> Version | None:
        if value is None and nullable:
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            return Version.parse(value)
        except ValueError:
            self.fail(where, f"must be a release like X15.4, got {value!r}")
            return None

    def items(self, value: Any, where: str) -> Iterator[tuple[str, Any]]:
        if not isinstance(value, list):
            self.fail(where, "must be a list")
            return
        for i, item in enumerate(value):
            yield f"{where}[{i}]", item

    def flag(self, value: Any, where: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(where, "must be true or false")
            return default
        return value

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        return tuple(self.text(item, path) for path, item in self.items(value, where))

    def unknown_keys(self, raw: dict[str, Any], known: set[str], where: str) -> None:
        for key in sorted(set(raw) - known):
            self.fail(f"{where}.{key}", "unknown field (misspelt?)")
