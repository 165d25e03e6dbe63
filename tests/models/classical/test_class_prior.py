"""The class-conditional prior of pca, fa and svd: exact per-class densities, the mixture without labels, the
EM fixed point, samples per class, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import distributions as D

from genlab.data.base import DataSpec
from genlab.models import build_model
from genlab.models.classical.class_prior import ClassPrior
from tests.conftest import tiny_images
from tests.models.classical.helpers import dequantized, fitted, one_line_error


def explicit_class_densities(model, loadings: torch.Tensor, noise: torch.Tensor) -> list[D.MultivariateNormal]:
    """N(mu + W^T m_y, W^T C_y W + noise) per class, with the D x D covariances written out."""
    w = loadings.double()
    out = []
    for m, tril in zip(model.prior.mean.double(), model.prior.scale_tril.double(), strict=True):
        c = tril @ tril.T
        cov = w.T @ c @ w + torch.diag(noise.double().expand(w.shape[1]))
        out.append(D.MultivariateNormal(model.mean.double() + m @ w, covariance_matrix=cov))
    return out


@pytest.mark.parametrize("family", ["pca", "fa"])
def test_the_class_densities_are_the_written_out_gaussians(family):
    data = tiny_images(120)
    model = fitted(family, data=data, components=5, conditional=True)
    loadings, noise = ((model.factors(), model.noise_variance) if family == "pca"
                       else (model.loadings, model.noise_variance))
    test = dequantized(8)
    per_class = torch.stack([d.log_prob(test.flatten(1)) for d in explicit_class_densities(model, loadings, noise)], 1)
    y = torch.arange(8) % 4
    assert torch.allclose(model.nll(test, y), -per_class[torch.arange(8), y], rtol=1e-6)
    marginal = -torch.logsumexp(per_class + model.prior.log_prior.double(), 1)
    assert torch.allclose(model.nll(test), marginal, rtol=1e-6)
    counts = torch.bincount(data.y, minlength=4).double()
    assert torch.allclose(model.prior.log_prior.double(), (counts / 120).log(), atol=1e-6)
    # each class's density scores its own class best (the tiny classes are well separated)
    assert torch.equal(per_class.argmax(1), tiny_images(8, seed=5).y)


def test_the_em_update_on_all_the_data_returns_the_unit_prior():
    """PPCA's posterior means over the whole training set, plus its posterior covariance, are N(0, I) again
    (up to the n / (n - 1) of scikit-learn's variances): one class is the unconditional model."""
    data = tiny_images(400)
    model = fitted("pca", data=data, components=6, conditional=True)
    lam, s2 = model.explained_variance.double(), model.noise_variance.double()
    x = (data.x.flatten(1).double() + 0.5) / 256
    codes = (x - model.mean.double()) @ model.components.double().T * ((lam - s2).sqrt() / lam)
    prior = ClassPrior(1, 6).double()
    prior.fit(codes.numpy(), np.zeros(400, dtype=np.int64), torch.diag(s2 / lam).numpy())
    cov = prior.scale_tril[0] @ prior.scale_tril[0].T
    assert prior.mean.abs().max() < 1e-6  # float32 buffers
    assert torch.allclose(cov, torch.eye(6, dtype=torch.float64), atol=0.01)


@pytest.mark.parametrize("family", ["pca", "fa", "svd"])
def test_samples_are_drawn_per_class(family):
    model = fitted(family, data=tiny_images(200), components=4, conditional=True)
    out = model.sample(12, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.y, torch.arange(12) % 4) and out.x.shape == (12, 1, 8, 8)
    threes = model.sample(6, cond=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(threes.y, torch.full((6,), 3))
    # class 3 is the bright bottom-right quadrant: its samples are brightest there
    quadrants = threes.x[:, 0].unflatten(1, (2, 4)).unflatten(3, (2, 4)).mean((2, 4))  # (6, 2, 2)
    assert (quadrants.flatten(1).argmax(1) == 3).all()


def test_the_prior_draws_have_the_class_moments():
    prior = ClassPrior(2, 3).double()
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[2.0, 0, 0], [1, 1, 0], [0, 0, 0.5]], dtype=torch.float64)
    codes = torch.cat([torch.randn(3000, 3, generator=g, dtype=torch.float64) @ mix + 4,
                       torch.randn(1000, 3, generator=g, dtype=torch.float64) - 1])
    labels = np.array([0] * 3000 + [1] * 1000)
    prior.fit(codes.numpy(), labels)
    z = prior.draw(torch.zeros(20000, dtype=torch.long), torch.randn(20000, 3, generator=g).double())
    assert torch.allclose(z.mean(0), codes[:3000].mean(0), atol=0.06)
    assert torch.allclose(torch.cov(z.T), torch.cov(codes[:3000].T), atol=0.12)
    assert prior.log_prior.exp().tolist() == pytest.approx([0.75, 0.25])


def test_svd_codes_get_their_class_mean_and_covariance():
    data = tiny_images(120)
    model = fitted("svd", data=data, components=4, conditional=True)
    codes = model.encode(data.x.double() / 255).double()
    for k in range(4):
        assert torch.allclose(model.prior.mean[k].double(), codes[data.y == k].mean(0), atol=1e-5)


def test_a_class_without_images_has_prior_zero_and_is_drawn_only_when_asked_for():
    """Trained on classes 0 and 2 only (--classes 0 2): the others get p(y) = 0; samples cycle the kept ones."""
    some = tiny_images(200).of_classes([0, 2])
    model = build_model("pca", {"components": 3, "conditional": True}, spec=some.spec)
    model.fit(some, generator=torch.Generator().manual_seed(0))
    assert torch.isinf(model.prior.log_prior[[1, 3]]).all() and torch.isfinite(model.prior.log_prior[[0, 2]]).all()
    assert torch.equal(model.sample(4).y, torch.tensor([0, 2, 0, 2]))
    assert torch.isfinite(model.nll(dequantized(6))).all()
    # a class it never saw, asked for, has the prior of all the images it did see
    assert torch.equal(model.prior.mean[1], model.prior.mean[3])
    assert not torch.allclose(model.prior.mean[1], model.prior.mean[0])


def test_the_marginal_likelihood_is_labelled_with_the_fitted_class_frequencies():
    from genlab.eval.likelihood import evaluate_likelihood

    model = fitted("fa", data=tiny_images(120), components=3, conditional=True)
    r = evaluate_likelihood(model, tiny_images(20, seed=9).images(), generator=torch.Generator().manual_seed(0))
    assert "marginal over the 4 labels" in r["likelihood_label"]
    assert "p(y) its fitted class frequencies" in r["likelihood_label"]


def test_a_conditional_model_survives_a_state_dict_round_trip():
    model = fitted("fa", data=tiny_images(120), components=3, conditional=True)
    again = build_model("fa", {"components": 3, "conditional": True}, spec=tiny_images(4).spec)
    again.load_state_dict(model.state_dict())
    test = dequantized(5)
    assert torch.equal(again.eval().nll(test), model.nll(test))


@pytest.mark.parametrize("family", ["pca", "fa", "svd"])
def test_conditional_without_labels_is_a_one_line_error(family):
    with pytest.raises(ValueError) as e:
        build_model(family, {"conditional": True, "components": 2}, spec=DataSpec.image((1, 8, 8)))
    assert one_line_error(e) == (f"a conditional {family} needs labelled data with at least 2 classes; "
                                 "train on a labelled dataset or set conditional=False")
