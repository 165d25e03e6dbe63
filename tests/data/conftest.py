"""Fixtures for data tests: an empty private cache and a network that fails if touched."""

from __future__ import annotations

import pytest

from genlab.data import download


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """Every test gets an empty cache folder and a network that fails loudly if touched."""
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("GENLAB_OFFLINE", raising=False)

    def no_network(url, timeout):
        raise RuntimeError(f"tests must not use the network (tried {url})")

    monkeypatch.setattr(download, "_open_url", no_network)
