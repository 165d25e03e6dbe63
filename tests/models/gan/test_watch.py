"""The GAN divergence watchdog: its diagnoses from the record's losses and coverage keys, and its rollback.
(The coverage probe that adds those keys while training: tests/training/test_callbacks.py.)"""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.models import build_model
from genlab.models.gan.watch import GANWarning, GANWatchdog
from genlab.training.trainer import Trainer
from tests.conftest import TINY, tiny_images


def trainer_for(family: str, steps: int = 8, **options) -> Trainer:
    tc = TrainConfig(steps=steps, batch_size=8, log_every=2, progress=False)
    return Trainer(RunConfig(family, {**TINY[family], **options}, DataConfig("tiny"), tc), tiny_images(32))


def config_of(family: str, **changes):
    return dataclasses.replace(build_model(family, TINY[family], shape=(1, 8, 8), num_classes=4).config, **changes)


def test_low_diversity_counts_as_collapse():
    monitor = GANWatchdog(config_of("cgan", patience=1), "cgan")
    record = {"step": 2, "coverage": 4, "diversity": 0.1}  # every class present, but each nearly one image
    assert monitor.diagnose(record, True, 4) == "collapse"
    assert "within-class diversity 0.1 of the real images" in monitor.message("collapse", record)
    assert monitor.diagnose({"step": 4, "coverage": 4, "diversity": 0.9}, True, 4) is None


def test_unrealistic_samples_are_not_called_a_collapse():
    """Early in training G draws blobs that fall in one class: not a collapse until they look real."""
    monitor = GANWatchdog(config_of("dcgan", patience=1), "dcgan")
    assert monitor.diagnose({"step": 2, "coverage": 1, "diversity": 0.05, "precision": 0.02}, True, 4) is None
    assert monitor.diagnose({"step": 4, "coverage": 1, "diversity": 0.05, "precision": 0.9}, True, 4) == "collapse"


def test_the_watchdog_reads_coverage_only_from_records_that_have_it():
    trainer = trainer_for("dcgan", coverage_every=0, patience=1)
    monitor = GANWatchdog(trainer.model.config, "dcgan")
    record = {"step": 2, "d/loss": 1.0, "g/loss": 1.0}
    monitor(trainer, record)  # no coverage keys (no probe): nothing to diagnose but the losses
    assert record["watchdog"] == "ok"
    with pytest.warns(GANWarning, match="mode collapse"):
        monitor(trainer, {"step": 4, "d/loss": 1.0, "g/loss": 0.9, "coverage": 1, "precision": 0.9})


def test_realistic_but_repeated_samples_count_as_collapse_by_their_recall():
    """A G that draws a few varied-looking images per class (diversity passes) but almost none of the real
    images (recall near 0) has collapsed; seen on MNIST with --clusters 50 and no mode-seeking term. A
    conditional G starts out like that, so the recall check waits twice `patience` checks."""
    config = build_model("dcgan", TINY["dcgan"], shape=(1, 8, 8)).config
    monitor = GANWatchdog(dataclasses.replace(config, patience=2), "dcgan")
    record = {"coverage": 10, "diversity": 0.8, "precision": 0.9, "recall": 0.0}
    assert [monitor.diagnose({**record, "step": s}, True, 10) for s in (2, 4, 6, 8)] == [None, None, None, "collapse"]
    message = monitor.message("collapse", {**record, "step": 8})
    assert "recall 0.0" in message and "--mode-seeking" in message
    # the default cgan's recall on MNIST: 0, 0, 0.003, 0.021, then rising (no alarm)
    monitor = GANWatchdog(dataclasses.replace(config, patience=3), "cgan")
    assert all(monitor.diagnose({**record, "step": s, "recall": r}, True, 10) is None
               for s, r in enumerate([0.0, 0.0, 0.003, 0.021, 0.051, 0.099, 0.125]))


def feed(monitor: GANWatchdog, trainer, records):
    out = []
    for i, (d, g) in enumerate(records):
        rec = {"step": 2 * (i + 1), "d/loss": d, "g/loss": g, "d/d_real": 0.99, "d/d_fake": 0.01}
        monitor(trainer, rec)
        out.append(rec["watchdog"])
    return out


def test_discriminator_winning_is_spotted_only_when_g_loss_climbs():
    trainer = trainer_for("dcgan", coverage_every=0, patience=2)
    monitor = GANWatchdog(trainer.model.config, "dcgan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning while healthy or while G's loss falls
        assert feed(monitor, trainer, [(1.2, 0.8), (0.01, 6.0), (0.01, 5.0), (0.01, 4.0)]) == ["ok"] * 4
    with pytest.warns(GANWarning, match="the discriminator wins.*lower --lr-d"):
        states = feed(monitor, trainer, [(0.01, 4.5), (0.01, 5.0)])
    assert states == ["ok", "d_wins"]


def test_wgan_losses_never_trigger_the_d_wins_rule():
    trainer = trainer_for("wgan-gp", coverage_every=0, patience=1)
    monitor = GANWatchdog(trainer.model.config, "wgan-gp")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert feed(monitor, trainer, [(-0.5, 1.0), (-0.9, 2.0), (-1.5, 3.0)]) == ["ok"] * 3


def test_rollback_restores_the_last_healthy_state_and_halves_the_learning_rates():
    trainer = trainer_for("dcgan", coverage_every=0, patience=2, watchdog="rollback")
    trainer.fit()
    monitor = GANWatchdog(trainer.model.config, "dcgan")
    feed(monitor, trainer, [(1.0, 1.0)])  # healthy: snapshot taken
    healthy = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    lrs = {k: o.param_groups[0]["lr"] for k, o in trainer.optimizers.items()}
    with torch.no_grad():  # the run goes bad
        for p in trainer.model.parameters():
            p.add_(1.0)
    with pytest.warns(GANWarning) as caught:
        states = feed(monitor, trainer, [(0.01, 2.0), (0.01, 3.0)])  # G's loss climbs from the healthy 1.0
    assert states == ["ok", "rollback"]
    messages = [str(w.message) for w in caught]
    assert "the discriminator wins" in messages[0] and "rolled back to the weights of step 8" in messages[1]
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, healthy[k]), k
    for k, o in trainer.optimizers.items():
        assert o.param_groups[0]["lr"] == pytest.approx(lrs[k] / 2)
        assert trainer.schedulers[k].base_lrs[0] == pytest.approx(lrs[k] / 2)
    trainer.tc = type(trainer.tc)(**{**trainer.tc.__dict__, "steps": 10})
    trainer.fit()  # training continues at the halved rate
    assert trainer.optimizers["g"].param_groups[0]["lr"] == pytest.approx(lrs["g"] / 2)
    assert all(math.isfinite(v) for v in trainer.history[-1].values() if isinstance(v, float))
