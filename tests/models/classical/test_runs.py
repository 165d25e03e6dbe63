"""Every classical family fits through a run folder (genlab.runs.train), loads with load_run, and scores,
samples and encodes exactly as the fitted model did."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.eval.likelihood import evaluate_likelihood
from genlab.models.base import Latent, Likelihood
from genlab.runs import load_run, sample, train
from tests.conftest import TINY, tiny_images
from tests.models.classical.helpers import dequantized, fitted

CLASSICAL = ["pca", "fa", "gmm", "svd", "nb"]


def config(family: str, options: dict) -> RunConfig:
    return RunConfig(family, options, DataConfig("tiny"),
                     TrainConfig(steps=1000, batch_size=8, log_every=2, progress=False, device="cpu"))


@pytest.mark.parametrize("family", CLASSICAL)
def test_fits_once_in_a_run_folder_and_loads(family, tmp_path):
    data = tiny_images(48)
    result = train(config(family, TINY[family]), tmp_path / "run", data=data)
    assert result.step == 1 and result.stopped == "done" and "fit_seconds" in result.history[0]
    assert (tmp_path / "run" / "samples" / "step_00000001.png").exists()
    again = train(config(family, TINY[family]), tmp_path / "run", data=data, resume=True)  # nothing left to do
    assert again.step == 1
    run = load_run(tmp_path / "run")
    for k, v in result.model.state_dict().items():
        assert torch.equal(run.model.state_dict()[k], v), k
    x, y = data.images(slice(0, 6)), data.labels(slice(0, 6))
    if isinstance(run.model, Likelihood):
        assert torch.equal(run.model.nll(x, y), result.model.nll(x, y))
        r = evaluate_likelihood(run.model, x, y, generator=torch.Generator().manual_seed(0))
        assert math.isfinite(r["bits_per_dim"]) and r["likelihood_label"].startswith("exact NLL")
    if isinstance(run.model, Latent):
        assert torch.equal(run.model.encode(x), result.model.encode(x))
    out = sample(run, 4)
    assert out.x.shape == (4, 1, 8, 8)


@pytest.mark.parametrize("family, options", [("pca", {"components": 3}), ("fa", {"components": 3}),
                                             ("gmm", {"components": 2, "pca_components": 4})])
def test_sample_noise_in_the_config_is_what_sample_does_unless_told(family, options):
    noisy, clean = fitted(family, **options), fitted(family, sample_noise=False, **options)
    g = lambda: torch.Generator().manual_seed(3)
    assert torch.equal(clean.sample(8, generator=g()).x, noisy.sample(8, generator=g(), noise=False).x)
    assert torch.equal(clean.sample(8, generator=g(), noise=True).x, noisy.sample(8, generator=g()).x)
    assert not torch.equal(clean.sample(8, generator=g()).x, noisy.sample(8, generator=g()).x)
    x = dequantized()
    assert torch.equal(clean.nll(x), noisy.nll(x))  # the density does not change


def test_an_em_fit_reports_its_progress_through_the_trainer(tmp_path, monkeypatch):
    import genlab.training.trainer as trainer

    calls = []

    class Recording:  # stands for the tqdm bars, which draw only on a terminal
        def __init__(self, desc, progress):
            self.desc = desc

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __bool__(self):
            return True

        def __call__(self, stage, done, total):
            calls.append((self.desc, stage, done, total))

    monkeypatch.setattr(trainer, "Bars", Recording)
    train(config("nb", {"components": 2}), tmp_path / "nb", data=tiny_images(48))
    assert calls == [("fit nb", "classes", k, 4) for k in range(5)]  # one step per class of the tiny data
    calls.clear()
    train(config("gmm", {**TINY["gmm"], "conditional": True, "components": 2}), tmp_path / "gmm",
          data=tiny_images(48))
    assert calls == [("fit gmm", "mixtures", k, 4) for k in range(5)]
    calls.clear()
    train(config("pca", TINY["pca"]), tmp_path / "pca", data=tiny_images(48))  # a closed form: no progress to report
    assert calls == []
