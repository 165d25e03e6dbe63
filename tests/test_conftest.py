"""The shared test set-up is plain data: importing tests/conftest.py (what collecting any test does)
builds no model and trains nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_collecting_trains_nothing():
    code = ("import sys, tests.conftest as c\n"
            "names = sorted(c.TINY); c.TINY['vae']['latent_dim'] = 99\n"
            "print('genlab.training.trainer' in sys.modules, 'ldm' in names, c.TINY['vae']['latent_dim'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.split() == ["False", "True", "4"]  # no trainer loaded; copies protect the shared options
