"""Imports run one way (shared ARCHITECTURE.md, "Layers"): every import of a genlab module by another,
including imports inside functions, goes to a lower layer or within the same one, and no two modules
import each other, directly or around a loop."""

from __future__ import annotations

import ast
from pathlib import Path

import genlab

ROOT = Path(genlab.__file__).parent
# The layers, lowest first. A module belongs to the longest prefix listed; genlab/__init__.py (the lazy
# public API) and __main__ sit above everything.
LAYERS: dict[str, int] = {
    "genlab.version": 0, "genlab.config": 0, "genlab.io": 0, "genlab.data": 0, "genlab.nn": 0,
    "genlab.models": 1,
    "genlab.training": 2, "genlab.apps": 2, "genlab.eval": 2, "genlab.viz": 2,
    "genlab.runs": 3, "genlab.bench": 3, "genlab.reports": 3, "genlab.pipelines": 3,
    "genlab.cli": 4, "genlab.serve": 4,
    "genlab": 5, "genlab.__main__": 5,
}
NAMES = {0: "config/io/data/nn", 1: "models", 2: "training/apps/eval/viz", 3: "runs/bench/reports", 4: "cli/serve",
         5: "the public API"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The genlab modules a file imports (`from genlab.x import y` counts y when it is a module)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("genlab")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("genlab") and not node.level:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in MODULES else node.module)
    return out


FILES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
MODULES = set(FILES)


def test_the_layer_table_covers_every_module():
    assert all(any(m == p or m.startswith(p + ".") for p in LAYERS) for m in MODULES)


def test_no_import_runs_against_the_layering():
    bad = []
    for name, path in FILES.items():
        for target in imports(path, top_level_only=False):
            if layer(target) > layer(name):
                bad.append(f"{name} ({NAMES[layer(name)]}) imports {target} ({NAMES[layer(target)]})")
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    graph = {name: {t for t in imports(path, top_level_only=False) if t in MODULES and t != name}
             for name, path in FILES.items()}
    graph["genlab"] = set()  # the lazy public API imports everything on demand; nothing imports it back
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_nothing_but_the_cli_imports_the_cli():
    outside = {n: p for n, p in FILES.items() if not n.startswith("genlab.cli") and n != "genlab.__main__"}
    assert not [n for n, p in outside.items()
                if any(t.startswith("genlab.cli") for t in imports(p, top_level_only=False))]


def test_packages_of_one_layer_do_not_import_each_other_both_ways():
    package = lambda m: ".".join(m.split(".")[:2])  # noqa: E731
    edges = {(package(n), package(t)) for n, p in FILES.items() for t in imports(p, top_level_only=False)
             if package(n) != package(t) and layer(n) == layer(t)}
    assert not [(a, b) for a, b in edges if (b, a) in edges]
