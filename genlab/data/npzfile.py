"""Read .npz files safely: every array's header (shape, dtype) is checked before anything is allocated,
and every zip, zlib or format error becomes a DataError naming the file. Decoded caches are .npz files
that carry the SHA-256 of their arrays, so a truncated or altered cache is noticed and rebuilt.

numpy's own `np.load(...)[key]` allocates the declared shape first and reads the data afterwards, so a
header claiming (10**6, 10**6) asks for ~931 GiB before noticing the data is missing (NEP 1, the .npy
format: https://numpy.org/neps/nep-0001-npy-format.html).
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from genlab.data.base import DataError
from genlab.data.common import max_array_bytes, one_line

# what a damaged zip (or its compressed data) raises from zipfile, zlib and numpy's header parser
READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error,
               NotImplementedError, RuntimeError, KeyError, IndexError, SyntaxError, MemoryError)


def check_header(member: zipfile.ZipExtFile, info: zipfile.ZipInfo, where: str) -> None:
    """Read one .npy header from an open zip member and refuse object arrays, absurd shapes and shapes
    that need more bytes than the member holds."""
    version = np.lib.format.read_magic(member)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(member)
    if dtype.hasobject:
        raise DataError(f"{where}: holds Python objects (dtype {dtype}) that cannot be read without pickle; "
                        "store plain numeric arrays")
    nbytes = math.prod(shape) * dtype.itemsize
    span = math.prod(max(d, 1) for d in shape) * dtype.itemsize  # (0, 10**9, 10**9) is no array either
    limit = max_array_bytes()
    if span > limit:
        raise DataError(f"{where}: declares shape {shape} of {dtype} ({span / 2**30:.1f} GiB), above the "
                        f"{limit / 2**30:.1f} GiB limit (set GENLAB_MAX_ARRAY_BYTES to raise it)")
    have = info.file_size - member.tell()
    if nbytes > have:
        raise DataError(f"{where}: declares shape {shape} of {dtype} ({nbytes} bytes) but holds only {have} "
                        "bytes of data; the file is damaged, save it again with numpy.savez")


def read_npz(path: Path, keys: tuple[str, ...] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """The arrays among `keys` (all when None) that the file holds, and the names of all its arrays.

    Raises DataError naming the file (and the array) for anything but a readable, sane .npz file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    if magic != b"PK\x03\x04":
        raise DataError(f"{path}: not a readable .npz file (no zip header); save it with numpy.savez")
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n[:-4]: zf.getinfo(n) for n in zf.namelist() if n.endswith(".npy")}
            wanted = [k for k in (members if keys is None else keys) if k in members]
            for k in wanted:
                with zf.open(members[k]) as member:
                    check_header(member, members[k], f"{path}[{k}]")
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in wanted}, list(members)
    except DataError:
        raise
    except READ_ERRORS as e:
        raise DataError(f"{path}: not a readable .npz file ({one_line(e)}); save it again with numpy.savez") from None


DIGEST = "sha256"  # the cache entry holding the SHA-256 of the other arrays (names, dtypes, shapes, bytes)


def arrays_digest(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """SHA-256 over every array's name, dtype, shape and bytes, as a (32,) uint8 array."""
    import hashlib

    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return np.frombuffer(h.digest(), dtype=np.uint8)


def read_npz_cache(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays `keys` from a cache file, or None when it is absent, damaged or altered (its checksum
    differs): then it is rebuilt from the source."""
    if not path.is_file():
        return None
    try:
        arrays, _ = read_npz(path, (*keys, DIGEST))
    except DataError:
        return None
    if set(arrays) != {*keys, DIGEST}:
        return None
    data = {k: arrays[k] for k in keys}
    if not np.array_equal(arrays[DIGEST], arrays_digest(data)):
        return None
    return data


def write_npz_cache(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save arrays with their checksum atomically (temp file + rename; the file's mode follows the umask,
    like every other file genlab writes); a read-only cache folder is silently skipped."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as f:
            np.savez(f, **arrays, **{DIGEST: arrays_digest(arrays)})
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
