"""The package layout holds: every module imports on its own, the imports form no cycle, and they point one way,
down the layers workflow -> metagame -> learning -> battles -> gen1 -> core (the CLI on top), as each package's
docstring says."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pokepsro

PACKAGE_ROOT = Path(pokepsro.__file__).resolve().parent
LAYERS = ("core", "gen1", "battles", "learning", "metagame", "workflow", "cli")  # each may import only those before it


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module -> the pokepsro modules it imports anywhere (inside functions and TYPE_CHECKING blocks too)."""
    modules = module_files()
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{path}: relative import; import by absolute name, so the layers show")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pokepsro"):
                for alias in node.names:  # `from package import module` imports that module
                    submodule = f"{node.module}.{alias.name}"
                    imported.add(submodule if submodule in modules else node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name.startswith("pokepsro"))
        graph[name] = imported - {name}
    return graph


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_imports_on_its_own():
    """A fresh interpreter per module: an import that works only after another module was imported fails here."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT.parent), os.environ.get("PYTHONPATH", "")])}

    def import_alone(module: str) -> tuple[str, subprocess.CompletedProcess]:
        return module, subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True,
                                      env=env, timeout=300, check=False)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(import_alone, module_files()))
    failed = {module: run.stderr.strip().splitlines()[-1:] for module, run in results if run.returncode != 0}
    assert not failed, failed


def test_the_imports_form_no_cycle():
    graph = import_graph()
    state: dict[str, str] = {}  # "open" while on the DFS path, "done" after

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_every_module_lives_in_a_layer():
    """A module outside the layer packages (or the CLI) has no place in the import order: move it into one."""
    homeless = [module for module in module_files() if module != "pokepsro" and layer(module) not in LAYERS]
    assert not homeless, homeless


def test_imports_point_down_the_layers():
    rank = {name: k for k, name in enumerate(LAYERS)}
    upward = [f"{module} -> {target}" for module, targets in import_graph().items() for target in targets
              if layer(module) in rank and rank.get(layer(target), len(LAYERS)) > rank[layer(module)]]
    assert not upward, upward


def test_each_package_docstring_names_what_it_may_import():
    """The `May import:` line of each package is the layering above, so the docs cannot drift from the code."""
    for k, name in enumerate(LAYERS):
        init = PACKAGE_ROOT / name / "__init__.py"
        if not init.exists():
            continue
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "Owns:" in docstring, f"{init}: the docstring says what the package owns"
        may_import = re.search(r"May import:(.*)", docstring, re.DOTALL)
        assert may_import, f"{init}: the docstring says what the package may import"
        named = set(re.findall(r"`pokepsro\.(\w+)`", may_import.group(1)))
        assert named == set(LAYERS[:k]), f"{init}: may import {sorted(named)}, the layers say {LAYERS[:k]}"
