"""The trainer: exact resume, divergence handling, run-folder safety, schedules, EMA, budgets."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import RunError, load_run, train
from genlab.training import checkpoint as ckpt
from genlab.training.trainer import Trainer, TrainingDiverged, lr_lambda
from tests.conftest import TINY, tiny_images


def vae_config(steps=20, **train_options) -> RunConfig:
    tc = TrainConfig(steps=steps, batch_size=8, lr=3e-3, log_every=1, progress=False, **train_options)
    return RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny", binarize="dynamic"), tc)


def losses(run_dir) -> list[tuple[int, float]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines)]


def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path):
    data = tiny_images(64)
    config = vae_config(20, ema_decay=0.9, warmup_steps=3, schedule="cosine")
    full = train(config, tmp_path / "full", data=data)

    fired = []

    def interrupt_at_8(record):  # Ctrl-C arriving once, at step 8
        if record["step"] == 8 and not fired:
            fired.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    part = train(config, tmp_path / "part", data=data, on_log=interrupt_at_8)
    assert part.stopped == "interrupted" and part.step == 8 and part.signal == signal.SIGINT
    resumed = train(config, tmp_path / "part", data=data, resume=True)
    assert resumed.step == 20
    assert losses(tmp_path / "part") == losses(tmp_path / "full")
    a, b = load_run(tmp_path / "full"), load_run(tmp_path / "part")
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name
    assert full.history[-1]["loss"] == resumed.history[-1]["loss"]


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    data = tiny_images(64)
    config = vae_config(10, checkpoint_every=3)
    from genlab.runs import prepare_run_dir

    run_dir, _ = prepare_run_dir(tmp_path / "run", config, resume=False, overwrite=False, data=data)
    trainer = Trainer(config, data, run_dir)
    real = trainer.model.training_losses

    def poisoned(batch, *, generator=None, player=None):
        out = real(batch, generator=generator, player=player)
        if trainer.model.step >= 5:
            out["loss"] = out["loss"] * float("nan")
        return out

    trainer.model.training_losses = poisoned
    with pytest.raises(TrainingDiverged, match="at step 5"):
        trainer.fit()
    good = ckpt.latest_checkpoint(run_dir / "checkpoints")
    assert good.name == "step_00000003"
    assert load_run(run_dir).step == 3


def test_existing_run_is_never_overwritten_by_accident(tmp_path):
    data = tiny_images(32)
    config = vae_config(2)
    train(config, tmp_path / "r", data=data)
    before = (tmp_path / "r" / "metrics.jsonl").read_text()
    with pytest.raises(RunError, match="--resume.*--overwrite"):
        train(config, tmp_path / "r", data=data)
    assert (tmp_path / "r" / "metrics.jsonl").read_text() == before
    train(config, tmp_path / "r", data=data, overwrite=True)
    with pytest.raises(RunError, match="nothing to resume"):
        train(config, tmp_path / "new", data=data, resume=True)
    other = RunConfig("vae", {**TINY["vae"], "latent_dim": 3}, config.data, config.train)
    with pytest.raises(RunError, match="its model was"):
        train(other, tmp_path / "r", data=data, resume=True)


def test_bad_model_options_leave_no_run_folder(tmp_path):
    data = tiny_images(32)
    bad = RunConfig("dcgan", {**TINY["dcgan"], "pack": 0}, DataConfig("tiny"), vae_config(2).train)
    with pytest.raises(ValueError, match="pack must be >= 1"):
        train(bad, tmp_path / "r", data=data)
    assert not (tmp_path / "r").exists()  # so a corrected retry with the same name just works
    good = RunConfig("dcgan", dict(TINY["dcgan"]), DataConfig("tiny"), vae_config(2).train)
    assert train(good, tmp_path / "r", data=data).step == 2


def test_resume_can_extend_training(tmp_path):
    data = tiny_images(32)
    train(vae_config(4), tmp_path / "r", data=data)
    more = train(vae_config(7), tmp_path / "r", data=data, resume=True)
    assert more.step == 7 and [s for s, _ in losses(tmp_path / "r")] == list(range(1, 8))


def test_config_json_pins_every_model_default(tmp_path, monkeypatch):
    import dataclasses

    from genlab.models import family_class

    data = tiny_images(32)
    train(vae_config(2), tmp_path / "r", data=data)
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["model"]
    cls = family_class("vae").Config
    assert set(saved) == {f.name for f in dataclasses.fields(cls)}  # not only the options given
    assert saved["beta"] == cls().beta
    # a later release changing a default must not change what the old run was trained with
    monkeypatch.setattr(cls, "__init__", _with_default(cls.__init__, beta=cls().beta * 3))
    assert load_run(tmp_path / "r").model.config.beta == saved["beta"]
    resumed = train(vae_config(3), tmp_path / "r", data=data, resume=True)  # the run keeps its own options
    assert resumed.step == 3
    assert json.loads((tmp_path / "r" / "config.json").read_text())["model"] == saved


def _with_default(init, **defaults):
    def patched(self, *args, **kwargs):
        init(self, *args, **{**defaults, **kwargs})
    return patched


def test_checkpoint_survives_a_crash_mid_save(tmp_path, monkeypatch):
    state = {"w": torch.ones(3)}
    ckpt.save_checkpoint(tmp_path, 1, model=state, state={"step": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", boom)
    with pytest.raises(ckpt.CheckpointError, match="disk full; the previous checkpoint step_00000001 is intact"):
        ckpt.save_checkpoint(tmp_path, 2, model={"w": torch.zeros(3)}, state={"step": 2})
    latest = ckpt.latest_checkpoint(tmp_path)
    assert latest.name == "step_00000001"
    assert torch.equal(ckpt.load_checkpoint(latest)["model"]["w"], torch.ones(3))
    monkeypatch.undo()
    ckpt.save_checkpoint(tmp_path, 3, model=state, state={"step": 3})
    assert not list(tmp_path.glob(".tmp-*"))  # the crashed save's leftovers are cleaned up


def test_damaged_latest_pointer_falls_back_to_scan(tmp_path):
    for step in (1, 2):
        ckpt.save_checkpoint(tmp_path, step, model={"w": torch.full((2,), float(step))}, state={}, keep=5)
    (tmp_path / "latest").write_text("step_99999999\n")
    assert ckpt.latest_checkpoint(tmp_path).name == "step_00000002"


def test_loading_never_unpickles_arbitrary_objects(tmp_path):
    ckpt.save_checkpoint(tmp_path, 1, model={"w": torch.ones(1)}, state={"step": 1})
    target = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {target}",))

    torch.save({"step": 1, "x": Evil()}, tmp_path / "step_00000001" / "state.pt")
    with pytest.raises(ckpt.CheckpointError, match="could not read"):
        ckpt.load_checkpoint(tmp_path / "step_00000001")
    assert not target.exists()


def test_keeps_only_recent_checkpoints(tmp_path):
    for step in range(1, 6):
        ckpt.save_checkpoint(tmp_path, step, model={"w": torch.ones(1)}, state={}, keep=2)
    assert sorted(p.name for p in tmp_path.glob("step_*")) == ["step_00000004", "step_00000005"]


def test_lr_schedule_shapes():
    assert lr_lambda(0, 10, 100, "constant") == pytest.approx(0.1)
    assert lr_lambda(9, 10, 100, "constant") == pytest.approx(1.0)
    assert lr_lambda(10, 10, 100, "cosine") == pytest.approx(1.0)
    assert lr_lambda(100, 10, 100, "cosine") == pytest.approx(0.0, abs=1e-9)
    assert lr_lambda(55, 10, 100, "linear") == pytest.approx(0.5)
    with pytest.raises(ValueError, match="constant, cosine, linear"):
        lr_lambda(50, 0, 100, "step")


def test_ema_is_used_for_sampling_and_differs_from_raw(tmp_path):
    data = tiny_images(64)
    train(vae_config(10, ema_decay=0.5), tmp_path / "r", data=data)
    ema, raw = load_run(tmp_path / "r"), load_run(tmp_path / "r", ema=False)
    pe, pr = ema.model.decoder.body[-1].weight, raw.model.decoder.body[-1].weight
    assert not torch.equal(pe, pr)


def test_time_budget_stops_early_and_saves(tmp_path):
    data = tiny_images(64)
    result = train(vae_config(100000, time_budget=0.5), tmp_path / "r", data=data)
    assert result.stopped == "time_budget" and 0 < result.step < 100000
    assert load_run(tmp_path / "r").step == result.step


def test_sample_grids_and_metrics_written(tmp_path):
    data = tiny_images(64)
    train(vae_config(6, sample_every=3), tmp_path / "r", data=data)
    assert sorted(p.name for p in (tmp_path / "r" / "samples").glob("*.png")) == [
        "step_00000003.png", "step_00000006.png"]
    rec = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"step", "loss", "kl", "recon", "lr", "img_per_s"} <= set(rec)


def test_batch_too_large_is_a_clear_error():
    with pytest.raises(ValueError, match="lower --train.batch-size"):
        train(vae_config(2, ), None, data=tiny_images(4))


@pytest.mark.parametrize("fast", [False, True])
def test_bf16_on_a_cpu_without_native_bf16_warns(monkeypatch, fast):
    import warnings

    import genlab.training.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "cpu_has_fast_bf16", lambda: fast)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = Trainer(vae_config(1, bf16=True, device="cpu"), tiny_images(16))  # the CPU's warning
    said = [str(w.message) for w in caught if "native bf16" in str(w.message)]
    assert trainer.bf16 and bool(said) == (not fast)
    if said:
        assert "fp32" in said[0]


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_follows_its_definition_with_and_without_warmup(warmup):
    from genlab.training.trainer import ema_decay_at

    assert ema_decay_at(0.999, 0) == pytest.approx(0.1) and ema_decay_at(0.999, 10 ** 6) == 0.999
    assert ema_decay_at(0.999, 0, warmup=False) == 0.999
    trainer = Trainer(vae_config(6, ema_decay=0.9, ema_warmup=warmup), tiny_images(32))
    name = next(n for n, p in trainer.model.named_parameters() if p.ndim == 2)
    expected = None
    for n in range(6):
        trainer.train_step()
        w = dict(trainer.model.named_parameters())[name].detach().clone()
        # the first update copies the weights; the n-th later one mixes with decay_at(n)
        expected = w if expected is None else expected + (1 - ema_decay_at(0.9, n, warmup)) * (w - expected)
    got = dict(trainer.ema.module.named_parameters())[name]
    assert torch.allclose(got, expected, atol=1e-6)


def test_a_warning_while_training_prints_on_its_own_line_above_the_bar(tmp_path, monkeypatch):
    import sys
    import warnings

    from tests.viz.test_progress import Terminal, screen

    monkeypatch.delenv("RANK", raising=False)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)

    def watchdog(record):  # as the GAN watchdog warns from a callback, between two updates of the bar
        if record["step"] == 3:
            warnings.warn("GAN watchdog: the discriminator won", UserWarning, stacklevel=1)

    config = vae_config(6)
    config = RunConfig(config.family, config.model, config.data, TrainConfig(**{**config.train.__dict__,
                                                                               "progress": True}))
    train(config, None, data=tiny_images(32), on_log=watchdog)
    lines = screen(err.text)
    said = [i for i, line in enumerate(lines) if "UserWarning: GAN watchdog: the discriminator won" in line]
    assert len(said) == 1 and "|" not in lines[said[0]] and "step" not in lines[said[0]]
    bars = [i for i, line in enumerate(lines) if line.startswith("train vae:")]
    assert bars and bars[-1] > said[0] and "6/6" in lines[bars[-1]]
    err.text = ""
    train(vae_config(2), None, data=tiny_images(32))
    assert err.text == ""  # --train.no-progress: no bar
