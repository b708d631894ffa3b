"""The import contract of kedro_krt: layers, the node package's boundary, no cycles.

Every import counts, at module level and inside functions (a function-level import hides a cycle
or an upward arrow, it does not remove it). The layers, from the bottom up, are those of
docs/explanation/architecture.md; `make lint` runs this file too.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "kedro_krt"

#: Bottom first. A module imports only modules of its own layer or of a layer below it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("node", ("kedro_krt", "kedro_krt.node")),
    ("support", ("kedro_krt.scratch", "kedro_krt.confschema")),
    ("formats", ("kedro_krt.formats",)),
    ("compiler", ("kedro_krt.compiler",)),
    ("emit, package", ("kedro_krt.emit", "kedro_krt.package")),
    ("jobs", ("kedro_krt.serve", "kedro_krt.handwritten", "kedro_krt.deploy")),
    ("cli", ("kedro_krt.cli",)),
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            if target == "kedro_krt" or target.startswith("kedro_krt."):
                resolved = _resolve(target)
                if resolved and resolved != module:
                    out.add(resolved)
    return out


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def layer_of(module: str) -> int:
    best, index = "", -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, index = prefix, i
    if index < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return index


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_no_module_imports_a_higher_layer() -> None:
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} "
        f"({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_the_node_package_imports_nothing_outside_itself() -> None:
    # What a .krt carries under lib/ is kedro_krt/__init__.py and kedro_krt/node/: a node that
    # imported anything else would fail in the pod, not here.
    outside = [
        f"{module} imports {target}"
        for module, targets in sorted(GRAPH.items())
        if module.startswith("kedro_krt.node")
        for target in sorted(targets)
        if not (target == "kedro_krt" or target.startswith("kedro_krt.node"))
    ]
    assert outside == []
    assert _imports("kedro_krt", MODULES["kedro_krt"]) == set()


def test_no_import_cycle() -> None:
    # A package's __init__ that re-exports its modules is not a cycle of theirs.
    graph = {
        module: {t for t in targets if MODULES[t].name != "__init__.py"}
        for module, targets in GRAPH.items()
    }
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
