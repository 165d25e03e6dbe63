"""Datasets: `load_data(name, split=..., data_dir=...) -> ImageData` (uint8 images) or `TokenData` (text).

Named datasets live in `DATASETS` (one module per source kind); `folder:PATH` and `npz:PATH` read user
images, `text:PATH` user text.
Importing this package loads torch and numpy only; Pillow and scikit-learn load when a loader needs them.
See docs/DATA.md for where each dataset is looked for.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

from genlab.data import captioned, cifar, digits, emoji, emoji_names, fashion_mnist, mnist, pairs, shakespeare
from genlab.data.base import Data, DataError, ImageData, TokenData
from genlab.data.common import TRAIN_TEST, DatasetInfo, Loader, Split, as_path, check_split
from genlab.data.folder import load_folder
from genlab.data.npz import load_npz
from genlab.data.pair_folder import load_pair_folder
from genlab.data.text import load_text

__all__ = ["DATASETS", "DataError", "DatasetInfo", "ImageData", "Loader", "TokenData", "list_datasets", "load_data",
           "named_classes"]

DATASETS: dict[str, Loader] = {
    "digits": digits.LOADER,
    "mnist": mnist.LOADER,
    "fashion-mnist": fashion_mnist.LOADER,
    "cifar10": cifar.LOADER,
    "emoji": emoji.LOADER,
    "shakespeare": shakespeare.LOADER,
    "mnist-captions": captioned.MNIST_LOADER,  # image-text (genlab.data.captions)
    "fashion-mnist-captions": captioned.FASHION_LOADER,
    "emoji-names": emoji_names.LOADER,
}
PATH_FORMS = {"folder": load_folder, "npz": load_npz, "text": load_text,  # "folder:PATH", "npz:PATH", "text:PATH"
              "pairs": load_pair_folder}  # "pairs:PATH": aligned A/ and B/ images (genlab/data/pair_folder.py)
PATH_SPLITS = {"folder": TRAIN_TEST, "npz": TRAIN_TEST, "text": ("train", "valid", "test"), "pairs": TRAIN_TEST}
# "FORM:DATASET": pairs (sr2, edges, ...) or images (thin, thick) derived from a dataset (genlab/data/pairs.py)
DERIVED_FORMS = pairs.FORMS
ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}


def valid_names() -> list[str]:
    """Every accepted dataset name, with the path forms spelled out."""
    return [*DATASETS, *(f"{form}:PATH" for form in PATH_FORMS), *(f"{form}:DATASET" for form in DERIVED_FORMS)]


def load_data(name: str, *, split: Split = "train", data_dir: str | Path | None = None) -> Data:
    """Load dataset `name`: uint8 (n, c, h, w) images with labels (or None), or a text's TokenData.

    Args:
        name: a key of DATASETS (case-insensitive), "folder:PATH", "npz:PATH", "text:PATH", "pairs:PATH", or
            "FORM:DATASET" for pairs or images derived from a dataset (sr2, sr3, sr4, edges, masked, grey,
            thin, thick; genlab/data/pairs.py).
        split: "train" or "test"; text (shakespeare, text:PATH) also has "valid".
        data_dir: a folder (or, for cifar10, an archive) to look in first; ignored by digits and emoji,
            and by the PATH forms, which name their own files.
    Raises:
        ValueError for a bad split; DataError (a ValueError) for an unknown name or unreadable/missing data,
        with a message saying how to fix it.
    """
    check_split(split)
    form, sep, rest = name.partition(":")
    if sep and form.lower() in DERIVED_FORMS:
        if not rest.strip():
            raise DataError(f"{name!r}: name a dataset after the colon, e.g. {form.lower()}:mnist")
        return pairs.derive(form.lower(), load_data(rest, split=split, data_dir=data_dir))
    if sep and form.lower() in PATH_FORMS:
        if not rest.strip():
            raise DataError(f"{name!r}: give a path after the colon, e.g. {form.lower()}:/data/my_images")
        return PATH_FORMS[form.lower()](name, check_split(split, PATH_SPLITS[form.lower()], f"{form.lower()}:PATH"))
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        close = difflib.get_close_matches(key, list(DATASETS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"unknown dataset {name!r}; valid names: {', '.join(valid_names())}.{hint}")
    path = as_path(data_dir)
    if path is not None and not path.exists():
        raise DataError(f"data_dir {str(path)!r} does not exist")
    check_split(split, DATASETS[key].splits, key)
    data = DATASETS[key](split, path)
    return data if data.name == name else dataclasses.replace(data, name=name)


def named_classes(name: str) -> int:
    """The label classes of the named dataset `name`, known without loading it: 0 for unlabelled data and for the
    PATH and FORM:DATASET forms (their labels are only known once their files are read)."""
    key = name.lower()
    loader = DATASETS.get(ALIASES.get(key, key))
    return loader.num_classes if loader is not None else 0


def list_datasets(data_dir: str | Path | None = None) -> list[DatasetInfo]:
    """What each named dataset is and whether it loads here without network (checks files, loads nothing).

    Args:
        data_dir: the folder `load_data` would be given, so it is searched too.
    """
    return [loader.info(name, data_dir) for name, loader in DATASETS.items()]
