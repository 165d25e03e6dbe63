"""The training layer's callbacks: the mode-coverage probe a model asks for, ahead of the model's own."""

from __future__ import annotations

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.eval import coverage
from genlab.eval.coverage import CoverageWarning
from genlab.models import build_model
from genlab.models.gan.watch import GANWarning, GANWatchdog
from genlab.training.callbacks import CoverageProbe, callbacks_for
from genlab.training.trainer import Trainer
from tests.conftest import TINY, tiny_images
from tests.eval.test_coverage import FeatureQuadrantClassifier, QuadrantClassifier


class ConstantClassifier:
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], dtype=torch.long)


def trainer_for(family: str, steps: int = 8, **options) -> Trainer:
    tc = TrainConfig(steps=steps, batch_size=8, log_every=2, progress=False)
    return Trainer(RunConfig(family, {**TINY[family], **options}, DataConfig("tiny"), tc), tiny_images(32))


def test_the_probe_runs_before_the_models_own_callbacks_and_only_when_asked_for():
    model = build_model("dcgan", {**TINY["dcgan"], "coverage_every": 4}, shape=(1, 8, 8))
    probe, watchdog = callbacks_for(model)
    assert isinstance(probe, CoverageProbe) and (probe.every, probe.samples) == (4, 1000)
    assert isinstance(watchdog, GANWatchdog)
    off = build_model("dcgan", TINY["dcgan"], shape=(1, 8, 8))  # coverage_every 0
    assert [type(c) for c in callbacks_for(off)] == [GANWatchdog]
    vae = build_model("vae", TINY["vae"], shape=(1, 8, 8))
    assert callbacks_for(vae) == []


def test_coverage_is_logged_with_a_stand_in_classifier(monkeypatch):
    monkeypatch.setattr(coverage, "load_classifier", lambda name: QuadrantClassifier())
    trainer = trainer_for("cgan", steps=6, coverage_every=4, coverage_samples=40)
    result = trainer.fit()
    checked = [r for r in result.history if "coverage" in r]
    assert [r["step"] for r in checked] == [4, 6]  # every 4 steps, and at the end
    for r in checked:
        assert 1 <= r["coverage"] <= 4 and r["coverage_kl"] >= 0 and 0 <= r["cond_acc"] <= 1
        assert r["watchdog"] == "ok"


def test_diversity_precision_and_recall_are_logged(monkeypatch):
    monkeypatch.setattr(coverage, "load_classifier", lambda name: FeatureQuadrantClassifier())
    result = trainer_for("cgan", steps=4, coverage_every=2, coverage_samples=40).fit()
    checked = [r for r in result.history if "coverage" in r]
    assert checked and all(r["diversity"] > 0 for r in checked)
    assert all(0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 for r in checked)


def test_the_style_generator_gets_coverage_checks_too(monkeypatch):
    monkeypatch.setattr(coverage, "load_classifier", lambda name: QuadrantClassifier())
    result = trainer_for("stylegan", steps=4, coverage_every=2, coverage_samples=16).fit()
    assert [r["step"] for r in result.history if "coverage" in r] == [2, 4]


def test_missing_classifier_warns_once_and_training_goes_on(monkeypatch):
    def missing(name):
        raise ValueError(f"no classifier for {name}")

    monkeypatch.setattr(coverage, "load_classifier", missing)
    trainer = trainer_for("dcgan", steps=6, coverage_every=2)
    with pytest.warns(CoverageWarning, match="mode coverage is off") as caught:
        result = trainer.fit()
    assert len([w for w in caught if "coverage is off" in str(w.message)]) == 1
    assert result.step == 6 and all("coverage" not in r for r in result.history)


def test_collapse_seen_by_the_probe_makes_the_watchdog_warn(monkeypatch):
    monkeypatch.setattr(coverage, "load_classifier", lambda name: ConstantClassifier())
    trainer = trainer_for("dcgan", steps=8, coverage_every=2, coverage_samples=16, patience=3)
    with pytest.warns(GANWarning, match="mode collapse: the samples cover 1 classes.*Remedies"):
        result = trainer.fit()
    assert [r["watchdog"] for r in result.history] == ["ok", "ok", "collapse", "ok"]


def test_coverage_works_from_the_first_run_with_the_shipped_classifier(cache_env, monkeypatch):
    from genlab.data import load_data
    from genlab.eval import classifier as C

    monkeypatch.setattr(C, "build_classifier", lambda *a, **k: pytest.fail("trained a classifier genlab ships"))
    tc = TrainConfig(steps=2, batch_size=8, log_every=2, progress=False)
    options = {**TINY["dcgan"], "coverage_every": 2, "coverage_samples": 20}
    config = RunConfig("dcgan", options, DataConfig("digits"), tc)
    result = Trainer(config, load_data("digits", split="test")).fit()  # an empty GENLAB_CACHE
    assert "coverage" in result.history[-1] and 0 <= result.history[-1]["recall"] <= 1


def test_a_dataset_without_shipped_weights_says_how_to_build_its_classifier(cache_env):
    with pytest.warns(CoverageWarning) as caught:  # "tiny": no shipped classifier, none built
        trainer_for("dcgan", steps=2, coverage_every=2).fit()
    message = str(caught[0].message)
    assert message.startswith("mode coverage is off for dataset 'tiny': genlab ships classifiers for digits, ")
    assert "`genlab eval features tiny`" in message


def test_unlabelled_data_says_so(cache_env):
    from genlab.data.base import ImageData

    data = tiny_images(32)
    unlabelled = ImageData(data.x, None, "blank", "train")
    tc = TrainConfig(steps=2, batch_size=8, log_every=2, progress=False)
    trainer = Trainer(RunConfig("dcgan", {**TINY["dcgan"], "coverage_every": 2}, DataConfig("blank"), tc), unlabelled)
    with pytest.warns(CoverageWarning, match="'blank' has no labels"):
        trainer.fit()
