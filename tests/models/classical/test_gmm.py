"""Exact checks of `gmm`: one component is the Gaussian fit, the subspace density is a mixture of
D-dimensional Gaussians, the class-conditional mixture, bad options."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from genlab.config import ConfigError
from genlab.data.base import DataSpec, ImageData
from genlab.models import build_model
from genlab.models.classical.common import DEQUANT_VARIANCE
from tests.conftest import tiny_images
from tests.models.classical.helpers import dequantized, fitted, one_line_error


def bin_centres(data) -> torch.Tensor:
    return (data.x.flatten(1).double() + 0.5) / 256


def test_one_full_component_is_the_gaussian_fit():
    """K = 1 on the pixels: N(mean, biased covariance + the dequantization variance) of the bin centres."""
    data = tiny_images(200)
    model = fitted("gmm", data=data, components=1, pca_components=0)
    x = bin_centres(data)
    mean, cov = x.mean(0), torch.cov(x.T, correction=0) + DEQUANT_VARIANCE * torch.eye(64, dtype=torch.float64)
    test = dequantized()
    expected = -D.MultivariateNormal(mean, covariance_matrix=cov).log_prob(test.flatten(1))
    assert torch.allclose(model.nll(test), expected, rtol=1e-5)


def test_one_diagonal_component_is_independent_pixels():
    data = tiny_images(200)
    model = fitted("gmm", data=data, components=1, pca_components=0, covariance="diag")
    x = bin_centres(data)
    normal = D.Normal(x.mean(0), (x.var(0, correction=0) + DEQUANT_VARIANCE).sqrt())
    test = dequantized()
    assert torch.allclose(model.nll(test), -normal.log_prob(test.flatten(1)).sum(1), rtol=1e-5)


def test_the_subspace_density_is_a_mixture_of_full_gaussians():
    """In a PCA subspace: covariances U^T S_k U + s^2 (I - U^T U) in the D pixels, means mu + U^T m_k."""
    model = fitted("gmm", components=3, pca_components=5)
    u, mu, s2 = model.basis.double(), model.basis_mean.double(), model.residual_variance.double()[0]
    rest = torch.eye(64, dtype=torch.float64) - u.T @ u
    parts, x = [], dequantized()
    for k in range(3):
        scale = model.scale_tril[0, k].double()
        cov = u.T @ scale @ scale.T @ u + s2 * rest
        mean = mu + model.means[0, k].double() @ u
        parts.append(model.log_weights[0, k].double() + D.MultivariateNormal(mean, cov).log_prob(x.flatten(1)))
    expected = -torch.logsumexp(torch.stack(parts, 1), 1)
    assert torch.allclose(model.nll(x), expected, rtol=1e-7)


def test_the_discarded_dimensions_get_the_mean_left_out_variance():
    data = tiny_images(64)
    model = fitted("gmm", data=data, components=2, pca_components=5)
    x = bin_centres(data) - model.basis_mean.double()
    z = x @ model.basis.double().T
    left_out = ((x * x).sum() - (z * z).sum()) / (64 * (64 - 5))
    assert model.residual_variance[0].item() == pytest.approx(left_out.item() + DEQUANT_VARIANCE, rel=1e-5)


def test_conditional_mixture_per_class():
    data = tiny_images(80)
    model = fitted("gmm", data=data, components=2, pca_components=4, conditional=True)
    test = dequantized(8)
    y = torch.arange(8) % 4
    per_class = model.log_prob_per_mixture(test)  # (b, 4)
    assert torch.allclose(model.nll(test, y), -per_class[torch.arange(8), y])
    marginal = -torch.logsumexp(per_class + model.class_log_prior.double(), 1)
    assert torch.allclose(model.nll(test), marginal)
    counts = torch.bincount(data.y, minlength=4).double()
    assert torch.allclose(model.class_log_prior.double(), (counts / 80).log(), atol=1e-6)
    # each class's mixture scores its own class best (the tiny classes are well separated)
    assert torch.equal(per_class.argmax(1), tiny_images(8, seed=5).y)
    out = model.sample(8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.y, torch.arange(8) % 4) and out.x.shape == (8, 1, 8, 8)
    assert model.component_means().shape == (4 * 2, 1, 8, 8)


def test_samples_follow_the_mixture():
    """Many samples of a 1-D two-component mixture (no subspace, no clamping) have its mean and variance."""
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.full((300,), 60), torch.full((100,), 180)]).to(torch.uint8)
    x = (x.float() + torch.randn(400, generator=g) * 5).clamp(0, 255).round().to(torch.uint8)
    data = ImageData(x.view(400, 1, 1, 1), None, "toy", "train")
    model = fitted("gmm", data=data, components=2, pca_components=0)
    s = model.sample(20000, generator=torch.Generator().manual_seed(1)).x.flatten().double()
    w = model.log_weights[0].exp().double()
    m, v = model.means[0, :, 0].double(), model.scale_tril[0, :, 0, 0].double() ** 2
    assert s.mean().item() == pytest.approx((w * m).sum().item(), abs=0.005)
    assert s.var().item() == pytest.approx((w * (v + m ** 2)).sum().item() - (w * m).sum().item() ** 2, rel=0.03)


def test_a_likelihood_of_dequantized_data_is_a_density_on_the_bins():
    """Sanity on the shared scale: bits/dim of the dequantized bound is finite and below 8 (uniform)."""
    from genlab.eval.likelihood import evaluate_likelihood

    model = fitted("gmm", components=2, pca_components=5)
    test = tiny_images(20, seed=9)
    r = evaluate_likelihood(model, test.images(), generator=torch.Generator().manual_seed(0))
    assert math.isfinite(r["bits_per_dim"]) and r["bits_per_dim"] < 8
    assert r["likelihood_label"].startswith("exact NLL")


def test_bad_options_give_one_line_errors():
    spec = tiny_images(4).spec
    with pytest.raises(ValueError) as e:
        build_model("gmm", {"pca_components": 65}, spec=spec)
    assert one_line_error(e) == ("pca_components=65 exceeds the 64 pixels of a 1x8x8 image; "
                                 "choose pca_components <= 64")
    with pytest.raises(ValueError) as e:
        build_model("gmm", {"conditional": True}, spec=DataSpec.image((1, 8, 8)))
    assert "needs labelled data" in one_line_error(e)
    with pytest.raises(ConfigError, match="unknown covariance 'tied'; valid: full, diag"):
        build_model("gmm", {"covariance": "tied"}, spec=spec)
    model = build_model("gmm", {"components": 12, "pca_components": 3, "conditional": True}, spec=spec)
    with pytest.raises(ValueError) as e:
        model.fit(tiny_images(32), generator=torch.Generator().manual_seed(0))
    msg = one_line_error(e)  # the smallest class has 5 of the 32 tiny images
    counts = torch.bincount(tiny_images(32).y)
    assert f"needs at least 12 training images, got {int(counts.min())}: choose --components {int(counts.min())} " \
           "or fewer, or train on more images" in msg


def test_fit_is_deterministic_for_a_seed():
    a = fitted("gmm", components=3, pca_components=4, init="random", seed=3)
    b = fitted("gmm", components=3, pca_components=4, init="random", seed=3)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_a_time_budget_stops_em_and_a_large_one_gives_the_plain_fit():
    data = tiny_images(64)
    options = {"components": 3, "pca_components": 4, "max_iter": 50}

    def fit(budget):
        torch.manual_seed(0)
        model = build_model("gmm", options, shape=(1, 8, 8))
        figures = model.fit(data, generator=torch.Generator().manual_seed(0), time_budget=budget)
        return model, figures

    plain, plain_figures = fit(0.0)
    assert plain_figures["em_iterations"] > 1
    cut, cut_figures = fit(1e-9)  # spent before the first iteration ends: one iteration, not converged
    assert cut_figures["em_iterations"] == 1 and cut_figures["converged"] == 0.0
    ample, ample_figures = fit(3600.0)
    assert ample_figures["em_iterations"] == plain_figures["em_iterations"]
    torch.testing.assert_close(ample.means, plain.means, rtol=1e-4, atol=1e-6)


def test_a_class_without_training_images_gets_no_prior_mass_and_the_mixture_of_all_images():
    data = tiny_images(48)
    keep = data.y != 2
    cut = ImageData(data.x[keep], data.y[keep], data.name, data.split, data.classes)  # class 2 never seen
    model = fitted("gmm", data=cut, components=2, pca_components=3, conditional=True)
    assert model.class_log_prior[2] == -float("inf")
    assert torch.allclose(model.class_log_prior.exp().sum(), torch.tensor(1.0))
    pooled = fitted("gmm", data=cut, components=2, pca_components=3)  # the same subspace and images, one mixture
    assert torch.allclose(model.means[2], pooled.means[0], atol=1e-4)
    test = dequantized(6)
    assert torch.isfinite(model.nll(test)).all()
    assert model.sample(3, cond=torch.tensor(2), generator=torch.Generator().manual_seed(0)).x.shape == (3, 1, 8, 8)
