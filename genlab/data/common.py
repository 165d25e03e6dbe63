"""Pieces every loader shares: the split check, the cache folder, the registry entry and its info."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch

from genlab.data.base import Data, DataError, ImageData
from genlab.io import cache_dir  # noqa: F401  (the data sources import it from here)

# "valid" (a validation split) only where a source defines one (text); image datasets offer train and test.
Split = Literal["train", "test", "valid"]
SPLITS: tuple[str, ...] = get_args(Split)
TRAIN_TEST: tuple[str, ...] = ("train", "test")


def check_split(split: str, allowed: tuple[str, ...] = SPLITS, what: str = "") -> Split:
    """Return `split` unchanged, or raise ValueError naming the valid choices (`allowed`, those `what` offers)."""
    if split not in allowed:
        of = f" for {what}" if what else ""
        raise ValueError(f"split must be one of {', '.join(map(repr, allowed))}{of}; got {split!r}")
    return split  # type: ignore[return-value]


def as_path(data_dir: str | Path | None) -> Path | None:
    """`data_dir` as an expanded Path, or None."""
    return None if data_dir is None else Path(data_dir).expanduser()


def package_dir(module: str) -> Path | None:
    """The folder of an installed package found WITHOUT importing it (some run heavy code at import)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_version(dist: str) -> str | None:
    """The installed version of distribution `dist`, or None."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


MAX_ARRAY_BYTES = 16 * 2**30  # one array a data file declares; GENLAB_MAX_ARRAY_BYTES overrides it


def max_array_bytes() -> int:
    """The largest array a data file may declare, in bytes ($GENLAB_MAX_ARRAY_BYTES, else 16 GiB)."""
    env = os.environ.get("GENLAB_MAX_ARRAY_BYTES", "")
    return int(env) if env.isdigit() else MAX_ARRAY_BYTES


def one_line(e: BaseException) -> str:
    """`Type: first line of the message`, for errors that end up inside a one-line DataError."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


MAX_LABEL = 2**31 - 1  # labels index classes; anything larger is a damaged or mis-typed array


def check_labels(y: Any, n: int, where: str, num_classes: int | None = None) -> np.ndarray:
    """`y` as (n,) int64 labels, refused unless integer, of shape (n,) and in [0, num_classes) (or
    [0, MAX_LABEL]); the range is checked in `y`'s own dtype, so uint64 labels never wrap negative."""
    try:
        y = np.asarray(y)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{where}: labels must be integers") from None
    if y.dtype.kind not in "iu":
        raise DataError(f"{where}: labels must be integers, found dtype {y.dtype}")
    if y.shape != (n,):
        raise DataError(f"{where}: {y.size} labels for {n} images (labels must have shape ({n},))")
    top = MAX_LABEL + 1 if num_classes is None else num_classes
    if n and (int(y.min()) < 0 or int(y.max()) >= top):
        raise DataError(f"{where}: labels must lie in [0, {top}), found {int(y.min())}..{int(y.max())}")
    return y.astype(np.int64)


def make_image_data(
    x: np.ndarray,
    y: np.ndarray | None,
    *,
    name: str,
    split: str,
    classes: tuple[str, ...] | None,
    source: str,
) -> ImageData:
    """Wrap numpy arrays as ImageData.

    Args:
        x: (n, c, h, w) uint8.
        y: (n,) integer labels, or None.
    """
    assert x.dtype == np.uint8 and x.ndim == 4, (x.dtype, x.shape)
    if len(x) == 0:
        raise DataError(f"{name} ({split} split, from {source}): the dataset is empty (0 images)")
    xt = torch.from_numpy(np.require(x, requirements=["C", "W"]))  # copies only read-only/strided arrays
    yt = None if y is None else torch.from_numpy(np.require(y, dtype=np.int64, requirements=["C", "W"]))
    return ImageData(xt, yt, name=name, split=split, classes=classes, source=source)


@dataclass(frozen=True)
class DatasetInfo:
    """What `list_datasets` reports about one named dataset.

    Args:
        name: the name `load_data` accepts.
        description: one line.
        shape: (c, h, w) of one image; () for text.
        num_classes: 0 for unlabelled data.
        available: True when it loads on this machine without network.
        where: the file or package it would load from, or how to get it.
    """

    name: str
    description: str
    shape: tuple[int, ...]
    num_classes: int
    available: bool
    where: str


@dataclass(frozen=True)
class Loader:
    """A named dataset in `DATASETS`: call it like `load_data` without the name.

    Args:
        load: (split, data_dir) -> ImageData (or TokenData, ...); `name` is filled in by the caller.
        locate: data_dir -> (available, where); cheap, reads no image data, never uses the network.
        description: one line for `genlab datasets`.
        shape: (c, h, w) of one image; () for text.
        num_classes: 0 for unlabelled data.
        splits: the splits it offers.
    """

    load: Callable[[Split, Path | None], Data]
    locate: Callable[[Path | None], tuple[bool, str]]
    description: str
    shape: tuple[int, ...]
    num_classes: int
    splits: tuple[str, ...] = TRAIN_TEST

    def __call__(self, split: Split = "train", data_dir: str | Path | None = None) -> Data:
        return self.load(check_split(split, self.splits), as_path(data_dir))

    def info(self, name: str, data_dir: str | Path | None = None) -> DatasetInfo:
        available, where = self.locate(as_path(data_dir))
        return DatasetInfo(name, self.description, self.shape, self.num_classes, available, where)
