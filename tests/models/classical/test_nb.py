"""Exact checks of `nb`: the posterior is Bayes' rule by hand, missing pixels are marginalized exactly
(their factors dropped), per-class samples, bad options."""

from __future__ import annotations

import pytest
import torch

from genlab.config import ConfigError
from genlab.data.base import DataSpec, ImageData
from genlab.models import build_model
from genlab.models.classical.common import DEQUANT_VARIANCE
from tests.conftest import tiny_images
from tests.models.classical.helpers import fitted, one_line_error

# Three-pixel images: class 0 has 3 examples, class 1 has 2.
PIXELS = [[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 1], [0, 1, 1]]
LABELS = [0, 0, 0, 1, 1]


def three_pixel_data() -> ImageData:
    x = (torch.tensor(PIXELS) * 255).to(torch.uint8).view(5, 1, 1, 3)
    return ImageData(x, torch.tensor(LABELS), "toy", "train", ("a", "b"))


def test_bernoulli_posterior_is_bayes_rule_by_hand():
    model = fitted("nb", data=three_pixel_data(), alpha=1.0)
    # p_yd = (count of 1s + alpha) / (class count + 2 alpha); p(y) = class count / 5
    p0, p1, prior = torch.tensor([4 / 5, 3 / 5, 2 / 5]), torch.tensor([1 / 4, 2 / 4, 3 / 4]), [3 / 5, 2 / 5]
    assert torch.allclose(model.means.double(), torch.stack([p0, p1]).double(), atol=1e-7)
    x = torch.tensor([1.0, 0.0, 1.0]).view(1, 1, 1, 3)
    joint = torch.tensor([prior[0] * 0.8 * (1 - 0.6) * 0.4, prior[1] * 0.25 * (1 - 0.5) * 0.75], dtype=torch.float64)
    assert torch.allclose(model.class_log_posterior(x).exp()[0], joint / joint.sum(), atol=1e-12)
    assert model.predict(x).item() == 0
    # the likelihood: -log p(x | y) for a conditional model given y; -log p(x) otherwise
    assert model.nll(x.double(), torch.tensor([1])).item() == pytest.approx(-(joint[1] / prior[1]).log().item())
    assert model.nll(x.double()).item() == pytest.approx(-joint.sum().log().item())


def test_missing_pixels_are_marginalized_exactly():
    model = fitted("nb", data=three_pixel_data(), alpha=1.0)
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]).view(2, 1, 1, 3)
    mask = torch.tensor([[1, 0, 0], [1, 0, 0]]).view(2, 1, 1, 3)  # pixel 0 missing
    joint = torch.tensor([3 / 5 * (1 - 0.6) * 0.4, 2 / 5 * (1 - 0.5) * 0.75], dtype=torch.float64)  # its factor dropped
    post = model.class_log_posterior(x, mask).exp()
    assert torch.allclose(post, (joint / joint.sum()).expand(2, 2), atol=1e-12)  # pixel 0's value is ignored
    assert torch.equal(model.predict(x, mask), torch.tensor([1, 1]))  # without pixel 0, class 1 wins
    everything = torch.ones_like(mask)
    assert torch.allclose(model.class_log_posterior(x, everything).exp(), torch.tensor([0.6, 0.4]).double())


def test_gaussian_posterior_is_bayes_rule_by_hand_and_ignores_missing_pixels():
    data = tiny_images(60)
    model = fitted("nb", data=data, likelihood="gaussian")
    assert model.likelihood_kind == "continuous"
    xs = (data.x.flatten(1).double() + 0.5) / 256
    test = tiny_images(6, seed=4).images().double()
    mask = (torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0)) < 0.5)
    obs = (~mask).flatten(1).double()
    joint = []
    for k in range(4):
        xk = xs[data.y == k]
        normal = torch.distributions.Normal(xk.mean(0), (xk.var(0, correction=0) + DEQUANT_VARIANCE).sqrt())
        log_prior = torch.tensor(len(xk) / 60, dtype=torch.float64).log()
        joint.append(log_prior + (normal.log_prob(test.flatten(1)) * obs).sum(1))  # observed pixels' factors
    expected = torch.log_softmax(torch.stack(joint, 1), 1)
    assert torch.allclose(model.class_log_posterior(test, mask), expected, atol=1e-6)
    scrambled = torch.where(mask, torch.rand(test.shape, dtype=torch.float64), test)  # missing values changed
    assert torch.allclose(model.class_log_posterior(scrambled, mask), expected, atol=1e-6)


