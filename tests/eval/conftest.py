"""Eval tests build the (fast) digits classifier once, in the private cache folder of tests/conftest.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def digits_classifier(cache_env):
    from genlab.eval.classifier import load_classifier

    return load_classifier("digits", progress=False)
