"""load_data / list_datasets / DATASETS: names, splits, errors, and a light import."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import genlab.data as gd
from genlab.data import DATASETS, DataError, ImageData, list_datasets, load_data
from tests.data.data_formats import write_cifar_folder, write_mnist_folder


def test_datasets_is_a_plain_dict_of_loaders():
    assert type(DATASETS) is dict
    assert set(DATASETS) == {"digits", "mnist", "fashion-mnist", "cifar10", "emoji", "shakespeare",
                             "mnist-captions", "fashion-mnist-captions", "emoji-names"}
    data = DATASETS["digits"]("test")
    assert isinstance(data, ImageData) and len(data) == 297


def test_unknown_name_lists_every_valid_form():
    with pytest.raises(DataError) as info:
        load_data("mnsit")
    msg = str(info.value)
    assert (
        all(n in msg for n in [*DATASETS, "folder:PATH", "npz:PATH"])
        and "did you mean 'mnist'" in msg.lower()
    )
    assert isinstance(info.value, ValueError)


def test_bad_split_names_choices():
    with pytest.raises(ValueError, match="'train', 'test'.*'val'"):
        load_data("digits", split="val")
    with pytest.raises(ValueError, match="'train', 'test'"):
        DATASETS["digits"]("valid")


def test_aliases_keep_the_typed_name():
    data = load_data("DIGITS", split="test")
    assert data.name == "DIGITS" and data.split == "test" and data.x.dtype.is_floating_point is False


def test_missing_data_dir_is_reported(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data("mnist", data_dir=tmp_path / "nope")


def test_list_datasets_is_fast_and_truthful(tmp_path):
    start = time.perf_counter()
    infos = list_datasets(tmp_path)
    assert time.perf_counter() - start < 1.0
    by_name = {i.name: i for i in infos}
    assert list(by_name) == list(DATASETS)
    assert by_name["digits"].available and by_name["digits"].shape == (1, 8, 8)
    assert by_name["cifar10"].num_classes == 10 and by_name["emoji"].num_classes == 0
    assert all(isinstance(i.where, str) and i.where for i in infos)


def test_import_is_light():
    code = ("import sys, genlab.data as d; d.list_datasets(); "
            "print(sorted(m for m in ('PIL', 'sklearn', 'mnist') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names():
    assert {"load_data", "list_datasets", "DATASETS", "ImageData", "DataError", "DatasetInfo"} <= set(
        gd.__all__
    )


def test_path_forms_need_a_path():
    with pytest.raises(DataError, match="give a path"):
        load_data("folder:")
    with pytest.raises(DataError, match="not a file"):
        load_data("NPZ:/nonexistent/file.npz")


def test_list_datasets_sees_a_data_dir(tmp_path):
    write_mnist_folder(tmp_path / "mnist")
    write_cifar_folder(tmp_path / "cifar-10-batches-py", n=1)
    by_name = {i.name: i for i in list_datasets(tmp_path)}
    assert by_name["mnist"].available and by_name["mnist"].where == str(tmp_path / "mnist")
    assert by_name["cifar10"].available and by_name["cifar10"].where == str(tmp_path / "cifar-10-batches-py")
