"""GAN diagnostics: mode coverage with a stand-in classifier, the divergence watchdog and its rollback."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch
from torch import nn

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.models import build_model
from genlab.models.gan import watch as gan_watch
from genlab.models.gan.watch import GANMonitor, GANWarning, class_diversity, coverage_stats
from genlab.training.trainer import Trainer
from tests.conftest import TINY, tiny_images


class QuadrantClassifier:
    """Stand-in for the genlab classifier of the tiny data: the brightest quadrant is the class."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] // 2, x.shape[-1] // 2
        q = torch.stack([x[..., :h, :w], x[..., :h, w:], x[..., h:, :w], x[..., h:, w:]], 1)
        return q.flatten(2).mean(2).argmax(1)


class FeatureQuadrantClassifier(QuadrantClassifier):
    """The same, with features (the flattened image) as the genlab classifier has them."""

    def features(self, x):
        return x.flatten(1)

    def features_and_logits(self, x):
        return self.features(x), nn.functional.one_hot(self.predict(x), 4).float()


class ConstantClassifier:
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], dtype=torch.long)


def trainer_for(family: str, steps: int = 8, **options) -> Trainer:
    tc = TrainConfig(steps=steps, batch_size=8, log_every=2, progress=False)
    return Trainer(RunConfig(family, {**TINY[family], **options}, DataConfig("tiny"), tc), tiny_images(32))


def test_coverage_stats_exact():
    pred = torch.tensor([0] * 50 + [1] * 25 + [2] * 25)
    out = coverage_stats(pred, 4)
    p = torch.tensor([0.5, 0.25, 0.25])
    assert out["coverage"] == 3 and "coverage_ratio" not in out  # class 3 is missing
    assert out["coverage_kl"] == pytest.approx(float((p * (p * 4).log()).sum()), abs=1e-5)
    even = coverage_stats(torch.arange(40) % 4, 4)
    assert even == {"coverage": 4, "coverage_kl": 0.0, "coverage_ratio": 1.0}
    # a class with under a tenth of its uniform share does not count as covered
    assert coverage_stats(torch.tensor([0] * 99 + [1]), 2)["coverage"] == 1


def test_class_diversity_is_one_for_real_data_and_zero_for_copies():
    f, y = torch.randn(40, 6), torch.arange(40) % 4
    assert class_diversity(f, y, f, y, 4) == pytest.approx(1.0)
    copies = f[:4][y]  # every sample of class k is the same vector
    assert class_diversity(copies, y, f, y, 4) == pytest.approx(0.0, abs=1e-6)
    assert class_diversity(2 * f, y, f, y, 4) == pytest.approx(2.0)
    assert class_diversity(f[:3], y[:3], f, y, 4) is None  # no class has 2 samples


def test_diversity_is_logged_and_low_diversity_counts_as_collapse(monkeypatch):
    monkeypatch.setattr(gan_watch, "load_classifier", lambda name: FeatureQuadrantClassifier())
    trainer = trainer_for("cgan", steps=4, coverage_every=2, coverage_samples=40)
    result = trainer.fit()
    assert all(r["diversity"] > 0 for r in result.history if "coverage" in r)
    monitor = GANMonitor(dataclasses.replace(trainer.model.config, patience=1), "cgan")
    record = {"step": 2, "coverage": 4, "diversity": 0.1}  # every class present, but each nearly one image
    assert monitor.diagnose(record, True, 4) == "collapse"
    assert "within-class diversity 0.1 of the real images" in monitor.message("collapse", record)
    assert monitor.diagnose({"step": 4, "coverage": 4, "diversity": 0.9}, True, 4) is None


def test_unrealistic_samples_are_not_called_a_collapse(monkeypatch):
    """Early in training G draws blobs that fall in one class: not a collapse until they look real."""
    monkeypatch.setattr(gan_watch, "load_classifier", lambda name: FeatureQuadrantClassifier())
    trainer = trainer_for("dcgan", steps=4, coverage_every=2, coverage_samples=40)
    checked = [r for r in trainer.fit().history if "coverage" in r]
    assert checked and all(0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 for r in checked)
    monitor = GANMonitor(dataclasses.replace(trainer.model.config, patience=1), "dcgan")
    assert monitor.diagnose({"step": 2, "coverage": 1, "diversity": 0.05, "precision": 0.02}, True, 4) is None
    assert monitor.diagnose({"step": 4, "coverage": 1, "diversity": 0.05, "precision": 0.9}, True, 4) == "collapse"


