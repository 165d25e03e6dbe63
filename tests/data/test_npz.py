"""npz:PATH: layouts, value ranges, labels, the test split, and refused pickles."""

from __future__ import annotations

import numpy as np
import pytest

from genlab.data import load_data
from genlab.data.base import DataError
from tests.data.data_formats import npz_with_header


def write(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


@pytest.mark.parametrize(
    ("shape", "expect"),
    [((4, 5, 6), (1, 5, 6)), ((4, 5, 6, 3), (3, 5, 6)), ((4, 3, 5, 6), (3, 5, 6)), ((4, 5, 6, 1), (1, 5, 6))],
)
def test_layouts(tmp_path, shape, expect):
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = load_data(write(tmp_path, x=x))
    assert data.shape == expect and len(data) == 4 and data.y is None
    if len(shape) == 4 and shape[-1] == 3:
        np.testing.assert_array_equal(data.x.permute(0, 2, 3, 1).numpy(), x)


def test_float_in_unit_range_and_labels_and_test_split(tmp_path):
    x = np.linspace(0, 1, 2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    name = write(
        tmp_path, x=x, y=np.array([1, 0]), x_test=x[:1], y_test=np.array([1]), classes=np.array(["a", "b"])
    )
    train, test = load_data(name), load_data(name, split="test")
    assert train.x.flatten()[[0, -1]].tolist() == [0, 255] and train.y.tolist() == [1, 0]
    assert len(test) == 1 and test.y.tolist() == [1] and test.classes == ("a", "b")


@pytest.mark.parametrize(
    ("x", "pattern"),
    [
        (np.full((2, 4, 4), 1.5, np.float32), r"\[0, 1\]"),
        (np.full((2, 4, 4), np.nan, np.float32), "NaN"),
        (np.full((2, 4, 4), 300, np.int32), r"\[0, 255\]"),
        (np.zeros((2, 4, 4, 5), np.uint8), "channel axis"),
        (np.zeros((2, 4), np.uint8), "images must be"),
        (np.zeros((2, 4, 4), np.complex64), "dtype complex64"),
    ],
)
def test_bad_pixels(tmp_path, x, pattern):
    with pytest.raises(DataError, match=pattern):
        load_data(write(tmp_path, x=x))


def test_int_pixels_and_bad_labels(tmp_path):
    x = np.full((2, 3, 3), 200, np.int64)
    assert int(load_data(write(tmp_path, x=x)).x.max()) == 200
    with pytest.raises(DataError, match="3 labels for 2 images"):
        load_data(write(tmp_path, x=x, y=np.array([0, 1, 2])))
    with pytest.raises(DataError, match="label 2 but only 2 classes"):
        load_data(write(tmp_path, x=x, y=np.array([0, 2]), classes=np.array(["a", "b"])))


def test_missing_test_split_and_shape_mismatch(tmp_path):
    name = write(tmp_path, x=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(DataError, match="no test split.*x_test"):
        load_data(name, split="test")
    name = write(tmp_path, x=np.zeros((2, 4, 4), np.uint8), x_test=np.zeros((2, 5, 5), np.uint8))
    with pytest.raises(DataError, match="x_test images are"):
        load_data(name, split="test")


def test_object_arrays_are_refused_and_garbage_rejected(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="without pickle"):
        load_data(f"npz:{path}")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a readable"):
        load_data(f"npz:{tmp_path / 'junk.npz'}")
    with pytest.raises(DataError, match="not a file"):
        load_data(f"npz:{tmp_path / 'missing.npz'}")


def test_huge_declared_shape_is_refused_before_allocating(tmp_path):
    path = npz_with_header(tmp_path / "huge.npz", "x", (10**6, 10**6), b"\x00" * 16)  # 931 GiB of uint8
    with pytest.raises(DataError, match=r"huge\.npz\[x\]: declares shape \(1000000, 1000000\).*931\.3 GiB"):
        load_data(f"npz:{path}")
    path = npz_with_header(tmp_path / "short.npz", "x", (100, 8, 8), b"\x00" * 16)
    with pytest.raises(DataError, match=r"short\.npz\[x\]: declares shape .* holds only 16 bytes"):
        load_data(f"npz:{path}")


def _damage(path, how):
    data = bytearray(path.read_bytes())
    if how == "flip":  # inside the deflate stream
        start = data.index(b"x.npy") + len("x.npy")
        for i in range(start + 20, start + 60):
            data[i] ^= 0xA5
    elif how == "method":  # an unknown compression method in both zip headers
        for sig, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            i = data.index(sig)
            data[i + offset:i + offset + 2] = (99).to_bytes(2, "little")
    else:
        data = data[: len(data) * 2 // 3]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flip", "method", "truncate"])
def test_damaged_compressed_npz_is_a_data_error(tmp_path, how):
    path = tmp_path / "d.npz"
    np.savez_compressed(path, x=np.random.default_rng(0).integers(0, 256, (20, 8, 8), dtype=np.uint8))
    _damage(path, how)
    with pytest.raises(DataError, match=r"d\.npz"):
        load_data(f"npz:{path}")


def test_uint64_labels_never_wrap_negative(tmp_path):
    x = np.zeros((2, 3, 3), np.uint8)
    assert load_data(write(tmp_path, x=x, y=np.array([0, 3], np.uint64))).y.tolist() == [0, 3]
    with pytest.raises(DataError, match=r"labels must lie in \[0, 2147483648\), found 0\.\.9223372036854775809"):
        load_data(write(tmp_path, x=x, y=np.array([0, 2**63 + 1], np.uint64)))


@pytest.mark.parametrize("shape", [(0, 4, 4), (3, 0, 4)])
def test_empty_dataset_says_empty(tmp_path, shape):
    with pytest.raises(DataError, match="the dataset is empty"):
        load_data(write(tmp_path, x=np.zeros(shape, np.float32)))
