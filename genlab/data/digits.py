"""scikit-learn's 8x8 handwritten digits (1797 images, UCI optdigits test set), 1x8x8, 10 classes.

Pixel values 0..16 become uint8 by round(v * 255 / 16). Split (deterministic, in the stored order):
the first 1500 images are train, the remaining 297 are test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genlab.data.base import ImageData
from genlab.data.common import Loader, Split, make_image_data, package_dir, package_version

CLASSES = tuple(str(i) for i in range(10))
NUM_TRAIN = 1500


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Map sklearn's 0..16 pixel values to 0..255 uint8 by round(v * 255 / 16).

    Args:
        images: (n, 8, 8) float.
    """
    return np.rint(np.asarray(images, dtype=np.float64) * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)


def load(split: Split, data_dir: Path | None) -> ImageData:
    """Load the digits `split` (data_dir is ignored: the data ships inside scikit-learn)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = to_uint8(bunch.images)[:, None]  # (n, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    part = slice(None, NUM_TRAIN) if split == "train" else slice(NUM_TRAIN, None)
    source = f"scikit-learn {package_version('scikit-learn')}: sklearn.datasets.load_digits"
    return make_image_data(x[part], y[part], name="digits", split=split, classes=CLASSES, source=source)


def locate(data_dir: Path | None) -> tuple[bool, str]:
    """Available whenever scikit-learn is installed."""
    folder = package_dir("sklearn")
    if folder is None:
        return False, "not found; pip install scikit-learn"
    return True, "scikit-learn: sklearn.datasets.load_digits"


LOADER = Loader(load, locate, "8x8 handwritten digits from scikit-learn, 1500/297, 10 classes", (1, 8, 8), 10)
