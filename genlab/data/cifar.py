"""CIFAR-10, 50k train / 10k test colour images, 3x32x32, 10 classes (Krizhevsky 2009), "python version".

Reads the pickled batches `cifar-10-batches-py/data_batch_1..5`, `test_batch` and (optionally) `batches.meta`
with a restricted unpickler that cannot run code. data_dir may be the batch folder, its parent, or the
`cifar-10-python.tar.gz` archive (read in memory, never extracted). Then the cache
($GENLAB_CACHE or ~/.cache/genlab)/cifar10 is tried, then a download verified by SHA-256.
Each batch must hold `data` as (n, 3072) uint8 with len(labels) == n; n need not be 10000.
"""

from __future__ import annotations

import tarfile
import zlib
from pathlib import Path

import numpy as np

from genlab.data import download as dl
from genlab.data.base import DataError, ImageData
from genlab.data.common import Loader, Split, cache_dir, check_labels, make_image_data
from genlab.data.safe_pickle import safe_load

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SHA256 = (
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"  # MD5 c58f30108f718f92721af3b95e74349a
)
BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
META = "batches.meta"


def _is_batch_folder(folder: Path) -> bool:
    return folder.is_dir() and any(
        (folder / n).is_file() for n in (*BATCHES["train"], *BATCHES["test"], META)
    )


def candidates(data_dir: Path | None) -> list[Path]:
    """Places that may hold CIFAR-10 (a batch folder or the archive), in the order they are tried."""
    found: list[Path] = []
    if data_dir is not None:
        if data_dir.is_file():
            return [data_dir]
        for base in (data_dir, data_dir / "cifar10", data_dir / "cifar-10"):
            found += [base, base / FOLDER, base / ARCHIVE]
    cache = cache_dir() / "cifar10"
    return found + [cache / FOLDER, cache / ARCHIVE]


def find_source(data_dir: Path | None) -> Path | None:
    """The first batch folder or archive that exists, or None."""
    if data_dir is not None and data_dir.is_file():
        return data_dir
    return next((p for p in candidates(data_dir) if _is_batch_folder(p) or p.is_file()), None)


def read_members(source: Path, names: tuple[str, ...]) -> dict[str, bytes | None]:
    """The bytes of each named batch file from a folder or a tar archive (None where absent)."""
    if source.is_dir():
        return {n: (source / n).read_bytes() if (source / n).is_file() else None for n in names}
    out: dict[str, bytes | None] = dict.fromkeys(names)
    try:
        with tarfile.open(source, "r:*") as tar:
            for member in tar.getmembers():
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in out and out[base] is None:
                    out[base] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(f"{source}: not a readable CIFAR-10 archive ({e})") from None
    return out


def _str_keys(d: object, where: str) -> dict[str, object]:
    if not isinstance(d, dict):
        raise DataError(f"{where}: expected a pickled dict, found {type(d).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in d.items()}


def parse_batch(data: bytes, where: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate one pickled batch; return x (n, 3, 32, 32) uint8 and y (n,) int64.

    Args:
        data: the pickle bytes.
        where: file name for errors.
        num_classes: labels must lie in [0, num_classes).
    """
    batch = _str_keys(safe_load(data, path=where, encoding="latin1"), where)
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{where}: batch lacks 'data' or 'labels' (keys: {sorted(batch)})")
    x = batch["data"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        desc = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise DataError(f"{where}: 'data' must be (n, 3072) uint8, found {desc}")
    y = check_labels(batch["labels"], len(x), where, num_classes)
    return x.reshape(-1, 3, 32, 32), y


def parse_meta(data: bytes | None, where: str) -> tuple[str, ...]:
    """Class names from batches.meta, or the standard names when the file is absent."""
    if data is None:
        return CLASSES
    meta = _str_keys(safe_load(data, path=where, encoding="latin1"), where)
    names = meta.get("label_names")
    if not isinstance(names, list) or not all(isinstance(n, (str, bytes)) for n in names) or not names:
        raise DataError(f"{where}: 'label_names' must be a list of strings")
    return tuple(n.decode("latin1") if isinstance(n, bytes) else n for n in names)


def load_from(source: Path, split: Split) -> ImageData:
    """Load `split` from a batch folder or archive, validating every batch."""
    names = BATCHES[split]
    blobs = read_members(source, (*names, META))
    missing = [n for n in names if blobs[n] is None]
    if missing:
        raise DataError(f"{source}: missing CIFAR-10 batch file(s) {', '.join(missing)}")
    classes = parse_meta(blobs[META], f"{source}/{META}")
    parts = [parse_batch(blobs[n], f"{source}/{n}", len(classes)) for n in names]  # type: ignore[arg-type]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return make_image_data(x, y, name="cifar10", split=split, classes=classes, source=str(source))


def missing_error(data_dir: Path | None, reason: str) -> DataError:
    looked = ", ".join(str(p) for p in candidates(data_dir))
    return DataError(
        f"cifar10: no data found (looked in {looked}; {reason}). To fix: download {URL} (sha256 {SHA256}) "
        f"and pass data_dir=PATH (CLI: --data-dir PATH) where PATH is that archive, the extracted {FOLDER} "
        "folder, or the folder that contains either"
    )


def load(split: Split, data_dir: Path | None) -> ImageData:
    """Load CIFAR-10 `split` from data_dir, the cache, or a verified download."""
    source = find_source(data_dir)
    if source is None:
        try:
            source = dl.download_any([URL], cache_dir() / "cifar10" / ARCHIVE, SHA256)
        except DataError as e:
            raise missing_error(data_dir, str(e)) from None
    return load_from(source, split)


def locate(data_dir: Path | None) -> tuple[bool, str]:
    """Where CIFAR-10 would load from without network (checks file names only)."""
    source = find_source(data_dir)
    if source is None:
        return False, f"not found; download {URL} and pass data_dir"
    return True, str(source)


LOADER = Loader(load, locate, "CIFAR-10 colour images, 50k/10k, 32x32, 10 classes", (3, 32, 32), 10)
