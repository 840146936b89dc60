"""The project's own files: what they reference must exist, and the layers must hold."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import yaml

from scanner.core.targets import parse_csv
from tests.conftest import REPO

PURE_MODULES = [
    "model",
    "core/targets",
    "core/certs",
    "core/trust",
    "core/usage",
    "core/policy",
    "core/verdict",
    "core/analysis",
    "protocol/sip",
    "protocol/http",
    "core/software",
    "core/hosts",
    "core/rules/_engine",
    "core/rules/eku",
    "core/rules/validity",
    "core/rules/chain",
    "core/rules/handshake",
    "core/rules/release",
    "core/rules/estate",
    "core/rules/registry",
]
IO_PACKAGES = {
    "trio",
    "OpenSSL",
    "socket",
    "scanner.edge.net",
    "scanner.edge.pool",
    "scanner.cli",
    "scanner.lab",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_pure_modules_import_no_io():
    for module in PURE_MODULES:
        imports = imported_modules(REPO / "scanner" / f"{module}.py")
        bad = {name for name in imports if any(name == p or name.startswith(f"{p}.") for p in IO_PACKAGES)}
        assert not bad, f"scanner/{module}.py imports {bad}"


def test_only_the_cli_reads_the_clock():
    for path in (REPO / "scanner").rglob("*.py"):
        if path.parent.name in ("cli", "lab"):  # the lab's PKI is dated from its own start
            continue
        assert not re.search(r"datetime\.now\(|time\.time\(", path.read_text()), path


def test_docker_compose_references_exist():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"lab", "scan"} <= services.keys()
    assert services["scan"]["network_mode"] == "service:lab"
    assert (REPO / services["lab"]["build"] / "Dockerfile").exists()
    assert services["scan"]["image"] == services["lab"]["image"]
    for volume in services["lab"]["volumes"] + services["scan"]["volumes"]:
        assert volume.split(":")[0] in compose["volumes"]
    # The commands are real ekuscan commands with real options.
    for name in ("lab", "scan"):
        command = services[name]["command"]
        result = subprocess.run(
            [sys.executable, "-m", "scanner", command[0], "--help"],
            capture_output=True,
            text=True,
            check=False,
            env={"COLUMNS": "200", "PATH": ""},
            timeout=60,
        )
        assert result.returncode == 0
        for option in (c for c in command if c.startswith("--")):
            assert option in result.stdout, (name, option)
    # What the scan reads is what the lab writes.
    lab_targets = services["lab"]["command"][services["lab"]["command"].index("--write-targets") + 1]
    scan_command = services["scan"]["command"]
    assert scan_command[scan_command.index("-i") + 1] == lab_targets
    assert scan_command[scan_command.index("--public-roots") + 1] == lab_targets.replace(
        ".csv", "-public-root.pem"
    )


def test_dockerfile_copies_what_exists():
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source


def test_example_targets_parse():
    specs = parse_csv((REPO / "targets.example.csv").read_text().splitlines(), "targets.example.csv")
    assert len(specs) >= 5
    assert {s.role.value for s in specs if s.role} >= {"expressway-c", "expressway-e", "cucm", "cube"}
    assert any(s.kind.value == "range" for s in specs)


def test_readme_commands_exist_in_the_makefile():
    makefile = (REPO / "Makefile").read_text()
    readme = (REPO / "README.md").read_text()
    for target in set(re.findall(r"make ([a-z]+)", readme)):
        assert re.search(rf"^{target}:", makefile, re.M), target
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
    assert readme.index("make demo") < readme.index("## Three jobs")


def test_a_plain_scan_does_not_load_the_history_store_or_report_writers():
    """Start-up time and memory: --db, diff, history, -f prometheus and -f html load their code when used."""
    code = (
        "import sys, scanner.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('scanner.store', 'scanner.core.changes', "
        "'scanner.writers.html', 'scanner.writers.prometheus', 'prometheus_client', 'psycopg'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
