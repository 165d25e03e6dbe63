"""Read IDX files (the MNIST / Fashion-MNIST format), gzipped or not, with strict validation.

Format (LeCun et al., http://yann.lecun.com/exdb/mnist/): 4 magic bytes `0 0 <dtype code> <ndim>`, then
ndim big-endian uint32 sizes, then the data in C order, big-endian.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from genlab.data.base import DataError
from genlab.data.common import max_array_bytes

DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
SPLIT_PREFIX = {"train": "train", "test": "t10k"}


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic 1f 8b."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated gzip data ({e})") from None


def parse_idx(data: bytes, *, path: str | Path = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array of the stored dtype (native byte order) and shape.

    Args:
        data: the uncompressed file content.
        path: named in errors.
    """
    if len(data) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(data)} bytes, no header)")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or ndim == 0:
        raise DataError(f"{path}: bad IDX magic number 0x{data[:4].hex()} (expected 0x0000TTNN)")
    if code not in DTYPES:
        raise DataError(f"{path}: unknown IDX dtype code 0x{code:02x} (valid: 08, 09, 0b, 0c, 0d, 0e)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header ({len(data)} bytes, need {header} for {ndim} dims)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = DTYPES[code]
    span = math.prod(max(d, 1) for d in dims) * dtype.itemsize  # exact (no int64 overflow), zeros aside
    if span > max_array_bytes():
        raise DataError(f"{path}: IDX dims {dims} declare {span / 2**30:.1f} GiB, above the "
                        f"{max_array_bytes() / 2**30:.1f} GiB limit (set GENLAB_MAX_ARRAY_BYTES to raise it)")
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header
    if found < expected:
        raise DataError(f"{path}: truncated IDX data: dims {dims} need {expected} bytes, file has {found}")
    if found > expected:
        raise DataError(
            f"{path}: IDX dims {dims} need {expected} bytes but the file has {found} (dims mismatch)"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(
    path: str | Path, *, ndim: int | None = None, dtype: np.dtype | type | None = None
) -> np.ndarray:
    """Read and validate one IDX file (gzipped or not).

    Args:
        path: the file.
        ndim: required number of dimensions, or None for any.
        dtype: required element type (e.g. np.uint8), or None for any.
    """
    array = parse_idx(read_bytes(path), path=path)
    if ndim is not None and array.ndim != ndim:
        raise DataError(f"{path}: IDX file has {array.ndim} dims {array.shape}, expected {ndim}")
    if dtype is not None and array.dtype != np.dtype(dtype):
        raise DataError(f"{path}: IDX dtype is {array.dtype}, expected {np.dtype(dtype)}")
    return array


def load_idx_pair(
    images: str | Path, labels: str | Path, *, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Read an image file (n, h, w) and its label file (n,), both uint8, and check they agree.

    Args:
        images: the idx3 image file.
        labels: the idx1 label file.
        num_classes: labels must lie in [0, num_classes).
    Returns:
        x (n, 1, h, w) uint8 and y (n,) int64.
    """
    x = read_idx(images, ndim=3, dtype=np.uint8)
    y = read_idx(labels, ndim=1, dtype=np.uint8)
    if len(x) != len(y):
        raise DataError(f"{labels}: {len(y)} labels but {images} holds {len(x)} images")
    if len(y) and int(y.max()) >= num_classes:
        raise DataError(f"{labels}: label {int(y.max())} is out of range for {num_classes} classes")
    return x[:, None], y.astype(np.int64)


def idx_names(split: str, kind: str) -> list[str]:
    """File names accepted for one IDX file, e.g. split="train", kind="images" ->
    train-images-idx3-ubyte[.gz] and the Kaggle spelling train-images.idx3-ubyte[.gz]."""
    prefix, n = SPLIT_PREFIX[split], 3 if kind == "images" else 1
    stems = [f"{prefix}-{kind}-idx{n}-ubyte", f"{prefix}-{kind}.idx{n}-ubyte"]
    return [s + ext for s in stems for ext in (".gz", "")]


def find_idx_pair(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files for `split` in `folder`; None when neither is there.

    Raises DataError when only one of the two is present (a half-copied dataset should not be skipped).
    """
    found = []
    for kind in ("images", "labels"):
        names = idx_names(split, kind)
        found.append(next((folder / n for n in names if (folder / n).is_file()), None))
    if found[0] is None and found[1] is None:
        return None
    if found[0] is None or found[1] is None:
        kind = "images" if found[0] is None else "labels"
        raise DataError(
            f"{folder}: has {(found[0] or found[1]).name} but no {idx_names(split, kind)[1]}[.gz]"
        )
    return found[0], found[1]
