"""Golden values: seeded samplers and tiny models must reproduce the numbers in tests/golden/values.json.

A failure means a change moved numbers. If that was intended, re-record with
`python tests/golden/record.py` and say why in the commit; if not, it is a regression. When the model API
changes, adapt only the adapters at the top of tests/golden/record.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.golden import record
from tests.golden.record import mismatches

GOLDEN: dict[str, Any] = json.loads(record.VALUES.read_text())


def test_every_case_is_recorded():
    assert sorted(GOLDEN) == sorted(record.case_keys()), "re-record: python tests/golden/record.py"


@pytest.mark.parametrize("key", sorted(GOLDEN))
def test_golden_values(key):
    bad = mismatches(record.compute(key), GOLDEN[key], key)
    assert not bad, "numbers moved:\n" + "\n".join(bad[:20])


@pytest.mark.parametrize(("seed", "key", "part"), [
    ("losses", "model/dae", "losses/model"), ("losses", "model/vae", "losses/model"),
    ("losses", "model/wgan-gp", "losses/d"), ("draw", "model/dcgan", "sample"), ("nll", "model/vae", "nll"),
    ("x_T", "sampler/network/ddim", None), ("noise", "sampler/gaussian/ddpm_small", None)])
def test_a_shifted_seed_moves_the_values(seed, key, part, monkeypatch):
    monkeypatch.setitem(record.SEEDS, seed, record.SEEDS[seed] + 1)
    got, want = record.compute(key), GOLDEN[key]
    assert mismatches(got, want) if part is None else mismatches(got[part], want[part])


def test_mismatches_sees_small_changes():
    want = {"shape": [2, 2], "sum": 2.0, "abs_mean": 0.5, "std": 1e-4, "entries": [0.5, 0.5]}
    assert mismatches(dict(want), want) == []
    assert mismatches({**want, "std": 1.01e-4}, want)
    assert mismatches({**want, "entries": [0.5, 0.5001]}, want)
    assert mismatches({**want, "shape": [4]}, want)
    assert mismatches({**want, "sum": float("nan")}, want)
    assert mismatches({"a": 1.0}, {"a": 1.0, "b": 2.0})
