"""Writers for the real dataset file formats (IDX, CIFAR pickles) and a fake network, for data tests."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np


class FakeResponse(io.BytesIO):
    """Stands in for urlopen's response (a context manager with .read(n))."""


def serve(files: dict[str, bytes], log: list[str] | None = None):
    """A replacement for download._open_url serving `files` by URL (missing -> URLError)."""
    import urllib.error

    def open_url(url, timeout):
        if log is not None:
            log.append(url)
        if url not in files:
            raise urllib.error.URLError(f"no route to {url}")
        return FakeResponse(files[url])

    return open_url


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """The IDX encoding of `array` (uint8 by default)."""
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, gz: bool = True, code: int = 0x08) -> Path:
    data = idx_bytes(array, code)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tiny_mnist(n: int = 6, h: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, h, h), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def write_mnist_folder(folder: Path, *, gz: bool = True, n_train: int = 6, n_test: int = 4) -> dict:
    """Write the four standard IDX files; return the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n, seed in (("train", "train", n_train, 1), ("test", "t10k", n_test, 2)):
        x, y = tiny_mnist(n, seed=seed)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", x, gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", y, gz=gz)
        out[split] = (x, y)
    return out


def cifar_batch(n: int, seed: int, *, str_keys: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    batch = {
        "batch_label": "training batch",
        "labels": [int(v) for v in rng.integers(0, 10, n)],
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        "filenames": [f"img_{i}.png" for i in range(n)],
    }
    return batch if str_keys else {k.encode(): v for k, v in batch.items()}


def write_cifar_folder(folder: Path, *, n: int = 3, protocol: int = 2, str_keys: bool = True) -> dict:
    """Write data_batch_1..5, test_batch and batches.meta as pickles; return the batches."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i, name in enumerate([*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]):
        batches[name] = cifar_batch(n, seed=i, str_keys=str_keys)
        (folder / name).write_bytes(pickle.dumps(batches[name], protocol=protocol))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    meta = {"label_names": names, "num_cases_per_batch": n, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return batches


class Evil:
    """Unpickling this would run os.system and create `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


class Uninitialised:
    """Pickles as `numpy.ndarray(shape, "u1")`: an array of whatever memory happened to be there."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = shape

    def __reduce__(self):
        return (np.ndarray, (self.shape, "u1"))


def png_bytes(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 0, raw: bytes = b"") -> bytes:
    """A PNG with the given IHDR and `raw` (filtered scanlines) as its one IDAT chunk; the header may claim
    any size (the data is not checked against it until decoding)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def npz_with_header(path: Path, name: str, shape: tuple[int, ...], data: bytes = b"", dtype: str = "|u1") -> Path:
    """An .npz whose member `name`.npy declares `shape` but holds only `data`."""
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": dtype, "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}.npy", header.getvalue() + data)  # the header includes the magic and version
    return path
