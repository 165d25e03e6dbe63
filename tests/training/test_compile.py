"""--train.compile: the compiled training step computes what the eager one does (also for a flow, whose levels
run the same code on tensors of other shapes), the run records it, its checkpoint loads as an eager model, and
a CPU without a C++ compiler gets a one-line error."""

from __future__ import annotations

import shutil

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import load_run, train
from genlab.training import device
from genlab.training.trainer import Trainer
from tests.conftest import TINY, tiny_images


def needs_cxx() -> None:
    if shutil.which("g++") is None and shutil.which("c++") is None:
        pytest.fail("no C++ compiler on this machine: --train.compile cannot be tested (apt-get install g++)")


def config(compile: bool, family: str = "pixelcnn", **options) -> RunConfig:
    return RunConfig(family, TINY[family], DataConfig("tiny"),
                     TrainConfig(steps=3, batch_size=8, lr=1e-3, threads=1, progress=False, precision="fp32",
                                 compile=compile, **options))


def test_compiled_steps_equal_eager_steps_and_the_run_loads_eager(tmp_path):
    needs_cxx()
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


def test_a_flow_compiles_although_its_levels_differ_in_shape():
    """Each level of a flow runs the same step code on (c, h, w) of other sizes. Under torch.compile's automatic
    dynamic shapes that recompiled the step with symbolic sizes, which inductor failed on ("cannot determine
    truth value of Relational"); the trainer compiles with static shapes."""
    needs_cxx()
    data = tiny_images()
    losses = {}
    for compiled in (False, True):
        t = Trainer(config(compiled, "flow"), data)
        losses[compiled] = [float(t.train_step()["loss"]) for _ in range(2)]
    assert losses[True] == pytest.approx(losses[False], rel=1e-4)


def test_no_cxx_compiler_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match="needs a C\\+\\+ compiler") as err:
        Trainer(config(True), tiny_images())
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="on cuda needs"):
        device.check_compiler(torch.device("cuda"))  # triton builds its launchers with the host compiler too


@pytest.mark.parametrize("family, option", [("wgan-gp", "gp"), ("stylegan", "r1"), ("dcgan", "r1")])
def test_a_gradient_penalty_refuses_compile_in_one_line(family, option):
    """gp and r1 differentiate D's gradient (double backward), which torch.compile cannot train: the trainer says
    so and names both ways out; with the penalty off, the same model is accepted."""
    needs_cxx()
    tc = TrainConfig(steps=1, batch_size=8, threads=1, progress=False, precision="fp32", compile=True)
    options = {**TINY[family], option: 1.0, "d_norm": "none"}
    with pytest.raises(ValueError, match=f"cannot train this {family} model.*--{option} 0") as err:
        Trainer(RunConfig(family, options, DataConfig("tiny"), tc), tiny_images())
    assert "\n" not in str(err.value) and "without --train.compile" in str(err.value)
    Trainer(RunConfig(family, {**options, option: 0.0, "gp": 0.0}, DataConfig("tiny"), tc), tiny_images())
