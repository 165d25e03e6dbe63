"""download.py: SHA-256 verification, atomic rename, mirror fallback, offline switch (no real network)."""

from __future__ import annotations

import hashlib

import pytest

from genlab.data import download
from genlab.data.base import DataError
from tests.data.data_formats import serve

BLOB = b"some dataset bytes" * 1000
SUM = hashlib.sha256(BLOB).hexdigest()


def test_good_download_lands_atomically(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_open_url", serve({"https://a/f": BLOB}))
    dest = download.download("https://a/f", tmp_path / "sub" / "f", SUM)
    assert dest.read_bytes() == BLOB and download.sha256_of(dest) == SUM
    assert [p.name for p in dest.parent.iterdir()] == ["f"]  # no temp file left


def test_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_open_url", serve({"https://a/f": BLOB + b"x"}))
    with pytest.raises(DataError, match="does not match"):
        download.download("https://a/f", tmp_path / "f", SUM)
    assert list(tmp_path.iterdir()) == []


def test_mirrors_are_tried_in_order(tmp_path, monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(download, "_open_url", serve({"https://b/f": BLOB}, log))
    dest = download.download_any(["https://a/f", "https://b/f"], tmp_path / "f", SUM)
    assert log == ["https://a/f", "https://b/f"] and dest.is_file()
    with pytest.raises(DataError, match="https://a/g.*https://b/g"):
        download.download_any(["https://a/g", "https://b/g"], tmp_path / "g", SUM)


def test_offline_switch_blocks_before_any_request(tmp_path, monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(download, "_open_url", serve({"https://a/f": BLOB}, log))
    monkeypatch.setenv("GENLAB_OFFLINE", "1")
    assert not download.network_allowed()
    with pytest.raises(DataError, match="GENLAB_OFFLINE"):
        download.download_any(["https://a/f"], tmp_path / "f", SUM)
    assert log == []


def test_timeout_is_short_and_passed_through(tmp_path, monkeypatch):
    seen = []

    def fake(url, timeout):
        seen.append(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(download, "_open_url", fake)
    with pytest.raises(DataError, match="timed out"):
        download.download_any(["https://a/f"], tmp_path / "f", SUM)
    assert seen == [download.TIMEOUT_S] and download.TIMEOUT_S <= 30
