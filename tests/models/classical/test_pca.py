"""Exact checks of `pca`: PPCA's density against torch.distributions and scikit-learn, exact
reconstruction with every component, eigen-images, bad options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import distributions as D

from genlab.config import ConfigError
from genlab.models import build_model
from genlab.models.classical.common import DEQUANT_VARIANCE
from tests.conftest import tiny_images
from tests.models.classical.helpers import dequantized, fitted, one_line_error


def test_ppca_log_likelihood_equals_multivariate_normal_with_the_implied_covariance():
    model = fitted("pca", components=5)
    x = dequantized()
    mvn = D.MultivariateNormal(model.mean.double(), covariance_matrix=model.covariance())
    expected = -mvn.log_prob(x.flatten(1))
    assert torch.allclose(model.nll(x), expected, rtol=1e-9, atol=1e-7)


def test_ppca_is_scikit_learns_plus_the_dequantization_variance():
    """The implied covariance is scikit-learn's PPCA covariance (Tipping & Bishop) + 1/(12 * 256^2) I."""
    from sklearn.decomposition import PCA

    data = tiny_images(64)
    model = fitted("pca", data=data, components=5)
    x = (data.x.flatten(1).double().numpy() + 0.5) / 256
    sk = PCA(5, svd_solver="full").fit(x)
    expected = torch.from_numpy(sk.get_covariance()) + DEQUANT_VARIANCE * torch.eye(64, dtype=torch.float64)
    assert torch.allclose(model.covariance(), expected, atol=1e-6)
    assert model.explained_variance_ratio().double().numpy() == pytest.approx(sk.explained_variance_ratio_, abs=1e-5)


def test_the_covariance_has_the_principal_variances_along_the_components_and_sigma2_across():
    model = fitted("pca", components=4)
    c, u = model.covariance(), model.components.double()
    assert torch.allclose(torch.einsum("qd,de,qe->q", u, c, u), model.explained_variance.double(), rtol=1e-5)
    v = torch.randn(64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    v = v - u.T @ (u @ v)  # orthogonal to the components
    assert (v @ c @ v / (v @ v)).item() == pytest.approx(model.noise_variance.item(), rel=1e-5)


def test_encode_decode_with_all_components_reconstructs_exactly():
    model = fitted("pca", n=100, components=64)
    x = tiny_images(8, seed=3).images()
    assert model.encode(x).shape == (8, 64)
    assert torch.allclose(model.decode(model.encode(x)), x, atol=1e-5)
    assert torch.allclose(model.reconstruct(x), x, atol=1e-5)


def test_fewer_components_reconstruct_worse_and_codes_decorrelate():
    x = tiny_images(64).images()
    errs = [(fitted("pca", components=q).reconstruct(x) - x).pow(2).mean().item() for q in (1, 3, 10)]
    assert errs[0] > errs[1] > errs[2]
    z = fitted("pca", components=5).encode(x).double()
    cov = torch.cov(z.T)
    assert torch.allclose(cov - torch.diag(cov.diagonal()), torch.zeros(5, 5, dtype=torch.float64), atol=1e-3)


def test_eigen_images_and_samples():
    model = fitted("pca", components=6)
    eig = model.eigen_images()
    assert eig.shape == (6, 1, 8, 8) and eig.min() >= 0 and eig.max() <= 1
    g = torch.Generator().manual_seed(0)
    clean = model.sample(4, generator=g, noise=False).x
    assert clean.shape == (4, 1, 8, 8)


def test_randomized_solver_agrees_with_the_exact_one():
    exact, fast = fitted("pca", components=3), fitted("pca", components=3, solver="randomized")
    x = dequantized()
    assert torch.allclose(exact.nll(x), fast.nll(x), rtol=1e-4)


def test_bad_options_give_one_line_errors():
    spec = tiny_images(4).spec
    with pytest.raises(ValueError) as e:
        build_model("pca", {"components": 65}, spec=spec)
    assert one_line_error(e) == "components=65 exceeds the 64 pixels of a 1x8x8 image; choose components <= 64"
    with pytest.raises(ConfigError, match="components must be >= 1"):
        build_model("pca", {"components": 0}, spec=spec)
    with pytest.raises(ConfigError, match="unknown solver 'svd'; valid: auto, full, covariance_eigh, randomized"):
        build_model("pca", {"solver": "svd"}, spec=spec)
    model = build_model("pca", {"components": 20}, spec=spec)
    with pytest.raises(ValueError) as e:
        model.fit(tiny_images(10), generator=torch.Generator().manual_seed(0))
    assert "needs at least 20 training images, got 10: choose --components 10 or fewer" in one_line_error(e)


def test_fit_is_deterministic_for_a_seed():
    a, b = fitted("pca", components=3, solver="randomized"), fitted("pca", components=3, solver="randomized")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert np.isfinite(a.nll(dequantized()).numpy()).all()
