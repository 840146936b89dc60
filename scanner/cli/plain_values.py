"""Option values converted without pydantic where typer's own conversion gives the same value.

typer 0.29 converts every option value, defaults included, through a pydantic ``TypeAdapter``
built on first use: importing pydantic and building the adapters cost a scan or an inspect
70-120 ms of CPU before any work (``bench/bench_startup.py``). The values ekuscan's options take
are plain: a string, a whole or decimal number in its range, a path, a choice spelled as its
value, a list of these. Those are converted here as typer's adapters convert them (for paths
and choices by typer's own checks, which need no pydantic); anything else (a malformed number,
one out of range, an unknown choice) goes on to typer's conversion, so its error messages stay
word for word. A typer without these internals (before 0.29, or a later rewrite) converts
everything itself: ``install`` then changes nothing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args, get_origin

try:
    from typer import _coercion, _param_types
    from typer import core as typer_core
except ImportError:  # no per-parameter runtime coercion in this typer: nothing to replace
    _coercion = _param_types = typer_core = None  # type: ignore[assignment]

# Spellings whose int() / float() is what pydantic's lax number parsing gives; the rest go to typer.
WHOLE = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?")


class NotPlain(Exception):
    """This value is typer's to convert (and, if it is wrong, to explain)."""


Converter = Callable[[Any, Any, Any], Any]  # (value, parameter, context) -> converted value


def _number(kind: type[int] | type[float], pattern: re.Pattern[str], info: Any) -> Converter:
    def convert(value: Any, parameter: Any, context: Any) -> Any:
        if type(value) is kind:
            number = value
        elif isinstance(value, str) and pattern.fullmatch(value):
            number = kind(value)
        else:
            raise NotPlain
        if (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
            raise NotPlain  # typer words the range
        return number

    return convert


def _text(value: Any, parameter: Any, context: Any) -> Any:
    if not isinstance(value, str):
        raise NotPlain
    return value


def _flag(value: Any, parameter: Any, context: Any) -> Any:
    if type(value) is not bool:
        raise NotPlain
    return value


def _choice(choices: list[Any], info: Any) -> Converter:
    def convert(value: Any, parameter: Any, context: Any) -> Any:
        try:
            return _param_types.coerce_cli_choice(
                value, choices=choices, case_sensitive=info.case_sensitive, ctx=context
            )
        except ValueError:
            raise NotPlain from None

    return convert


def _path(info: Any) -> Converter:
    path_type = info.path_type or Path

    def convert(value: Any, parameter: Any, context: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise NotPlain
        # typer's own checks (exists, readable, ...), given a Path so that they skip pydantic
        return _param_types.coerce_cli_path(
            Path(value), info, path_type=path_type, param=parameter, ctx=context
        )

    return convert


def _leaf(annotation: Any, info: Any) -> Converter | None:
    if info.parser is not None or info.clamp:
        return None
    if annotation is str:
        return _text
    if annotation is bool:
        return _flag
    if annotation is int:
        return _number(int, WHOLE, info)
    if annotation is float:
        return _number(float, DECIMAL, info)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _choice(list(annotation), info)
    if annotation is Path and info.path_type in (None, Path):
        return _path(info)
    return None


def _converter(annotation: Any, info: Any) -> Converter | None:
    if get_origin(annotation) is not list:
        return _leaf(annotation, info)
    item = _leaf(get_args(annotation)[0], info)
    if item is None:
        return None

    def convert(value: Any, parameter: Any, context: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise NotPlain
        return [item(one, parameter, context) for one in value]

    return convert


def _hook() -> Callable[[Any], Any] | None:
    """typer's ``get_runtime_param`` giving plain parameters a ``PlainValues``; None where this
    typer's internals are not the ones this was written against (nothing is then replaced)."""
    if typer_core is None:
        return None
    try:

        class PlainValues(_coercion.RuntimeParam):
            """typer's runtime conversion of one parameter, with plain values converted here first."""

            _descriptor: _coercion.TypeDescriptor
            _plain: Converter
            _typers: _coercion.RuntimeParam | None  # typer's own, built when a value is not plain

            def __init__(self, descriptor: _coercion.TypeDescriptor, plain: Converter) -> None:
                super().__init__(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
                object.__setattr__(self, "_descriptor", descriptor)  # a frozen dataclass, like its base
                object.__setattr__(self, "_plain", plain)
                object.__setattr__(self, "_typers", None)

            def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
                try:
                    return self._plain(value, param, ctx)
                except NotPlain:
                    pass
                typers = self._typers
                if typers is None:
                    typers = _coercion.build_runtime_param(self._descriptor)
                    object.__setattr__(self, "_typers", typers)
                return typers._coerce_value(value, param=param, ctx=ctx)

        _TYPERS_OWN = typer_core._TyperParameter.get_runtime_param

        def _plain_first(self: typer_core._TyperParameter) -> _coercion.RuntimeParam:
            """typer's ``get_runtime_param``, giving the parameter a ``PlainValues`` where its type allows."""
            descriptor = self.type_descriptor
            if self._runtime_param is None and descriptor.file_annotation is None:
                plain = _converter(descriptor.annotation, descriptor.parameter_info)
                if plain is not None:
                    self._runtime_param = PlainValues(descriptor, plain)
            return _TYPERS_OWN(self)
    except (AttributeError, TypeError):  # another typer: its own conversion does everything
        return None
    return _plain_first


_PLAIN_FIRST = _hook()


def install() -> None:
    """Let every typer parameter (help options too, which typer makes when parsing) convert plain
    values here; from then on for this process. Does nothing where typer has no such hook."""
    if _PLAIN_FIRST is None or not hasattr(typer_core, "_TyperParameter"):
        return
    if typer_core._TyperParameter.get_runtime_param is not _PLAIN_FIRST:
        typer_core._TyperParameter.get_runtime_param = _PLAIN_FIRST  # type: ignore[method-assign,assignment]
