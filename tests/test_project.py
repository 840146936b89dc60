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

# The layers (DESIGN.md section 9), by module prefix: what each may import from scanner.
LAYERS: dict[str, set[str]] = {
    "scanner.model": set(),
    "scanner.core": {"scanner.model", "scanner.core"},
    "scanner.protocol": {"scanner.model", "scanner.core", "scanner.protocol"},
    "scanner.report": {"scanner.model", "scanner.core", "scanner.report"},
    "scanner.edge": {"scanner.model", "scanner.core", "scanner.protocol", "scanner.report", "scanner.edge"},
    "scanner.writers": {"scanner.model", "scanner.report", "scanner.writers"},
    "scanner.store": {"scanner.model", "scanner.report", "scanner.store"},
    "scanner.lab": {"scanner.model", "scanner.core", "scanner.protocol", "scanner.edge", "scanner.lab"},
    "scanner.app": {
        "scanner",  # the version
        "scanner.model",
        "scanner.core",
        "scanner.protocol",
        "scanner.report",
        "scanner.edge",
        "scanner.writers",
        "scanner.store",
        "scanner.lab",
        "scanner.app",
    },
    "scanner.cli": {"scanner", "scanner.model", "scanner.app", "scanner.cli"},
    "scanner.__main__": {"scanner.cli"},
    "scanner": set(),  # the package's __init__: the version only
}
# What the pure layers never touch: the network, processes, files, the OS, serialisation to disk.
IO_MODULES = {"trio", "OpenSSL", "socket", "ssl", "subprocess", "tempfile", "pickle", "os", "sqlite3"}
IO_MODULES |= {"psycopg", "threading", "signal", "fcntl", "resource", "importlib", "shutil", "select"}
PURE_PREFIXES = ("scanner.model", "scanner.core", "scanner.report")
NO_TRIO_OR_SOCKETS = ("scanner.protocol", "scanner.writers")
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 80
# The one narrated core loop allowed to be longer (trio's ``_ssl.py`` ``_retry`` is the model).
LONG_FUNCTIONS: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def scanner_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((REPO / "scanner").rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function, with ``from x import y``
    counted as ``x.y`` where that is a module of ours (``from scanner.cli import commands``)."""
    tree = ast.parse(path.read_text())
    ours = scanner_modules()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in ours)
    return names


def layer_of(module: str) -> str:
    return max((prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")), key=len)


def test_every_module_belongs_to_a_layer():
    for module in scanner_modules():
        assert layer_of(module), module


def test_layers_import_only_what_the_table_allows():
    problems = []
    for module, path in scanner_modules().items():
        allowed = LAYERS[layer_of(module)]
        for name in imported_modules(path):
            if name == "scanner" or name.startswith("scanner."):
                target = layer_of(name)
                if target != layer_of(module) and target not in allowed and name not in allowed:
                    problems.append(f"{module} imports {name}")
    assert not problems, "\n".join(problems)


def test_pure_layers_do_no_io():
    problems = []
    for module, path in scanner_modules().items():
        if module.startswith(PURE_PREFIXES):
            forbidden = IO_MODULES
        elif module.startswith(NO_TRIO_OR_SOCKETS):
            forbidden = {"trio", "socket", "subprocess"}
        else:
            continue
        problems += [f"{module} imports {n}" for n in imported_modules(path) if n.split(".")[0] in forbidden]
    assert not problems, "\n".join(problems)


def test_no_import_cycles():
    ours = scanner_modules()
    graph = {
        module: {n for n in imported_modules(path) if n in ours and n != module and n != "scanner"}
        for module, path in ours.items()
    }
    # A package's __init__ importing its own submodules is how packages re-export, not a cycle.
    for module in graph:
        graph[module] = {n for n in graph[module] if not n.startswith(module + ".")}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_files_and_functions_stay_small():
    problems = []
    for module, path in scanner_modules().items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_FILE_LINES:
            problems.append(f"{path.relative_to(REPO)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES and (module, node.name) not in LONG_FUNCTIONS:
                    problems.append(f"{module}.{node.name}: {length} lines")
    assert not problems, "\n".join(problems)


def test_every_module_says_what_it_is_for():
    for module, path in scanner_modules().items():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and doc.strip(), f"{module} has no docstring"


def test_module_names_say_one_thing():
    """No two modules share a basename in different folders (``eku.py`` beside ``rules/eku.py``)."""
    seen: dict[str, str] = {}
    for module, path in scanner_modules().items():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        assert path.stem not in seen, f"{module} and {seen[path.stem]}"
        seen[path.stem] = module


def test_only_the_cli_reads_the_clock():
    for module, path in scanner_modules().items():
        if layer_of(module) in ("scanner.cli", "scanner.lab"):  # the lab's PKI is dated from its own start
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
    assert scan_command[scan_command.index("--intermediates") + 1] == lab_targets.replace(
        ".csv", "-intermediates.pem"
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
        "import sys, scanner.cli, scanner.app.scan; "
        "print(sorted(m for m in sys.modules if m.startswith(('scanner.store', 'scanner.core.changes', "
        "'scanner.report.change_documents', 'scanner.app.history', 'scanner.writers.html', "
        "'scanner.writers.prometheus', 'prometheus_client', 'psycopg'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_cli_loads_a_command_s_code_only_when_it_runs():
    """Start-up: typer reads every command's options even for --version, so the option declarations
    import no command's code; trio, OpenSSL, cryptography and the analysis load when a command runs."""
    code = (
        "import atexit, sys; "
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('trio', 'OpenSSL', 'cryptography', 'tabulate', 'certifi', 'pydantic') "
        "or m.startswith(('scanner.core', 'scanner.protocol', 'scanner.edge.pool', 'scanner.writers', "
        "'scanner.app.scan', 'scanner.app.inspect', 'scanner.app.inputs'))))); "
        "from scanner.cli import main; main(['--version'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"


def test_inspect_runs_no_event_loop():
    """Start-up: an inspect without --fetch-issuers (and a -f json run) loads neither trio nor tabulate."""
    leaf = REPO / "tests" / "data" / "realcerts" / "letsencrypt-org-leaf.pem"
    code = (
        "import atexit, sys; "
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('trio', 'OpenSSL', 'tabulate')))); "
        f"from scanner.cli import main; main(['inspect', {str(leaf)!r}, '-f', 'json', '--fail-on', 'never'])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"