def test_realistic_but_repeated_samples_count_as_collapse_by_their_recall():
    """A G that draws a few varied-looking images per class (diversity passes) but almost none of the real
    images (recall near 0) has collapsed; seen on MNIST with --clusters 50 and no mode-seeking term. A
    conditional G starts out like that, so the recall check waits twice `patience` checks."""
    config = build_model("dcgan", TINY["dcgan"], shape=(1, 8, 8)).config
    monitor = GANMonitor(dataclasses.replace(config, patience=2), "dcgan")
    record = {"coverage": 10, "diversity": 0.8, "precision": 0.9, "recall": 0.0}
    assert [monitor.diagnose({**record, "step": s}, True, 10) for s in (2, 4, 6, 8)] == [None, None, None, "collapse"]
    message = monitor.message("collapse", {**record, "step": 8})
    assert "recall 0.0" in message and "--mode-seeking" in message
    # the default cgan's recall on MNIST: 0, 0, 0.003, 0.021, then rising (no alarm)
    monitor = GANMonitor(dataclasses.replace(config, patience=3), "cgan")
    assert all(monitor.diagnose({**record, "step": s, "recall": r}, True, 10) is None
               for s, r in enumerate([0.0, 0.0, 0.003, 0.021, 0.051, 0.099, 0.125]))


def test_coverage_is_logged_with_a_stand_in_classifier(monkeypatch):
    monkeypatch.setattr(gan_watch, "load_classifier", lambda name: QuadrantClassifier())
    trainer = trainer_for("cgan", steps=6, coverage_every=4, coverage_samples=40)
    result = trainer.fit()
    checked = [r for r in result.history if "coverage" in r]
    assert [r["step"] for r in checked] == [4, 6]  # every 4 steps, and at the end
    for r in checked:
        assert 1 <= r["coverage"] <= 4 and r["coverage_kl"] >= 0 and 0 <= r["cond_acc"] <= 1
        assert r["watchdog"] == "ok"


def test_missing_classifier_warns_once_and_training_goes_on(monkeypatch):
    def missing(name):
        raise ValueError(f"no classifier for {name}")

    monkeypatch.setattr(gan_watch, "load_classifier", missing)
    trainer = trainer_for("dcgan", steps=6, coverage_every=2)
    with pytest.warns(GANWarning, match="mode coverage is off") as caught:
        result = trainer.fit()
    assert len([w for w in caught if "coverage is off" in str(w.message)]) == 1
    assert result.step == 6 and all("coverage" not in r for r in result.history)


def test_collapse_warns_with_cause_and_remedy(monkeypatch):
    monkeypatch.setattr(gan_watch, "load_classifier", lambda name: ConstantClassifier())
    trainer = trainer_for("dcgan", steps=8, coverage_every=2, coverage_samples=16, patience=3)
    with pytest.warns(GANWarning, match="mode collapse: the samples cover 1 classes.*Remedies"):
        result = trainer.fit()
    assert [r["watchdog"] for r in result.history] == ["ok", "ok", "collapse", "ok"]


def feed(monitor: GANMonitor, trainer, records):
    out = []
    for i, (d, g) in enumerate(records):
        rec = {"step": 2 * (i + 1), "d/loss": d, "g/loss": g, "d/d_real": 0.99, "d/d_fake": 0.01}
        monitor(trainer, rec)
        out.append(rec["watchdog"])
    return out


def test_discriminator_winning_is_spotted_only_when_g_loss_climbs():
    trainer = trainer_for("dcgan", coverage_every=0, patience=2)
    monitor = GANMonitor(trainer.model.config, "dcgan")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning while healthy or while G's loss falls
        assert feed(monitor, trainer, [(1.2, 0.8), (0.01, 6.0), (0.01, 5.0), (0.01, 4.0)]) == ["ok"] * 4
    with pytest.warns(GANWarning, match="the discriminator wins.*lower --lr-d"):
        states = feed(monitor, trainer, [(0.01, 4.5), (0.01, 5.0)])
    assert states == ["ok", "d_wins"]


def test_wgan_losses_never_trigger_the_d_wins_rule():
    trainer = trainer_for("wgan-gp", coverage_every=0, patience=1)
    monitor = GANMonitor(trainer.model.config, "wgan-gp")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert feed(monitor, trainer, [(-0.5, 1.0), (-0.9, 2.0), (-1.5, 3.0)]) == ["ok"] * 3


def test_rollback_restores_the_last_healthy_state_and_halves_the_learning_rates():
    trainer = trainer_for("dcgan", coverage_every=0, patience=2, watchdog="rollback")
    trainer.fit()
    monitor = GANMonitor(trainer.model.config, "dcgan")
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
