"""The README's crontab line and systemd units work as written (paths moved into a temporary directory)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.store import RunStatus, open_store
from tests import test_cli
from tests.conftest import REPO

lab_files = test_cli.lab_files  # the lab's targets CSV and public root (a fixture)

README = (REPO / "README.md").read_text()


def block(language: str, after: str) -> str:
    start = README.index(after)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(README, start)
    assert match, f"no ```{language} block after {after!r}"
    return match.group(1)


def relocate(text: str, tmp_path: Path, targets: Path) -> str:
    """The README's system paths, moved under tmp_path; the installed ekuscan is this interpreter's."""
    for system_path, here in (
        ("/etc/ekuscan/targets.csv", targets),
        ("/var/lib/node_exporter/textfile_collector", tmp_path / "textfile"),
        ("/var/lib/ekuscan", tmp_path / "state"),
    ):
        text = text.replace(system_path, str(here))
    return text


def run_ekuscan_line(line: str, root: Path, env: dict[str, str] | None = None):
    argv = shlex.split(line)
    assert argv[0] == "/opt/ekuscan/bin/ekuscan"
    return test_cli.ekuscan(*argv[1:], "--public-roots", str(root), "--timeout", "1.5", env=env)


def test_the_crontab_line_records_reports_and_is_quiet_the_second_night(lab_files, tmp_path):
    targets, root = lab_files
    (line,) = [ln for ln in block("crontab", "### Cron").splitlines() if ln and not ln.startswith("#")]
    minute, hour, dom, month, dow, command = line.split(maxsplit=5)
    assert (minute, hour, dom, month, dow) == ("17", "2", "*", "*", "*") and "%" not in command
    command = relocate(command, tmp_path, targets)
    (tmp_path / "state").mkdir()
    (tmp_path / "textfile").mkdir()
    first, second = run_ekuscan_line(command, root), run_ekuscan_line(command, root)
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert "endpoints appeared" in first.stdout and first.stderr == ""
    assert second.stdout == "" and second.stderr == ""  # a quiet night mails nothing
    assert "ekuscan_link_breaks{" in (tmp_path / "textfile" / "ekuscan.prom").read_text()
    with open_store(str(tmp_path / "state" / "history.sqlite")) as store:
        assert [r.status for r in store.runs()] == [RunStatus.COMPLETE] * 2


def test_the_systemd_service_runs_as_written(lab_files, tmp_path):
    targets, root = lab_files
    service = relocate(block("ini", "`/etc/systemd/system/ekuscan.service`"), tmp_path, targets)
    env = dict(re.findall(r"^Environment=(\w+)=(\S+)$", service, re.M))
    (exec_start,) = re.findall(r"^ExecStart=(.+)$", service, re.M)
    (tmp_path / "state").mkdir()
    result = run_ekuscan_line(exec_start, root, env=env)
    assert result.returncode == 0, result.stderr
    assert "run-recorded run=1" in result.stderr  # journald keeps the log lines
    assert "<svg" in (tmp_path / "state" / "report.html").read_text()
    assert Path(env["EKUSCAN_DB"]).exists()


def test_the_systemd_units_verify(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    units = tmp_path / "units"
    units.mkdir()
    service = block("ini", "`/etc/systemd/system/ekuscan.service`")
    # the unit must name an executable that exists for verify to pass: this interpreter's ekuscan
    script = Path(sys.executable).with_name("ekuscan")
    (units / "ekuscan.service").write_text(service.replace("/opt/ekuscan/bin/ekuscan", str(script)))
    (units / "ekuscan.timer").write_text(block("ini", "`/etc/systemd/system/ekuscan.timer`"))
    result = subprocess.run(
        [analyze, "verify", str(units / "ekuscan.service"), str(units / "ekuscan.timer")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # a line-level complaint (unknown key, bad value) is only a warning to verify: none allowed
    assert not re.search(r"ekuscan\.(service|timer):\d+:", result.stderr), result.stderr
    calendar = subprocess.run(
        [analyze, "calendar", "*-*-* 02:17:00"], capture_output=True, text=True, timeout=30, check=False
    )
    assert calendar.returncode == 0 and "02:17:00" in calendar.stdout