def test_classifies_the_tiny_classes_with_half_the_pixels_missing():
    data = tiny_images(80)
    test = tiny_images(40, seed=7)
    mask = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.5
    for likelihood in ("bernoulli", "gaussian"):
        model = fitted("nb", data=data, likelihood=likelihood)
        assert (model.predict(test.images(), mask) == test.y).float().mean() > 0.9, likelihood


def test_samples_per_class():
    model = fitted("nb", alpha=0.5)
    out = model.sample(8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.y, torch.arange(8) % 4)
    assert set(out.x.unique().tolist()) <= {0.0, 1.0}  # Bernoulli pixels
    assert model.likelihood_kind == "binary" and model.class_means().shape == (4, 1, 8, 8)
    ones = model.sample(2000, cond=torch.tensor(2), generator=torch.Generator().manual_seed(1)).x
    assert torch.allclose(ones.mean(0).flatten(), model.means[2], atol=0.05)
    mixture = fitted("nb", conditional=False).sample(5, generator=torch.Generator().manual_seed(0))
    assert mixture.y is None and mixture.x.shape == (5, 1, 8, 8)


def test_bad_options_and_data_give_one_line_errors():
    with pytest.raises(ValueError) as e:
        build_model("nb", {}, spec=DataSpec.image((1, 8, 8)))
    assert "needs labelled data" in one_line_error(e)
    with pytest.raises(ConfigError, match="threshold must be > 0 and < 1, got 1.5"):
        build_model("nb", {"threshold": 1.5}, spec=tiny_images(4).spec)
    with pytest.raises(ConfigError, match="unknown likelihood 'poisson'; valid: bernoulli, gaussian"):
        build_model("nb", {"likelihood": "poisson"}, spec=tiny_images(4).spec)
    data = three_pixel_data()
    only_a = ImageData(data.x[:3], data.y[:3], "toy", "train", ("a", "b"))
    with pytest.raises(ValueError) as e:
        fitted("nb", data=only_a)
    assert one_line_error(e) == "an nb model needs training images of every class; none of class [1]"
    model = build_model("nb", {}, spec=data.spec)
    with pytest.raises(ValueError, match="missing_mask must have x's shape"):
        model.predict(torch.zeros(2, 1, 1, 3), torch.zeros(2, 4))


def test_fit_is_deterministic():
    a, b = fitted("nb", likelihood="gaussian"), fitted("nb", likelihood="gaussian")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def with_latent_classes(likelihood: str = "bernoulli") -> torch.nn.Module:
    """A 2-class, 2-components-per-class nb on 3-pixel images with its buffers set by hand."""
    model = build_model("nb", {"components": 2, "likelihood": likelihood}, spec=three_pixel_data().spec)
    model.class_log_prior.copy_(torch.tensor([0.6, 0.4]).log())
    model.component_log_weights.copy_(torch.tensor([[0.7, 0.3], [0.5, 0.5]]).log())
    model.means.copy_(torch.tensor([[0.9, 0.2, 0.1], [0.3, 0.8, 0.6], [0.1, 0.1, 0.9], [0.5, 0.4, 0.2]]))
    if likelihood == "gaussian":
        model.variances.copy_(torch.tensor([[0.1, 0.2, 0.3], [0.2, 0.1, 0.4], [0.3, 0.3, 0.1], [0.1, 0.5, 0.2]]))
    return model


def test_latent_classes_sum_the_components_out_by_hand_and_marginalize_missing_pixels():
    model = with_latent_classes()
    p = model.means.double().view(2, 2, 3)
    pi = torch.tensor([[0.7, 0.3], [0.5, 0.5]], dtype=torch.float64)
    x = torch.tensor([1.0, 0.0, 1.0])

    def likelihood(y: int, observed: list[int]) -> torch.Tensor:  # sum_c pi_yc prod_(observed d) p(x_d | y, c)
        return sum(pi[y, c] * torch.prod(torch.stack([p[y, c, d] if x[d] else 1 - p[y, c, d] for d in observed]))
                   for c in range(2))

    ll = model.log_likelihoods(x.view(1, 1, 1, 3))[0]
    assert torch.allclose(ll.exp(), torch.stack([likelihood(0, [0, 1, 2]), likelihood(1, [0, 1, 2])]), atol=1e-12)
    mask = torch.tensor([0, 1, 0]).view(1, 1, 1, 3)  # pixel 1 missing: summing over its two values drops its factor
    joint = torch.tensor([0.6, 0.4], dtype=torch.float64) * torch.stack([likelihood(0, [0, 2]), likelihood(1, [0, 2])])
    assert torch.allclose(model.class_log_posterior(x.view(1, 1, 1, 3), mask).exp()[0], joint / joint.sum(), atol=1e-12)
    both = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]).view(2, 1, 1, 3)  # the two completions of pixel 1
    full = model.class_log_joint(both).exp().sum(0)
    assert torch.allclose(full, joint, atol=1e-12)
    marginal = 0.6 * likelihood(0, [0, 1, 2]) + 0.4 * likelihood(1, [0, 1, 2])
    assert model.nll(x.view(1, 1, 1, 3).double()).item() == pytest.approx(-marginal.log().item())
    assert torch.allclose(model.class_means().flatten(1).double(), torch.einsum("kc,kcd->kd", pi, p), atol=1e-6)


