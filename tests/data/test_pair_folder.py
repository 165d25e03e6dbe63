"""`pairs:PATH`: aligned A/ and B/ folders (genlab/data/pair_folder.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.data import load_data
from genlab.data.base import DataError


def write(folder, name, size, value=0, mode="L"):
    folder.mkdir(parents=True, exist_ok=True)
    arr = np.full((size, size) if mode == "L" else (size, size, 3), value, dtype=np.uint8)
    Image.fromarray(arr).save(folder / name)


def test_pairs_are_matched_by_name(tmp_path):
    for i, name in enumerate(["b.png", "a.png"]):
        write(tmp_path / "A", name, 4, 10 * i)
        write(tmp_path / "B", name.replace(".png", ".jpg" if i else ".png"), 8, 10 * i, mode="RGB")
    data = load_data(f"pairs:{tmp_path}")
    assert data.kind == "image-pair" and data.source_shape == (1, 4, 4) and data.shape == (3, 8, 8)
    assert torch.equal(data.source[:, 0, 0, 0], torch.tensor([10, 0], dtype=torch.uint8))  # a.png, then b.png
    assert data.target[0].float().mean() == pytest.approx(10, abs=2)  # a's partner (a JPEG) follows it


def test_a_name_without_a_partner_is_named(tmp_path):
    write(tmp_path / "A", "one.png", 4)
    write(tmp_path / "A", "two.png", 4)
    write(tmp_path / "B", "one.png", 4)
    with pytest.raises(DataError, match=r"two\.png has no partner of the same name in .*B") as e:
        load_data(f"pairs:{tmp_path}")
    assert "\n" not in str(e.value)


def test_sizes_that_differ_are_named(tmp_path):
    write(tmp_path / "A", "one.png", 4)
    write(tmp_path / "A", "two.png", 5)
    write(tmp_path / "B", "one.png", 4)
    write(tmp_path / "B", "two.png", 4)
    with pytest.raises(DataError, match=r"images differ in size: .*one\.png is 4x4 but .*two\.png is 5x5"):
        load_data(f"pairs:{tmp_path}")


def test_missing_side_and_test_split(tmp_path):
    write(tmp_path / "A", "one.png", 4)
    with pytest.raises(DataError, match=r"B is missing"):
        load_data(f"pairs:{tmp_path}")
    write(tmp_path / "B", "one.png", 4)
    with pytest.raises(DataError, match="no test split"):
        load_data(f"pairs:{tmp_path}", split="test")
