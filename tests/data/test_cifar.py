"""CIFAR-10 python batches: folder, parent folder and archive layouts; corrupt and hostile files."""

from __future__ import annotations

import pickle
import tarfile

import numpy as np
import pytest

from genlab.data import cifar, load_data
from genlab.data.base import DataError
from tests.data.data_formats import Evil, cifar_batch, write_cifar_folder


@pytest.mark.parametrize(("protocol", "str_keys"), [(2, True), (2, False), (4, False)])
def test_batch_folder_round_trip(tmp_path, protocol, str_keys):
    folder = tmp_path / cifar.FOLDER
    batches = write_cifar_folder(folder, n=3, protocol=protocol, str_keys=str_keys)
    train = load_data("cifar10", data_dir=folder)
    test = load_data("cifar10", split="test", data_dir=folder)
    assert (len(train), len(test)) == (15, 3) and train.shape == (3, 32, 32)
    key = (lambda k: k) if str_keys else (lambda k: k.encode())
    first = batches["data_batch_1"]
    np.testing.assert_array_equal(train.x[:3].reshape(3, -1).numpy(), first[key("data")])
    assert train.y[:3].tolist() == first[key("labels")]
    assert test.y.tolist() == batches["test_batch"][key("labels")]
    assert train.classes[0] == "airplane" and train.num_classes == 10


def test_parent_folder_and_archive(tmp_path):
    folder = tmp_path / "src" / cifar.FOLDER
    write_cifar_folder(folder, n=2)
    from_parent = load_data("cifar10", split="test", data_dir=tmp_path / "src")
    archive = tmp_path / "dl" / cifar.ARCHIVE
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=cifar.FOLDER)
    from_file = load_data("cifar10", split="test", data_dir=archive)
    from_dir = load_data("cifar10", split="test", data_dir=archive.parent)
    assert from_file.x.equal(from_parent.x) and from_dir.y.equal(from_parent.y)
    assert str(archive) in from_file.source


def test_missing_batch_is_named(tmp_path):
    write_cifar_folder(tmp_path, n=2)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_data("cifar10", data_dir=tmp_path)
    assert len(load_data("cifar10", split="test", data_dir=tmp_path)) == 2


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("data", np.zeros((2, 3000), np.uint8), r"\(n, 3072\) uint8"),
        ("data", np.zeros((2, 3072), np.float32), r"\(n, 3072\) uint8"),
        ("labels", [1, 2, 3], "3 labels for 2 images"),
        ("labels", [1, 12], r"labels must lie in \[0, 10\)"),
        ("labels", ["a", "b"], "labels must be integers"),
        ("labels", np.array([1, 2**64 - 1], np.uint64), r"lie in \[0, 10\), found 1\.\.18446744073709551615"),
        ("labels", [1, 2**70], "labels must be integers"),
    ],
)
def test_corrupt_batches(tmp_path, field, value, pattern):
    write_cifar_folder(tmp_path, n=2)
    batch = cifar_batch(2, seed=0)
    batch[field] = value
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=pattern):
        load_data("cifar10", split="test", data_dir=tmp_path)


def test_malicious_pickle_does_not_run(tmp_path):
    write_cifar_folder(tmp_path, n=2)
    marker = tmp_path / "pwned"
    (tmp_path / "test_batch").write_bytes(pickle.dumps(Evil(marker), protocol=2))
    with pytest.raises(DataError, match="test_batch.*not allowed"):
        load_data("cifar10", split="test", data_dir=tmp_path)
    assert not marker.exists()


def test_truncated_archive(tmp_path):
    folder = tmp_path / cifar.FOLDER
    write_cifar_folder(folder, n=2)
    archive = tmp_path / cifar.ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=cifar.FOLDER)
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(DataError, match="cifar-10-python.tar.gz"):
        load_data("cifar10", data_dir=archive)


def test_missing_everywhere_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"cifar-10-python\.tar\.gz.*--data-dir"):
        load_data("cifar10", data_dir=tmp_path)
    assert cifar.locate(tmp_path)[0] is False
    write_cifar_folder(tmp_path / "cifar10" / cifar.FOLDER, n=1)
    assert cifar.locate(tmp_path) == (True, str(tmp_path / "cifar10" / cifar.FOLDER))
