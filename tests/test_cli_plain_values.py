"""scanner.cli.plain_values: every value it converts comes out as typer's own conversion makes it.

Each parameter of every command, with values a user may type (well formed or not): where the
plain conversion takes a value, typer's (pydantic's) conversion must give the same value of the
same type, or the same error; where it declines, typer converts it as before.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer
import typer.main

from scanner.cli import plain_values
from scanner.cli.main import app
from tests.conftest import REALCERTS

typer_coercion = pytest.importorskip("typer._coercion", reason="this typer converts without pydantic")

TYPED = [
    "",
    "0",
    "1",
    "-1",
    "007",
    "+5",
    " 5",
    "5 ",
    "1e3",
    "0.05",
    "5.",
    ".5",
    "1_000",
    "65536",
    "65537",
    "nan",
    "inf",
    "600.5",
    "json",
    "JSON",
    "expressway-c",
    "breaks",
    "at-risk",
    "client",
    "-",
    "a.pem",
    "/no/such/dir/x.pem",
    str(REALCERTS),
    str(REALCERTS / "letsencrypt-org-leaf.pem"),
    "caf\u00e9",
    "127.0.0.1:8443",
]
DEFAULTS: list[Any] = [0, 5, 512, 0.05, 5.0, 7.0, True, False]


def every_parameter() -> Iterator[tuple[typer.core.TyperCommand, Any]]:
    todo = [typer.main.get_command(app)]
    while todo:
        command = todo.pop()
        todo += list(getattr(command, "commands", {}).values())
        yield from ((command, parameter) for parameter in command.params)


def converted(convert: Any, value: Any, parameter: Any, context: typer.Context) -> tuple[str, Any]:
    try:
        return "value", convert(value, parameter, context)
    except typer_coercion.BadParameter as exc:
        return "error", exc.format_message()


def typers_conversion(typers: Any) -> Any:
    return lambda value, parameter, context: typers._coerce_value(value, param=parameter, ctx=context)


def test_plain_values_convert_as_typer_does() -> None:
    checked = 0
    for command, parameter in every_parameter():
        descriptor = parameter.type_descriptor
        plain = plain_values._converter(descriptor.annotation, descriptor.parameter_info)
        if plain is None or descriptor.file_annotation is not None:
            continue
        typers = typer_coercion.build_runtime_param(descriptor)
        context = typer.Context(command)
        is_list = parameter.nargs == -1 or parameter.multiple
        values = [(one,) for one in TYPED] + [tuple(TYPED[:3]), ()] if is_list else [*TYPED, *DEFAULTS]
        for value in values:
            try:
                mine = converted(plain, value, parameter, context)
            except plain_values.NotPlain:
                continue
            theirs = converted(typers_conversion(typers), value, parameter, context)
            assert mine == theirs, (command.name, parameter.name, value)
            assert type(mine[1]) is type(theirs[1]), (command.name, parameter.name, value)
            checked += 1
    assert checked > 300  # the table above reaches most parameters with several values


def test_a_command_run_loads_no_pydantic() -> None:
    """inspect parses a path argument, a choice and the help option: plain values, no pydantic."""
    leaf = str(REALCERTS / "letsencrypt-org-leaf.pem")
    code = (
        "import atexit, sys; "
        "atexit.register(lambda: print('pydantic' in sys.modules)); "
        f"from scanner.cli import main; main(['inspect', {leaf!r}, '-f', 'json', '--fail-on', 'never'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "False"
