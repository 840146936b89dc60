"""The tuple state of frozen slotted dataclasses (model/pickling.py): every class that has it round-trips."""

from __future__ import annotations

import dataclasses
import importlib
import pickle
import sys
import types
from datetime import UTC, datetime

import pytest

from scanner.model import Endpoint, EndpointReport, Observation, Role, Status
from scanner.model.pickling import fast_pickling

MODULES = [
    "scanner.model",
    "scanner.model.product",
    "scanner.report.host_report",
    "scanner.report.inventory",
    "scanner.core.peers",
    "scanner.core.name_match",
    "scanner.app.report_judging",
    "scanner.store.latest",
]


@pytest.mark.parametrize("name", MODULES)
def test_every_frozen_slotted_dataclass_of_the_module_has_the_tuple_state(name: str) -> None:
    module = importlib.import_module(name)
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == name
        and dataclasses.is_dataclass(value)
        and "__setstate__" in value.__dict__
    ]
    assert classes, f"{name} has no frozen slotted dataclass: take it off the list"
    for cls in classes:
        assert cls.__dict__["__setstate__"].__module__ == "scanner.model.pickling", cls


def test_a_report_round_trips_equal() -> None:
    endpoint = Endpoint(target="h", host="h", ip="127.0.0.1", port=5061, role=Role.EXPRESSWAY, label="pair")
    observation = Observation(endpoint, Status.CLOSED, error="refused", chain_der=(b"\x30\x00",))
    for value in (endpoint, observation):
        assert pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL)) == value
    assert EndpointReport.__dict__["__setstate__"].__module__ == "scanner.model.pickling"


def test_one_field_and_inheritance(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("one_field")
    monkeypatch.setitem(sys.modules, "one_field", module)
    exec(
        "import dataclasses\n"
        "@dataclasses.dataclass(frozen=True, slots=True)\n"
        "class One:\n    x: int\n"
        "@dataclasses.dataclass(frozen=True, slots=True)\n"
        "class Two(One):\n    y: str = 'y'\n",
        module.__dict__,
    )
    fast_pickling(module.__dict__)
    one, two = module.One(1), module.Two(2, "z")
    assert one.__getstate__() == (1,) and two.__getstate__() == (2, "z")
    assert pickle.loads(pickle.dumps(one)) == one
    assert pickle.loads(pickle.dumps(two)) == two


def test_a_datetime_field_keeps_its_zone() -> None:
    from datetime import timedelta

    from scanner.model import Sighting

    sighting = Sighting("jump-1", 3, datetime(2026, 12, 1, tzinfo=UTC), timedelta(days=1), False, False, True)
    assert pickle.loads(pickle.dumps(sighting)) == sighting
