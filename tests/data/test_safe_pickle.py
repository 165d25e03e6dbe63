"""The restricted unpickler: numpy arrays and containers in, every other global refused."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from genlab.data.base import DataError
from genlab.data.safe_pickle import safe_load
from tests.data.data_formats import Evil


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
