"""Eval tests build the (fast) digits classifier once, in a private cache folder."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def eval_cache(tmp_path_factory):
    """A GENLAB_CACHE folder for the whole eval test session (the digits classifier is built once)."""
    return tmp_path_factory.mktemp("genlab_cache")


@pytest.fixture
def cache_env(eval_cache, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(eval_cache))
    return eval_cache


@pytest.fixture
def digits_classifier(cache_env):
    from genlab.eval.classifier import load_classifier

    return load_classifier("digits", progress=False)
