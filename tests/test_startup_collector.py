"""The collector is paused while ``scan`` and ``report`` start, and on whenever a command works.

``scanner.app.startup``: those two pause the cyclic collector before they load their
application modules and resume it when they freeze their start-up heap; ``main`` resumes it
for one that ends before its freeze; the other commands never pause. A command left paused
would run its whole job without collections, so each command is run here in a process of
its own and asked at the moment its work begins.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.edge import heap

LEAF = Path(__file__).parent / "data" / "realcerts" / "letsencrypt-org-leaf.pem"


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    heap.resume_collections()
    if not was:
        gc.disable()


def test_pause_and_resume(collector_on: None) -> None:
    heap.pause_collections()
    assert not gc.isenabled()
    heap.resume_collections()
    assert gc.isenabled()
    heap.resume_collections()  # a second resume changes nothing
    assert gc.isenabled()


def test_freezing_the_start_up_heap_resumes_the_collector(collector_on: None) -> None:
    heap.pause_collections()
    heap.freeze_startup_heap()
    assert gc.isenabled()


def test_a_collector_the_caller_had_off_stays_off(collector_on: None) -> None:
    gc.disable()
    heap.pause_collections()
    heap.resume_collections()
    heap.freeze_startup_heap()
    assert not gc.isenabled()


# (argv, module, function): the function is where the command's work begins.
RESUMED_ON_LOAD = {
    "inspect": ([str(LEAF), "-f", "json"], "scanner.app.inspect", "run_inspect"),
    "rules": ([], "scanner.app.catalogue", "rules_text"),
    "policy": (["show"], "scanner.app.catalogue", "policy_text"),
    "diff": (["--db", "{tmp}/h.sqlite"], "scanner.app.history", "diff_runs"),
    "history": (["h.example:7001", "--db", "{tmp}/h.sqlite"], "scanner.app.history", "endpoint_history"),
    "lab": (["--duration", "1"], "scanner.app.lab_service", "run_lab"),
    "listen": (["--duration", "1"], "scanner.app.listen", "run_listen"),
}
# These pause, and resume when they freeze their start-up heap, before their work.
RESUMED_ON_FREEZE = {
    "scan": (["127.0.0.1:9", "--timeout", "1", "-f", "json", "-o", "{tmp}/out.json"], "scanner.app.scan"),
    "report": (["--db", "{tmp}/missing.sqlite"], "scanner.app.report"),
}

PROBE = """
import atexit, gc, importlib, json, sys
seen = []
module = importlib.import_module({module!r})
original = getattr(module, {function!r})
def wrapped(*args, **kwargs):
    seen.append(gc.isenabled())
    result = original(*args, **kwargs) if {call!r} else sys.exit(0)
    seen.append(gc.isenabled())
    return result
setattr(module, {function!r}, wrapped)
atexit.register(lambda: print(json.dumps({{"seen": seen, "at_exit": gc.isenabled()}})))
from scanner.cli import main
main({argv!r})
"""


def _run(tmp_path: Path, argv: list[str], module: str, function: str, call: bool) -> dict[str, object]:
    argv = [part.format(tmp=tmp_path) for part in argv]
    code = PROBE.format(module=module, function=function, call=call, argv=argv)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip(), result.stderr  # the probe prints its line at exit
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("command", sorted(RESUMED_ON_LOAD))
def test_a_command_works_with_the_collector_on(tmp_path: Path, command: str) -> None:
    argv, module, function = RESUMED_ON_LOAD[command]
    seen = _run(tmp_path, [command, *argv], module, function, call=False)
    assert seen == {"seen": [True], "at_exit": True}


@pytest.mark.parametrize("command", sorted(RESUMED_ON_FREEZE))
def test_scan_and_report_resume_when_they_freeze(tmp_path: Path, command: str) -> None:
    argv, module = RESUMED_ON_FREEZE[command]
    seen = _run(tmp_path, [command, *argv], module, "freeze_startup_heap", call=True)
    assert seen == {"seen": [False, True], "at_exit": True}


def test_a_scan_that_ends_before_its_freeze_leaves_the_collector_on(tmp_path: Path) -> None:
    seen = _run(tmp_path, ["scan", "not a target!"], "scanner.app.scan", "freeze_startup_heap", call=True)
    assert seen == {"seen": [], "at_exit": True}


def test_every_command_is_checked() -> None:
    """A new command joins one of the tables above, or its resume goes untested."""
    from scanner.cli.main import app

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    names |= {g.name or "" for g in app.registered_groups}
    assert names == set(RESUMED_ON_LOAD) | set(RESUMED_ON_FREEZE)
