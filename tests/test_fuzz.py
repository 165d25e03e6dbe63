"""Seeded byte-level fuzzing of every file genlab reads: each mutated file (bits flipped, cut short,
bytes inserted) must load or fail with genlab's own error type (DataError, RunError, CheckpointError,
ConfigError), never with another exception.

GENLAB_FUZZ_CASES (default 300, so 2,700 mutated files in all) sets the cases per target, GENLAB_FUZZ_SEED
(default 0) the seed. A failure lists every (target, case, file, mutation) that raised something else.
"""

from __future__ import annotations

import gzip
import os
import pickle
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.config import ConfigError, DataConfig, RunConfig, TrainConfig
from genlab.data import download, load_data
from genlab.data.base import DataError
from genlab.runs import RunError, load_run, train
from genlab.training import checkpoint as ckpt
from tests.conftest import TINY, tiny_images
from tests.data.data_formats import cifar_batch, idx_bytes, tiny_mnist

CASES = int(os.environ.get("GENLAB_FUZZ_CASES", "300"))
SEED = int(os.environ.get("GENLAB_FUZZ_SEED", "0"))
GENLAB_ERRORS = (DataError, RunError, ckpt.CheckpointError, ConfigError)


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One random mutation of `data`: flip 1-8 bytes, truncate, or insert 1-16 random bytes."""
    how = rng.choice(("flip", "truncate", "insert"))
    out = bytearray(data)
    if how == "flip":
        where = [rng.randrange(len(out)) for _ in range(rng.randint(1, 8))]
        for i in where:
            out[i] ^= rng.randint(1, 255)
        return bytes(out), f"flip@{where}"
    if how == "truncate":
        n = rng.randrange(len(out))
        return bytes(out[:n]), f"truncate@{n}"
    i = rng.randrange(len(out) + 1)
    out[i:i] = rng.randbytes(rng.randint(1, 16))
    return bytes(out), f"insert@{i}"


def fuzz(name: str, files: list[Path], load: Callable[[], object], rng: random.Random) -> list[str]:
    """Mutate one of `files` at a time (restoring it afterwards) and call `load`; the failures."""
    originals = {f: f.read_bytes() for f in files}
    failures = []
    for case in range(CASES):
        file = rng.choice(files)
        data, how = mutate(originals[file], rng)
        file.write_bytes(data)
        try:
            load()
        except GENLAB_ERRORS as e:
            if "\n" in str(e):
                failures.append(f"{name} case {case} {file.name} {how}: a multi-line message: {e!r}"[:300])
        except Exception as e:  # noqa: BLE001 - exactly what this test is for
            failures.append(f"{name} case {case} {file.name} {how}: {type(e).__name__}: {e}"[:300])
        finally:
            file.write_bytes(originals[file])
    return failures


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))

    def no_network(url, timeout):
        raise RuntimeError(f"tests must not use the network (tried {url})")

    monkeypatch.setattr(download, "_open_url", no_network)


def test_fuzz_npz(tmp_path):
    rng = random.Random(SEED)
    x = np.random.default_rng(0).integers(0, 256, (6, 8, 8), dtype=np.uint8)
    arrays = {"x": x, "y": np.arange(6) % 3, "x_test": x[:2], "y_test": np.array([0, 1]),
              "classes": np.array(["a", "b", "c"])}
    np.savez(tmp_path / "plain.npz", **arrays)
    np.savez_compressed(tmp_path / "packed.npz", **arrays)
    failures = []
    for f in ("plain.npz", "packed.npz"):
        for split in ("train", "test"):
            name = f"npz:{tmp_path / f}"
            failures += fuzz(f"npz/{split}", [tmp_path / f], lambda n=name, s=split: load_data(n, split=s), rng)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_fuzz_idx(tmp_path, gz):
    rng = random.Random(SEED + gz)
    x, y = tiny_mnist(5, h=28)
    files = []
    for prefix in ("train", "t10k"):
        for kind, array in (("images-idx3", x), ("labels-idx1", y)):
            path = tmp_path / (f"{prefix}-{kind}-ubyte" + (".gz" if gz else ""))
            path.write_bytes(gzip.compress(idx_bytes(array)) if gz else idx_bytes(array))
            files.append(path)
    failures = fuzz("idx", files[:2], lambda: load_data("mnist", data_dir=tmp_path), rng)
    assert not failures, "\n".join(failures)


def test_fuzz_png_folder(tmp_path):
    rng = random.Random(SEED)
    pixels = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.fromarray(pixels).save(tmp_path / "a" / "rgb.png")
    Image.fromarray(pixels[..., 0]).save(tmp_path / "a" / "grey.png")
    Image.fromarray(pixels.astype(np.uint16)[..., 0] * 257).save(tmp_path / "b" / "wide.png")  # 16-bit
    Image.fromarray(pixels).convert("P").save(tmp_path / "b" / "palette.png", transparency=0)
    Image.fromarray(pixels).save(tmp_path / "b" / "photo.jpg", quality=90)
    files = sorted(tmp_path.rglob("*.*"))
    failures = fuzz("folder", files, lambda: load_data(f"folder:{tmp_path}"), rng)
    assert not failures, "\n".join(failures)


def test_fuzz_cifar_pickles(tmp_path):
    rng = random.Random(SEED)
    for protocol, name in ((2, "data_batch_1"), (5, "test_batch")):
        (tmp_path / name).write_bytes(pickle.dumps(cifar_batch(2, seed=protocol), protocol=protocol))
    files = [tmp_path / "data_batch_1", tmp_path / "test_batch"]
    failures = fuzz("cifar", files, lambda: load_data("cifar10", split="test", data_dir=tmp_path), rng)
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("fuzz") / "run"
    tc = TrainConfig(steps=2, batch_size=8, log_every=1, progress=False, ema_decay=0.9)
    train(RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny"), tc), run, data=tiny_images(32))
    return run


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")  # torch.load on a mutated state.pt
def test_fuzz_run_folder(trained_run, tmp_path):
    rng = random.Random(SEED)
    run = shutil.copytree(trained_run, tmp_path / "run")
    step = run / "checkpoints" / "step_00000002"
    files = [run / "config.json", run / "checkpoints" / "latest", *(step / n for n in (
        "meta.json", "model.safetensors", "ema.safetensors", "state.pt", "config.json"))]

    def load():
        load_run(run)
        where = ckpt.latest_checkpoint(run / "checkpoints")
        if where is not None:
            ckpt.load_checkpoint(where)

    failures = fuzz("run", files, load, rng)
    assert not failures, "\n".join(failures)
