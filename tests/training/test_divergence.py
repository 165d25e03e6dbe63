"""Divergence: only checkpoints whose loss and parameters are finite are saved, TrainingDiverged says
exactly what was kept, and loading (so sample and eval) refuses non-finite weights."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.models.vae import VAE
from genlab.runs import RunError, load_run, prepare_run_dir, sample, train
from genlab.training import checkpoint as ckpt
from genlab.training.trainer import Trainer, TrainingDiverged
from tests.cli.conftest import cli
from tests.conftest import TINY, tiny_images


def config(steps=8, **options) -> RunConfig:
    tc = TrainConfig(steps=steps, batch_size=8, log_every=1, progress=False, **options)
    return RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny"), tc)


def nan_loss_from(monkeypatch, step: int) -> None:
    real = VAE.training_losses

    def losses(self, batch, **kwargs):
        out = real(self, batch, **kwargs)
        if self.step >= step:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(VAE, "training_losses", losses)


def test_a_nan_loss_before_any_checkpoint_says_none_was_kept(tmp_path, monkeypatch):
    nan_loss_from(monkeypatch, 2)
    with pytest.raises(TrainingDiverged, match="loss became nan at step 2; training stopped. No checkpoint was "
                                               "saved before") as e:
        train(config(), tmp_path / "r", data=tiny_images(32))
    assert "kept" not in str(e.value).lower()
    assert ckpt.latest_checkpoint(tmp_path / "r" / "checkpoints") is None


def test_a_nan_loss_names_the_checkpoint_kept(tmp_path, monkeypatch):
    nan_loss_from(monkeypatch, 5)
    with pytest.raises(TrainingDiverged, match=r"at step 5; training stopped. Kept: the checkpoint of step 4 "
                                               r"\(.*step_00000004\), the last one with finite"):
        train(config(checkpoint_every=2), tmp_path / "r", data=tiny_images(32))
    assert load_run(tmp_path / "r").step == 4


def test_non_finite_parameters_are_never_saved(tmp_path):
    data = tiny_images(32)
    trainer = Trainer(config(ema_decay=0.9, checkpoint_every=1), data, None)
    trainer.run_dir, _ = prepare_run_dir(tmp_path / "r", trainer.config, resume=False, overwrite=False, data=data)

    def blow_up_at_3(t, record):  # the loss of step 3 was finite, but a weight became infinite
        if record["step"] == 3:
            with torch.no_grad():
                next(t.model.parameters()).view(-1)[0] = float("inf")

    trainer.callbacks.append(blow_up_at_3)
    with pytest.raises(TrainingDiverged, match=r"parameter \S+ became NaN or infinite by step 3 \(the losses were "
                                               r"finite\); training stopped and step 3 was not saved. Kept: the "
                                               r"checkpoint of step 2"):
        trainer.fit()
    assert ckpt.latest_checkpoint(tmp_path / "r" / "checkpoints").name == "step_00000002"
    assert load_run(tmp_path / "r").step == 2


def test_loading_refuses_non_finite_weights_so_sample_and_eval_do_not_write_black_images(tmp_path, capsys):
    train(config(2), tmp_path / "r", data=tiny_images(32))
    where = ckpt.latest_checkpoint(tmp_path / "r" / "checkpoints")
    weights = load_file(str(where / "model.safetensors"))
    name = next(k for k, v in weights.items() if v.is_floating_point())
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, str(where / "model.safetensors"))  # as an older genlab could have saved it
    with pytest.raises(RunError, match=rf"holds non-finite weights \(NaN or inf in {name}\); the run diverged"):
        load_run(tmp_path / "r")
    with pytest.raises(RunError, match="non-finite"):
        sample(tmp_path / "r", 4)
    with pytest.raises(SystemExit) as e:
        cli("sample", str(tmp_path / "r"), "-n", "4", "--out", str(tmp_path / "s.png"))
    err = capsys.readouterr().err
    assert e.value.code == 2 and "non-finite" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.png").exists()
