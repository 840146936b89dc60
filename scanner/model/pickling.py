"""Faster pickles of frozen slotted dataclasses: the state as a tuple, restored without ``fields()``.

``dataclass(frozen=True, slots=True)`` pickles through ``dataclasses._dataclass_getstate`` and
``_dataclass_setstate``, which call ``fields()`` for every object, both ways. The reports the
workers send back and the hosts read back from the spool are some forty such objects each,
and that call was most of the cost of pickling them. Pickles here never outlive the run (the
worker pipes, the spools), so the state's form is ours to choose; the classes themselves are
unchanged.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping
from typing import Any


def _state_functions(names: tuple[str, ...]) -> tuple[Callable[[Any], Any], Callable[[Any, Any], None]]:
    read = operator.attrgetter(*names)
    single = len(names) == 1

    def getstate(self: Any) -> Any:
        return (read(self),) if single else read(self)

    def setstate(self: Any, state: Any) -> None:
        for name, value in zip(names, state, strict=True):
            object.__setattr__(self, name, value)

    return getstate, setstate


def _pickles_by_fields(cls: type) -> bool:
    """A frozen slotted dataclass still pickling through the dataclasses module's functions."""
    setstate = cls.__dict__.get("__setstate__")
    return (
        dataclasses.is_dataclass(cls)
        and setstate is not None
        and getattr(setstate, "__module__", None) == "dataclasses"
    )


def fast_pickling(namespace: Mapping[str, Any]) -> None:
    """Give every frozen slotted dataclass defined in ``namespace`` (a module's ``globals()``)
    the tuple state; call it at the end of the module."""
    module = namespace["__name__"]
    for value in list(namespace.values()):
        if isinstance(value, type) and value.__module__ == module and _pickles_by_fields(value):
            names = tuple(field.name for field in dataclasses.fields(value))
            if names:
                getstate, setstate = _state_functions(names)
                type.__setattr__(value, "__getstate__", getstate)
                type.__setattr__(value, "__setstate__", setstate)


__all__ = ["fast_pickling"]