def test_gaussian_latent_classes_by_hand():
    model = with_latent_classes("gaussian")
    x = torch.tensor([0.4, 0.3, 0.5], dtype=torch.float64)
    m, v = model.means.double().view(2, 2, 3), model.variances.double().view(2, 2, 3)
    pi = torch.tensor([[0.7, 0.3], [0.5, 0.5]], dtype=torch.float64)
    dens = torch.distributions.Normal(m, v.sqrt()).log_prob(x).sum(-1).exp()  # (2, 2) p(x | y, c)
    assert torch.allclose(model.log_likelihoods(x.view(1, 1, 1, 3))[0].exp(), (pi * dens).sum(1), atol=1e-12)


def test_latent_classes_sample_their_prototypes():
    model = with_latent_classes()
    model.means.copy_(torch.tensor([[1e-9, 1 - 1e-9, 1e-9], [1 - 1e-9, 1e-9, 1e-9], [1e-9] * 3, [1 - 1e-9] * 3]))
    out = model.sample(4000, cond=torch.tensor(0), generator=torch.Generator().manual_seed(0)).x.flatten(1)
    first = (out == torch.tensor([0.0, 1.0, 0.0])).all(1).float().mean()
    second = (out == torch.tensor([1.0, 0.0, 0.0])).all(1).float().mean()
    assert first + second == 1.0 and abs(first.item() - 0.7) < 0.03  # c ~ pi_0 = (0.7, 0.3)
    ones = model.sample(10, cond=torch.tensor(1), generator=torch.Generator().manual_seed(1)).x.flatten(1)
    assert set(ones.sum(1).tolist()) <= {0.0, 3.0}


def test_latent_classes_fit_classify_and_round_trip():
    data, test = tiny_images(80), tiny_images(40, seed=7)
    for likelihood in ("bernoulli", "gaussian"):
        model = fitted("nb", data=data, likelihood=likelihood, components=3)
        assert (model.predict(test.images()) == test.y).float().mean() > 0.9, likelihood
        assert torch.allclose(model.component_log_weights.exp().sum(1), torch.ones(4), atol=1e-6)
        again = fitted("nb", data=data, likelihood=likelihood, components=3)
        for k, v in model.state_dict().items():
            assert torch.equal(v, again.state_dict()[k]), (likelihood, k)
        copy = build_model("nb", {"likelihood": likelihood, "components": 3}, spec=data.spec)
        copy.load_state_dict(model.state_dict())
        assert torch.equal(copy.nll(test.images()), model.nll(test.images()))
    assert "component_log_weights" not in fitted("nb").state_dict()  # naive Bayes itself keeps its state dict


def test_more_latent_classes_than_a_class_has_images_still_fit():
    data = three_pixel_data()  # class 1 has 2 images
    for likelihood in ("bernoulli", "gaussian"):
        model = fitted("nb", data=data, components=3, likelihood=likelihood)
        weights = model.component_log_weights.exp()
        assert torch.allclose(weights.sum(1), torch.ones(2), atol=1e-6), likelihood
        if likelihood == "gaussian":  # one component per image at most: the third of class 1 is never drawn
            assert weights[1, 2] == 0
        assert torch.isfinite(model.nll(data.images())).all(), likelihood
        assert model.predict(data.images()).tolist() == LABELS, likelihood
    with pytest.raises(ConfigError, match="components must be >= 1, got 0"):
        build_model("nb", {"components": 0}, spec=tiny_images(4).spec)
