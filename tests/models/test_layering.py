"""Models sit below training, apps, eval, viz, runs and cli: no module under genlab/models imports them,
not even inside a function (shared ARCHITECTURE.md, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

import genlab

MODELS = Path(genlab.__file__).parent / "models"
ABOVE = ("genlab.training", "genlab.apps", "genlab.eval", "genlab.viz", "genlab.runs", "genlab.cli",
         "genlab.serve", "genlab.demo")
PENDING = {"diffusion/latent.py"}  # the lead moves its run loading and encode_mean out (issue 11)


def imported_modules(path: Path) -> list[str]:
    """Every module an `import` or `from ... import` statement anywhere in the file names."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
            if node.module == "genlab":  # from genlab import runs
                out += [f"genlab.{a.name}" for a in node.names]
    return out


def test_models_never_import_the_layers_above():
    bad = []
    for path in sorted(MODELS.rglob("*.py")):
        if path.relative_to(MODELS).as_posix() in PENDING:
            continue
        bad += [f"{path.relative_to(MODELS)}: {m}" for m in imported_modules(path)
                if any(m == a or m.startswith(a + ".") for a in ABOVE)]
    assert not bad, "models/ imports from a layer above it:\n" + "\n".join(bad)
