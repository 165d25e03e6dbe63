"""IDX parsing: round trips in both encodings, and each kind of corrupt file -> DataError naming it."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from genlab.data.base import DataError
from genlab.data.idx import find_idx_pair, load_idx_pair, parse_idx, read_idx
from tests.data.data_formats import idx_bytes, tiny_mnist, write_idx


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip_gz_and_raw(tmp_path, gz):
    x, y = tiny_mnist(5)
    xi = read_idx(write_idx(tmp_path / "img", x, gz=gz), ndim=3, dtype=np.uint8)
    yi = read_idx(write_idx(tmp_path / "lab", y, gz=gz), ndim=1)
    np.testing.assert_array_equal(xi, x)
    np.testing.assert_array_equal(yi, y)


def test_big_endian_types_are_decoded():
    a = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    out = parse_idx(idx_bytes(a.astype(">i4"), code=0x0C))
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, a)


def test_wrong_magic_names_file(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(12))
    with pytest.raises(DataError, match="bad-idx3-ubyte.*magic"):
        read_idx(path)


def test_unknown_dtype_code(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(bytes([0, 0, 0x07, 1]) + (3).to_bytes(4, "big") + bytes(3))
    with pytest.raises(DataError, match="dtype code 0x07"):
        read_idx(path)


def test_wrong_dtype_for_images(tmp_path):
    path = write_idx(tmp_path / "f.gz", np.zeros((2, 2, 2), dtype=">f4"), code=0x0D)
    with pytest.raises(DataError, match="expected uint8"):
        read_idx(path, ndim=3, dtype=np.uint8)


def test_wrong_ndim(tmp_path):
    path = write_idx(tmp_path / "f", np.zeros((4, 2), np.uint8))
    with pytest.raises(DataError, match="expected 3"):
        read_idx(path, ndim=3)


@pytest.mark.parametrize("cut", [2, 10, 30])
def test_truncated_file(tmp_path, cut):
    data = idx_bytes(tiny_mnist(2, h=4)[0])  # 16-byte header + 32 bytes
    path = tmp_path / "trunc"
    path.write_bytes(data[:cut])
    with pytest.raises(DataError, match="trunc.*truncated"):
        read_idx(path)


def test_extra_bytes_are_a_dims_mismatch(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(tiny_mnist(2, h=4)[0]) + b"\x00")
    with pytest.raises(DataError, match="dims mismatch"):
        read_idx(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(tiny_mnist(3)[0]))[:-20])
    with pytest.raises(DataError, match="cut.gz.*gzip"):
        read_idx(path)


def test_label_count_mismatch(tmp_path):
    x, y = tiny_mnist(5)
    imgs, labs = write_idx(tmp_path / "i.gz", x), write_idx(tmp_path / "l.gz", y[:4])
    with pytest.raises(DataError, match="4 labels but .*5 images"):
        load_idx_pair(imgs, labs)


def test_label_out_of_range(tmp_path):
    x, _ = tiny_mnist(2)
    imgs, labs = write_idx(tmp_path / "i", x), write_idx(tmp_path / "l", np.array([1, 10], np.uint8))
    with pytest.raises(DataError, match="label 10"):
        load_idx_pair(imgs, labs)


def test_pair_shapes(tmp_path):
    x, y = tiny_mnist(3)
    xs, ys = load_idx_pair(write_idx(tmp_path / "i", x), write_idx(tmp_path / "l", y))
    assert xs.shape == (3, 1, 28, 28) and ys.dtype == np.int64
    np.testing.assert_array_equal(ys, y)


def test_find_pair_accepts_kaggle_names_and_flags_half_copies(tmp_path):
    x, y = tiny_mnist(2)
    write_idx(tmp_path / "t10k-images.idx3-ubyte", x, gz=False)
    write_idx(tmp_path / "t10k-labels.idx1-ubyte", y, gz=False)
    assert find_idx_pair(tmp_path, "test") is not None
    assert find_idx_pair(tmp_path, "train") is None
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x)
    with pytest.raises(DataError, match="no train-labels-idx1-ubyte"):
        find_idx_pair(tmp_path, "train")


@pytest.mark.parametrize(
    "dims",
    [(2**32 - 1,) * 3, (0, 2**32 - 1, 2**32 - 1), (65536, 65536, 65536)],
    ids=["int64-overflow", "zero-times-huge", "256-TiB"],
)
def test_absurd_dims_are_refused_before_allocating(dims):
    import struct

    header = bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    with pytest.raises(DataError, match=r"f\.idx: IDX dims .* GiB, above the .* GiB limit"):
        parse_idx(header + bytes(16), path="f.idx")
