"""The Gaussian mixture an autoencoder samples its codes from (genlab.models.code_prior), fitted by the trainer
when a run ends."""

from __future__ import annotations

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.models import build_model
from genlab.models.code_prior import CodePrior
from genlab.training.trainer import Trainer
from tests.conftest import TINY, tiny_images


def two_clusters(n: int = 400, dim: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, dim, generator=g) * 0.1
    z[: n // 2, 0] += 5.0  # half the codes near (5, 0, ...), half near 0
    return z


def test_fitted_mixture_samples_where_the_codes_are():
    prior = CodePrior(3, components=2)
    assert not prior.fitted
    info = prior.fit(two_clusters())
    assert prior.fitted and info["components"] == 2 and info["dims"] == 3
    assert torch.allclose(prior.log_weights.exp().sum(), torch.tensor(1.0))
    s = prior.sample(2000, torch.Generator().manual_seed(1))
    near = ((s[:, 0] - 5).abs() < 1) | (s[:, 0].abs() < 1)
    assert s.shape == (2000, 3) and near.all()  # nothing between the clusters, where a single Gaussian would put mass
    assert 0.4 < (s[:, 0] > 2.5).float().mean() < 0.6


def test_wide_codes_are_fitted_in_a_principal_subspace():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(10, 2, generator=g))[0].T  # 2 orthonormal directions in 10-d
    z = torch.randn(300, 2, generator=g) @ basis + 3.0
    prior = CodePrior(10, components=2, max_dims=2)
    prior.fit(z)
    s = prior.sample(50, torch.Generator().manual_seed(1))
    off = (s - 3.0) - ((s - 3.0) @ basis.T) @ basis  # the part outside the codes' plane
    assert s.shape == (50, 10) and off.abs().max() < 1e-4


def test_same_seed_same_samples():
    prior = CodePrior(3, components=2)
    prior.fit(two_clusters())
    a, b = (prior.sample(5, torch.Generator().manual_seed(7)) for _ in range(2))
    assert torch.equal(a, b)


def test_bad_codes_are_one_line_errors():
    prior = CodePrior(3, components=4)
    with pytest.raises(ValueError, match=r"fits \(n, 3\) codes"):
        prior.fit(torch.zeros(100, 5))
    with pytest.raises(ValueError, match="needs >= 8 codes"):
        prior.fit(torch.randn(5, 3))


def test_a_run_saved_before_the_prior_loads_unfitted():
    ae = build_model("ae", TINY["ae"], shape=(1, 8, 8))
    old = {k: v for k, v in ae.state_dict().items() if not k.startswith("prior.")}
    fresh = build_model("ae", TINY["ae"], shape=(1, 8, 8))
    fresh.load_state_dict(old)  # strict: the prior's buffers keep their unfitted defaults
    assert not fresh.prior.fitted
    assert fresh.sample(3, generator=torch.Generator().manual_seed(0)).x.shape == (3, 1, 8, 8)


@pytest.mark.parametrize("family", ["ae", "dae", "cae"])
def test_training_ends_by_fitting_the_code_prior(family):
    tc = TrainConfig(steps=3, batch_size=8, progress=False, ema_decay=0.9)
    trainer = Trainer(RunConfig(family, dict(TINY[family]), DataConfig("tiny"), tc), tiny_images(64))
    result = trainer.fit()
    model = result.model
    prior = model.code_prior if family == "cae" else model.prior
    assert prior.fitted and trainer.model is not model  # the EMA weights that sample were fitted ...
    assert (trainer.model.code_prior if family == "cae" else trainer.model.prior).fitted  # ... and the trained ones
    assert result.history[-1]["step"] == 3
    x = model.sample(6, generator=torch.Generator(device=model.device).manual_seed(0)).x  # cuda on a GPU machine
    assert x.shape == (6, 1, 8, 8) and torch.isfinite(x).all()


def test_too_few_images_or_a_collapsed_encoder_keep_the_fallback():
    from genlab.models.code_prior import fit_code_prior

    prior = CodePrior(3, components=4)
    assert fit_code_prior(prior, lambda x: x.flatten(1)[:, :3], tiny_images(6), torch.device("cpu")) == {
        "code_prior_fitted": 0.0}
    with pytest.warns(UserWarning, match="could not be fitted"):
        out = fit_code_prior(prior, lambda x: torch.zeros(len(x), 3), tiny_images(64), torch.device("cpu"))
    assert out == {"code_prior_fitted": 0.0} and not prior.fitted


@pytest.mark.parametrize("family, prefix", [("ae", "prior."), ("cae", "code_prior.")])
def test_a_saved_run_without_the_prior_loads_with_load_run(tmp_path, family, prefix):
    from safetensors.torch import load_file, save_file

    from genlab.runs import load_run, train

    config = RunConfig(family, dict(TINY[family]), DataConfig("tiny"),
                       TrainConfig(steps=2, batch_size=8, progress=False, ema_decay=0.9))
    train(config, tmp_path / "r", data=tiny_images(64))
    for f in (tmp_path / "r" / "checkpoints").glob("step_*/*.safetensors"):  # as a run of an older genlab
        weights = load_file(f)
        save_file({k: v for k, v in weights.items() if prefix not in k}, f)
    model = load_run(tmp_path / "r").model
    prior = model.code_prior if family == "cae" else model.prior
    assert not prior.fitted
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).x.shape == (2, 1, 8, 8)
