"""--train.compile: the compiled training step computes what the eager one does, the run records it, its
checkpoint loads as an eager model, and a CPU without a C++ compiler gets a one-line error."""

from __future__ import annotations

import shutil

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import load_run, train
from genlab.training import device
from genlab.training.trainer import Trainer
from tests.conftest import TINY, tiny_images


def config(compile: bool, **options) -> RunConfig:
    return RunConfig("pixelcnn", TINY["pixelcnn"], DataConfig("tiny"),
                     TrainConfig(steps=3, batch_size=8, lr=1e-3, threads=1, progress=False, precision="fp32",
                                 compile=compile, **options))


def test_compiled_steps_equal_eager_steps_and_the_run_loads_eager(tmp_path):
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.fail("no C++ compiler on this machine: --train.compile cannot be tested (apt-get install g++)")
    data = tiny_images()
    losses = {}
    for compiled in (False, True):
        t = Trainer(config(compiled), data)
        losses[compiled] = [float(t.train_step()["loss"]) for _ in range(3)]
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)

    infos = []
    train(config(True), tmp_path / "run", data=data, on_start=infos.append)
    assert infos[0]["compiled"] is True
    r = load_run(tmp_path / "run")
    assert r.config.train.compile and not hasattr(r.model, "_orig_mod")  # plain weights, an eager model
    x = data.images()[:2]
    assert torch.isfinite(r.model.nll(x, data.labels()[:2])).all()


def test_no_cxx_compiler_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="needs a C\\+\\+ compiler") as err:
        Trainer(config(True), tiny_images())
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="on cuda needs"):
        device.check_compiler(torch.device("cuda"))  # triton builds its launchers with the host compiler too
