"""folder:PATH: class folders, flat folders, train/test layout, channel choice and bad images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.data import load_data
from genlab.data.base import DataError
from tests.data.data_formats import png_bytes


def save(path: Path, mode: str = "RGB", size=(6, 4), value: int | tuple = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)
    return path


def test_class_folders_give_sorted_labels(tmp_path):
    save(tmp_path / "dog" / "a.png", value=(10, 20, 30))
    save(tmp_path / "cat" / "b.jpg", value=(200, 200, 200))
    save(tmp_path / "cat" / "sub" / "c.png", value=(1, 2, 3))
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    save(tmp_path / ".hidden" / "d.png")
    data = load_data(f"folder:{tmp_path}")
    assert data.classes == ("cat", "dog") and data.y.tolist() == [0, 0, 1]
    assert data.shape == (3, 4, 6) and data.name == f"folder:{tmp_path}"
    assert data.x[2, :, 0, 0].tolist() == [10, 20, 30]


def test_flat_greyscale_folder_has_one_channel_and_no_labels(tmp_path):
    for i in range(3):
        save(tmp_path / f"{i}.png", mode="L", value=i * 50)
    data = load_data(f"folder:{tmp_path}")
    assert data.shape == (1, 4, 6) and data.y is None
    assert data.x[:, 0, 0, 0].tolist() == [0, 50, 100]


def test_mixed_grey_and_colour_becomes_rgb_and_alpha_goes_white(tmp_path):
    save(tmp_path / "a.png", mode="L", value=7)
    save(tmp_path / "b.png", mode="RGBA", value=(0, 0, 0, 0))
    data = load_data(f"folder:{tmp_path}")
    assert data.shape == (3, 4, 6)
    assert data.x[0, :, 0, 0].tolist() == [7, 7, 7] and data.x[1].min() == 255


def test_mixed_sizes_name_both_files(tmp_path):
    save(tmp_path / "a.png", size=(8, 8))
    save(tmp_path / "b.png", size=(9, 8))
    with pytest.raises(DataError, match=r"a\.png is 8x8 but .*b\.png is 9x8.*resize"):
        load_data(f"folder:{tmp_path}")


def test_unreadable_image_is_named(tmp_path):
    save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match="broken.png"):
        load_data(f"folder:{tmp_path}")


def test_truncated_image_is_named(tmp_path):
    good = save(tmp_path / "a.png", size=(32, 32))
    data = good.read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="b.png"):
        load_data(f"folder:{tmp_path}")


def test_train_test_layout(tmp_path):
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            save(tmp_path / split / ("x" if i % 2 else "y") / f"{i}.png", mode="L")
    train, test = load_data(f"folder:{tmp_path}"), load_data(f"folder:{tmp_path}", split="test")
    assert (len(train), len(test)) == (3, 2) and train.classes == test.classes == ("x", "y")
    assert test.y.tolist() == [0, 1] and test.split == "test"  # ordered by class folder


def test_test_split_needs_a_test_folder(tmp_path):
    save(tmp_path / "a.png")
    with pytest.raises(DataError, match="no test split.*train.*test"):
        load_data(f"folder:{tmp_path}", split="test")
    save(tmp_path / "t" / "train" / "a.png")
    with pytest.raises(DataError, match="no test/ folder"):
        load_data(f"folder:{tmp_path / 't'}", split="test")


def test_unknown_test_class_and_layout_errors(tmp_path):
    save(tmp_path / "train" / "cat" / "a.png")
    save(tmp_path / "test" / "cow" / "b.png")
    with pytest.raises(DataError, match="cow"):
        load_data(f"folder:{tmp_path}", split="test")
    save(tmp_path / "m" / "loose.png")
    save(tmp_path / "m" / "cls" / "b.png")
    with pytest.raises(DataError, match="mixes loose images"):
        load_data(f"folder:{tmp_path / 'm'}")


def test_empty_or_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no images"):
        load_data(f"folder:{tmp_path}")
    with pytest.raises(DataError, match="not a folder"):
        load_data(f"folder:{tmp_path / 'nope'}")


def test_images_match_pillow_exactly(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    data = load_data(f"folder:{tmp_path}")
    np.testing.assert_array_equal(data.x[0].permute(1, 2, 0).numpy(), pixels)


def test_decompression_bomb_is_a_data_error_naming_the_file(tmp_path):
    save(tmp_path / "a.png", mode="L", size=(8, 8))
    (tmp_path / "bomb.png").write_bytes(png_bytes(20000, 20000, raw=b"\x00" * 10))  # claims 400 Mpixels
    with pytest.raises(DataError, match=r"bomb\.png: refused: the image is too large"):
        load_data(f"folder:{tmp_path}")


def test_eps_named_png_never_reaches_ghostscript(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    calls = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: calls.append(a))
    eps = tmp_path / "x.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nnewpath 0 0 moveto showpage\n%%EOF\n")
    assert Image.open(eps).format == "EPS"  # what an unrestricted Image.open would hand to Ghostscript
    with pytest.raises(DataError, match=r"x\.png: cannot read image.*readable formats: PNG, JPEG, BMP, WEBP"):
        load_data(f"folder:{tmp_path}")
    assert calls == []


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    levels = np.array([[0, 1, 128, 129, 254, 255]], dtype=np.uint16)
    Image.fromarray(levels * 257).save(tmp_path / "a.png")  # 16-bit: v8 * 257 is the exact 8 -> 16 bit map
    assert Image.open(tmp_path / "a.png").mode == "I;16"
    data = load_data(f"folder:{tmp_path}")
    assert data.shape == (1, 1, 6) and data.x.flatten().tolist() == levels.flatten().tolist()
    save(tmp_path / "b.png", mode="RGB", size=(6, 1), value=(0, 0, 0))  # with a colour image: 3 channels
    data = load_data(f"folder:{tmp_path}")
    assert data.x[0, 1].flatten().tolist() == levels.flatten().tolist()  # a.png sorts first
