"""The restricted unpickler: numpy arrays and containers in, every other global refused."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from genlab.data import load_data
from genlab.data.base import DataError
from genlab.data.safe_pickle import safe_load
from tests.data.data_formats import Evil, Uninitialised, cifar_batch, write_cifar_folder


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_and_containers_round_trip(protocol):
    obj = {"data": np.arange(6, dtype=np.uint8).reshape(2, 3), "labels": [1, 2], "name": b"x", "f": 1.5}
    out = safe_load(pickle.dumps(obj, protocol=protocol), path="p")
    np.testing.assert_array_equal(out["data"], obj["data"])
    assert out["labels"] == [1, 2] and out["name"] == b"x"


@pytest.mark.parametrize(
    "payload",
    [
        b"cos\nsystem\n(S'echo hi'\ntR.",
        b"cbuiltins\neval\n(S'1+1'\ntR.",
        b"csubprocess\ncall\n(S'ls'\ntR.",
        b"c_codecs\nencode\n(S'x'\nS'rot13'\ntR.",
    ],
)
def test_dangerous_globals_are_refused(payload):
    with pytest.raises(DataError, match="refused"):
        safe_load(payload, path="evil.pkl")


def test_reduce_to_os_system_never_runs(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(DataError, match="evil.pkl.*not allowed"):
        safe_load(pickle.dumps(Evil(marker)), path="evil.pkl")
    assert not marker.exists()


def test_garbage_is_a_data_error():
    with pytest.raises(DataError, match="not a readable pickle"):
        safe_load(b"\x80\x02}q\x00", path="cut.pkl")


def test_ndarray_without_a_buffer_is_refused(tmp_path):
    """numpy.ndarray(shape) gives uninitialised memory: it must not load as images."""
    with pytest.raises(DataError, match=r"refused numpy\.ndarray\(\.\.\.\) called directly"):
        safe_load(pickle.dumps(Uninitialised((2, 3072)), protocol=2), path="p")
    write_cifar_folder(tmp_path, n=2)
    batch = cifar_batch(2, seed=0)
    batch["data"] = Uninitialised((2, 3072))
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match="test_batch: refused"):
        load_data("cifar10", split="test", data_dir=tmp_path)


def _build(target: bytes, state: bytes) -> bytes:
    """A protocol-2 pickle: push `target`, then BUILD it with `state` (both pickle opcodes)."""
    return b"\x80\x02" + target + state + b"b."


FROMBUFFER = b"cnumpy._core.numeric\n_frombuffer\n"
DEFAULTS_STATE = b"N}X\x0c\x00\x00\x00__defaults__K\x01\x85s\x86"  # (None, {"__defaults__": (1,)})


@pytest.mark.parametrize(
    "payload",
    [
        _build(FROMBUFFER, DEFAULTS_STATE),  # setattr on numpy's own function, for the whole process
        _build(FROMBUFFER, b"}X\x01\x00\x00\x00aK\x01s"),  # __dict__ update
        _build(b"cnumpy\nndarray\n", b"}"),
        _build(b"}", b"}X\x01\x00\x00\x00aK\x01s"),  # attributes on a plain dict
        # an array that is already built, built again (its data replaced after it was placed elsewhere)
        pickle.dumps(np.arange(3, dtype=np.uint8), protocol=2)[:-1] + b"(K\x01K\x01\x85h\x0e\x89C\x01\x07tb.",
    ],
    ids=["function-setattr", "function-dict", "ndarray-class", "dict", "array-twice"],
)
def test_build_state_on_allowed_objects_is_refused(payload):
    from numpy._core.numeric import _frombuffer

    with pytest.raises(DataError, match=r"refused to set the state of a \w+ \(BUILD\)"):
        safe_load(payload, path="p")
    assert _frombuffer.__defaults__ == (None,) and not _frombuffer.__dict__


def test_dtypes_are_fresh_and_never_hold_objects():
    """BUILD on numpy.dtype("u1") must not change the process-wide uint8 dtype; object dtypes are refused."""
    flipped = (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00u1\x85R"  # numpy.dtype("u1"), copy not asked
               b"(K\x03X\x01\x00\x00\x00>NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb.")  # state: big-endian
    assert safe_load(flipped, path="p").byteorder == ">" and np.dtype(np.uint8).byteorder == "|"
    with pytest.raises(DataError, match="holds Python objects"):
        safe_load(pickle.dumps(np.dtype(object), protocol=2), path="p")
