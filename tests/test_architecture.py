"""The layers of docs/architecture.md, checked on the source: which package may
import which, and no import cycle anywhere (imports inside functions count;
imports under ``if TYPE_CHECKING:`` count for the layers, not for cycles: they
never run, so they are how a module names a type of a module that imports it).

The rule of each layer is one entry of ALLOWED; a module's layer is the
longest entry of LAYERS that names it or a package above it.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lava_convdelay", "netx_export", "sim")

#: module (or package) -> layer
LAYERS = {
    "lava_convdelay": "foundation",  # errors, bounds, atomic, limits, hdf5 safety: no project imports
    "lava_convdelay.nn": "nn",
    "lava_convdelay.data": "data",
    "lava_convdelay.training": "training",
    "lava_convdelay.app": "app",
    "lava_convdelay.cli": "cli",
    "netx_export": "netx_export",
    "sim": "sim",
    "sim.cpu": "sim.cpu",
    "sim.loihi2": "sim.loihi2",
}
#: layer -> the layers it may import (its own always)
ALLOWED = {
    "foundation": set(),
    "nn": {"foundation"},
    "data": {"foundation"},
    "training": {"foundation", "nn", "data"},
    "netx_export": {"foundation", "nn", "data"},
    "sim": {"foundation", "nn", "data", "netx_export"},
    "sim.cpu": {"foundation", "nn", "data", "netx_export", "sim"},
    "sim.loihi2": {"foundation", "nn", "data", "netx_export", "sim"},
    "app": {"foundation", "nn", "data", "training", "netx_export", "sim", "sim.cpu", "sim.loihi2"},
    "cli": {"foundation", "nn", "data", "training", "netx_export", "sim", "sim.cpu", "sim.loihi2", "app"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    best = max((name for name in LAYERS if module == name or module.startswith(name + ".")), key=len)
    return LAYERS[best]


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """The nodes under ``if TYPE_CHECKING:`` blocks."""
    return {inner for node in ast.walk(tree) if isinstance(node, ast.If) and ast.unparse(node.test) in
            ("TYPE_CHECKING", "typing.TYPE_CHECKING") for part in node.body for inner in ast.walk(part)}


def imports_of(path: Path, module: str, known: set[str], typing: bool = True) -> set[str]:
    """Project modules ``module`` imports anywhere in its source: ``from a.b import c``
    counts as ``a.b.c`` where that is a module, else ``a.b``; ``typing=False`` leaves
    out imports under ``if TYPE_CHECKING:``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text(), str(path))
    skipped = set() if typing else _type_checking_only(tree)
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(name for name in names if name.split(".")[0] in PACKAGES and name in known)
    found.discard(module)
    return found


def import_graph(typing: bool = True) -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {module: imports_of(path, module, known, typing) for module, path in modules.items()}


def test_every_module_has_a_layer():
    assert {layer_of(m) for m in project_modules()} <= set(ALLOWED)
    assert "lava_convdelay.nn.blocks" in project_modules()  # the walk found the tree


def test_layers_import_only_what_they_may():
    wrong = [f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
             for module, targets in sorted(import_graph().items()) for target in sorted(targets)
             if layer_of(target) != layer_of(module) and layer_of(target) not in ALLOWED[layer_of(module)]]
    assert not wrong, "\n".join(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles(import_graph(typing=False)) == []


def test_type_checking_imports_count_for_layers_only(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nimport sim.a\nif TYPE_CHECKING:\n    import sim.b\n")
    known = {"sim.a", "sim.b"}
    assert imports_of(source, "sim.m", known) == {"sim.a", "sim.b"}
    assert imports_of(source, "sim.m", known, typing=False) == {"sim.a"}


@pytest.mark.parametrize("graph,expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_the_cycle_finder_finds_cycles(graph, expected):
    assert cycles(graph) == expected


def test_the_layer_rule_catches_a_forbidden_import(tmp_path):
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from sim.fixed_point import simulate\n    from netx_export import spec\n")
    known = set(project_modules())
    found = imports_of(source, "lava_convdelay.nn.bad", known)
    assert found == {"sim.fixed_point", "netx_export.spec"}
    assert all(layer_of(t) not in ALLOWED["nn"] for t in found)
