"""Aligned image pairs from a folder: `pairs:PATH`.

Layouts: PATH/A/ (sources) and PATH/B/ (targets) holding images with the same file names (stems; the
suffixes may differ), or PATH/train/{A,B}/ and PATH/test/{A,B}/ for two splits. Every source must have
the size of every other source, and likewise for targets (sources and targets may differ: low-res ->
high-res). A name in one folder only, or a size that differs, is a one-line DataError naming the files.
Images are read as in `folder:PATH` (genlab/data/folder.py): greyscale when all are, else RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genlab.data.base import DataError, ImagePairData
from genlab.data.common import Split
from genlab.data.folder import decode, list_images, probe


def matched_files(a_dir: Path, b_dir: Path) -> tuple[list[Path], list[Path]]:
    """The files of A/ and B/ paired by stem; DataError naming the first name found in one folder only."""
    a = {p.relative_to(a_dir).with_suffix("").as_posix(): p for p in list_images(a_dir)}
    b = {p.relative_to(b_dir).with_suffix("").as_posix(): p for p in list_images(b_dir)}
    if not a:
        raise DataError(f"{a_dir}: no images found")
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        lonely = a[only_a[0]] if only_a else b[only_b[0]]
        other = b_dir if only_a else a_dir
        raise DataError(f"{lonely} has no partner of the same name in {other} ({len(only_a) + len(only_b)} "
                        "unmatched file(s)); give A/ and B/ the same file names")
    names = sorted(a)
    return [a[k] for k in names], [b[k] for k in names]


def read_side(files: list[Path]) -> torch.Tensor:
    """(n, c, h, w) uint8 images of one side; probe() names two files whose sizes differ."""
    _, grey = probe(files)
    return torch.from_numpy(np.stack([decode(p, grey) for p in files]))


def load_pair_folder(name: str, split: Split) -> ImagePairData:
    """Load `split` of `pairs:PATH` (layouts in the module docstring)."""
    root = Path(name.split(":", 1)[1]).expanduser()
    if not root.is_dir():
        raise DataError(f"{name}: {root} is not a folder")
    base = root / split if (root / "train").is_dir() else root
    if split == "test" and base == root:
        raise DataError(f"{name}: no test split: add {root / 'train'}/{{A,B}} and {root / 'test'}/{{A,B}}")
    for side in ("A", "B"):
        if not (base / side).is_dir():
            raise DataError(f"{name}: {base / side} is missing; put sources in {base / 'A'} and targets with "
                            f"the same file names in {base / 'B'}")
    a_files, b_files = matched_files(base / "A", base / "B")
    source, target = read_side(a_files), read_side(b_files)
    return ImagePairData(source, target, name, split, how=f"pairs read from {base}/A and {base}/B")


__all__ = ["load_pair_folder", "matched_files"]
