"""Exact checks of `fa`: the density against torch.distributions and scikit-learn, the posterior mean,
rotation invariance, bad options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import distributions as D

from genlab.config import ConfigError
from genlab.models import build_model
from genlab.models.classical.common import DEQUANT_VARIANCE, moment_rows
from tests.conftest import tiny_images
from tests.models.classical.helpers import dequantized, fitted, one_line_error


def test_fa_log_likelihood_equals_multivariate_normal_with_the_implied_covariance():
    model = fitted("fa", components=4)
    x = dequantized()
    mvn = D.MultivariateNormal(model.mean.double(), covariance_matrix=model.covariance())
    assert torch.allclose(model.nll(x), -mvn.log_prob(x.flatten(1)), rtol=1e-9, atol=1e-7)


def test_moment_rows_have_the_mean_and_the_covariance_plus_the_extra_variance():
    x = np.random.default_rng(0).random((50, 6))
    rows = moment_rows(x, 0.01)
    assert rows.shape == (12, 6)
    assert np.allclose(rows.mean(0), x.mean(0))
    assert np.allclose(np.cov(rows, rowvar=False, bias=True), np.cov(x, rowvar=False, bias=True) + 0.01 * np.eye(6))


def test_fitting_the_moment_rows_is_fitting_the_images():
    """Factor analysis depends on the data only through its mean and covariance: scikit-learn's fit of the
    2D moment rows equals its fit of the n images (its tol is a sum over rows, so it is scaled)."""
    from sklearn.decomposition import FactorAnalysis

    x = (tiny_images(300).x.flatten(1).double().numpy() + 0.5) / 256
    rows = moment_rows(x)
    a = FactorAnalysis(4, svd_method="lapack", tol=1e-3 * len(x), max_iter=500).fit(x)
    b = FactorAnalysis(4, svd_method="lapack", tol=1e-3 * len(rows), max_iter=500).fit(rows)
    assert a.n_iter_ == b.n_iter_
    assert np.allclose(a.get_covariance(), b.get_covariance(), atol=1e-10)
    assert np.allclose(a.noise_variance_, b.noise_variance_, atol=1e-10)


def test_fa_is_scikit_learns_fit_of_the_dequantized_moments():
    from sklearn.decomposition import FactorAnalysis

    data = tiny_images(64)
    model = fitted("fa", data=data, components=4, seed=0, svd_method="lapack")
    rows = moment_rows((data.x.flatten(1).double().numpy() + 0.5) / 256, DEQUANT_VARIANCE)
    sk = FactorAnalysis(4, svd_method="lapack", tol=1e-4 * len(rows)).fit(rows)
    psi = np.maximum(sk.noise_variance_, DEQUANT_VARIANCE)
    expected = torch.from_numpy(sk.components_.T @ sk.components_ + np.diag(psi))
    assert torch.allclose(model.covariance(), expected, atol=1e-6)
    assert (model.noise_variance >= DEQUANT_VARIANCE * (1 - 1e-6)).all()


def test_encode_is_the_posterior_mean():
    """E[z | x] = W C^-1 (x - mu) with C = W^T W + Psi (the Woodbury form the model uses, by hand)."""
    model = fitted("fa", components=4)
    x = tiny_images(5, seed=2).images()
    w = model.loadings.double()
    expected = (w @ torch.linalg.solve(model.covariance(), (x.flatten(1).double() - model.mean.double()).T)).T
    assert torch.allclose(model.encode(x).double(), expected, atol=1e-5)
    assert model.decode(model.encode(x)).shape == x.shape


def test_a_rotation_of_the_factors_keeps_the_likelihood():
    x = dequantized()
    plain, varimax = fitted("fa", components=4), fitted("fa", components=4, rotation="varimax")
    assert not torch.allclose(plain.loadings, varimax.loadings, atol=1e-4)
    assert torch.allclose(plain.nll(x), varimax.nll(x), rtol=1e-6)


def test_samples_and_factor_pictures():
    model = fitted("fa", components=3)
    assert model.basis_images().shape == (3, 1, 8, 8)
    out = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert out.x.shape == (5, 1, 8, 8) and out.y is None


def test_bad_options_give_one_line_errors():
    spec = tiny_images(4).spec
    with pytest.raises(ValueError) as e:
        build_model("fa", {"components": 100}, spec=spec)
    assert "components=100 exceeds the 64 pixels" in one_line_error(e)
    with pytest.raises(ConfigError, match="unknown rotation 'promax'; valid: none, varimax, quartimax"):
        build_model("fa", {"rotation": "promax"}, spec=spec)
    with pytest.raises(ConfigError, match="tol must be > 0"):
        build_model("fa", {"tol": 0.0}, spec=spec)


def test_fit_is_deterministic_for_a_seed():
    a, b = fitted("fa", components=3, seed=4), fitted("fa", components=3, seed=4)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
