"""Shape of the core: no Prefect import anywhere in `evmdigest`, and no import circle between its modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import evmdigest


def test_core_package_never_imports_prefect() -> None:
    code = (
        "import importlib, pkgutil, sys, evmdigest\n"
        "for m in pkgutil.walk_packages(evmdigest.__path__, 'evmdigest.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n == 'prefect' or n.startswith('prefect.'))\n"
        "print(len(bad)); sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _module_imports() -> dict[str, set[str]]:
    """evmdigest module -> the evmdigest modules it imports, TYPE_CHECKING and function-local imports included."""
    root = Path(evmdigest.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name}: use absolute imports"
                base = node.module or ""
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names)
        graph[name] = {target for target in targets if target in modules and target != name}
    return graph


def test_no_import_circle_in_the_core() -> None:
    graph = _module_imports()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                raise AssertionError("import circle: " + " -> ".join([*path[path.index(target) :], target]))
            if target not in state:
                visit(target)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
