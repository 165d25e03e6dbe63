"""Images from a numpy .npz file: `npz:PATH`, read with allow_pickle=False.

Arrays: `x` (train images) and optional `y` (labels); `x_test` and optional `y_test` for the test split
(without `x_test`, asking for "test" raises DataError). Optional `classes`: a string array of class names.
Image layouts: (n, c, h, w) (genlab's own, what `genlab sample --out x.npz` writes), (n, h, w) or
(n, h, w, c) with c in {1, 3}; a shape that fits both 4-d layouts is read as (n, c, h, w). Values: uint8,
any other integer type in [0, 255], or float in [0, 1] (scaled by 255 and rounded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genlab.data.base import DataError, ImageData
from genlab.data.common import Split, check_labels, make_image_data
from genlab.data.npzfile import read_npz

CHANNELS = (1, 3)
KEYS = {"train": ("x", "y"), "test": ("x_test", "y_test")}


def to_nchw(x: np.ndarray, where: str) -> np.ndarray:
    """(n, h, w) / (n, h, w, c) / (n, c, h, w) -> (n, c, h, w); c must be 1 or 3."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise DataError(
            f"{where}: images must be (n, h, w), (n, h, w, c) or (n, c, h, w); found shape {x.shape}"
        )
    first, last = x.shape[1] in CHANNELS, x.shape[3] in CHANNELS
    if first:  # genlab's own layout (what `genlab sample --out x.npz` writes) wins when both could be channels
        return x
    if last:
        return x.transpose(0, 3, 1, 2)
    raise DataError(f"{where}: cannot find a channel axis of size 1 or 3 in shape {x.shape}")


def to_uint8(x: np.ndarray, where: str) -> np.ndarray:
    """uint8 as is; other integers checked to lie in [0, 255]; floats checked to lie in [0, 1], then *255."""
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.integer):
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{where}: integer pixels must lie in [0, 255], found {lo}..{hi}")
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DataError(f"{where}: float pixels contain NaN or inf")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(
                f"{where}: float pixels must lie in [0, 1], found {lo:g}..{hi:g} (divide by 255?)"
            )
        return np.rint(x.astype(np.float64) * 255.0).astype(np.uint8)
    raise DataError(f"{where}: pixels must be uint8, integer or float, found dtype {x.dtype}")


def load_npz(name: str, split: Split) -> ImageData:
    """Load `split` of the file named by `name` = "npz:PATH" (arrays described in the module docstring)."""
    path = Path(name.split(":", 1)[1]).expanduser()
    if not path.is_file():
        raise DataError(f"{name}: {path} is not a file")
    kx, ky = KEYS[split]
    arrays, names = read_npz(path, ("x", kx, ky, "classes"))
    if "x" not in arrays:
        raise DataError(f"{path}: no array named 'x' (found {sorted(names)})")
    if kx not in arrays:
        raise DataError(f"{path}: no test split: add arrays 'x_test' (and 'y_test'), or use split='train' "
                        "(genlab eval --split train)")
    x = to_nchw(arrays[kx], f"{path}[{kx}]")
    if x.size == 0:
        what = "0 images" if len(x) == 0 else f"images of shape {x.shape[1:]}"
        raise DataError(f"{path}[{kx}]: the dataset is empty ({what}); store at least one image")
    x = to_uint8(x, f"{path}[{kx}]")
    if split == "test":
        train_shape = to_nchw(arrays["x"], f"{path}[x]").shape[1:]
        if x.shape[1:] != train_shape:
            raise DataError(f"{path}: x_test images are {x.shape[1:]} but x images are {train_shape}")
    y = check_labels(arrays[ky], len(x), f"{path}[{ky}]") if ky in arrays else None
    classes = None
    if "classes" in arrays:
        classes = tuple(c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c)
                        for c in arrays["classes"].reshape(-1).tolist())
        if y is not None and len(y) and y.max() >= len(classes):
            raise DataError(f"{path}[{ky}]: label {y.max()} but only {len(classes)} classes")
    return make_image_data(x, y, name=name, split=split, classes=classes, source=str(path))
