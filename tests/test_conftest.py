"""The shared test set-up is lazy: importing tests/conftest.py (what collecting any test does) trains nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_collecting_trains_nothing():
    code = ("import tests.conftest as c, tests.models.diffusion.helpers as h\n"
            "names = sorted(c.TINY); c.TINY['vae']\n"
            "print(h._RUN is None, 'ldm' in names)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.split() == ["True", "True"]
