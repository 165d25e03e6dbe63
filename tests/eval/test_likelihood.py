"""Nats and bits/dim conventions on models with known densities."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.eval import likelihood as L
from genlab.nn.distributions import dequantize


class _Known(torch.nn.Module):
    """A 'model' with an exact, known likelihood (per-pixel independent): the Likelihood capability."""

    family = "known"
    likelihood_exact = True
    likelihood_options = ()
    conditional = False

    def __init__(self, kind: str, dist):
        super().__init__()
        self.likelihood_kind, self.dist = kind, dist
        self.w = torch.nn.Parameter(torch.zeros(()))

    def nll(self, x, y=None, *, generator=None):
        return -self.dist.log_prob(x).flatten(1).sum(1)


def _images(n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 4, 4), generator=g).float() / 255.0


def test_bits_per_dim_conversion():
    assert L.bits_per_dim(16 * math.log(2) * 3.0, 16) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        L.bits_per_dim(1.0, 0)


def test_dequantization_stays_in_the_pixel_cell():
    x = _images()
    y = dequantize(x, torch.Generator().manual_seed(0))
    k = (x * 255).round()
    assert ((y * 256 >= k) & (y * 256 < k + 1)).all()


def test_uniform_density_on_the_cube_is_8_bits_per_dim():
    model = _Known("continuous", torch.distributions.Uniform(torch.tensor(0.0), torch.tensor(1.0)))
    out = L.evaluate_likelihood(model, _images(), generator=torch.Generator().manual_seed(0))
    assert out["bits_per_dim"] == pytest.approx(8.0, abs=1e-9)
    assert out["nll_nats"] == pytest.approx(16 * math.log(256))
    assert "exact" in out["likelihood_label"] and "dequantized" in out["likelihood_label"]


def test_gaussian_density_matches_torch_distributions():
    normal = torch.distributions.Normal(torch.tensor(0.5), torch.tensor(0.2))
    model = _Known("continuous", normal)
    x = _images()
    out = L.evaluate_likelihood(model, x, generator=torch.Generator().manual_seed(3))
    y = dequantize(x, torch.Generator().manual_seed(3))
    nats = (-normal.log_prob(y).flatten(1).sum(1)).double().mean() + 16 * math.log(256)
    assert out["nll_nats"] == pytest.approx(float(nats), rel=1e-6)
    assert out["bits_per_dim"] == pytest.approx(float(nats) / (16 * math.log(2)), rel=1e-6)


def test_binary_data_is_a_probability_mass():
    model = _Known("binary", torch.distributions.Bernoulli(probs=torch.tensor(0.3)))
    x = _images()
    out = L.evaluate_likelihood(model, x, binarized="static")
    xb = (x > 0.5).float()
    nats = -(xb * math.log(0.3) + (1 - xb) * math.log(0.7)).flatten(1).sum(1).mean()
    assert out["nll_nats"] == pytest.approx(float(nats), rel=1e-6)
    assert out["bits_per_dim"] == pytest.approx(float(nats) / (16 * math.log(2)), rel=1e-6)
    assert "static binarization" in out["likelihood_label"]


def test_vae_bound_is_labelled_and_iwae_is_tighter_on_average():
    from genlab.models import build_model

    torch.manual_seed(0)
    vae = build_model("vae", {"arch": "mlp", "hidden": (16,), "latent_dim": 2}, shape=(1, 4, 4)).eval()
    x = _images(50)
    elbo = L.evaluate_likelihood(vae, x, binarized="dynamic", generator=torch.Generator().manual_seed(0))
    iwae = L.evaluate_likelihood(vae, x, k=20, binarized="dynamic", generator=torch.Generator().manual_seed(0))
    assert "negative ELBO" in elbo["likelihood_label"] and "IWAE bound (k=20)" in iwae["likelihood_label"]
    assert elbo["likelihood_data"] == "binary"
    assert iwae["nll_nats"] < elbo["nll_nats"]


def test_models_without_likelihood_are_refused():
    from genlab.models import build_model, families_with

    ae = build_model("ae", {"hidden": (8,), "latent_dim": 2}, shape=(1, 4, 4))
    can = families_with("likelihood")
    assert {"ddpm", "vae", "pca"} <= set(can)
    with pytest.raises(ValueError, match=f"cannot compute a likelihood; families that can: {', '.join(can)}$"):
        L.evaluate_likelihood(ae, _images())


# --- conditional models: the marginal -log p(x) by default, -log p(x | y) only when labels are passed, each labelled
def test_a_conditional_models_marginal_is_bayes_rule_by_hand_and_labels_give_the_conditional():
    from genlab.models import build_model

    torch.manual_seed(0)
    model = build_model("pixelcnn", {"layers": 2, "channels": 8, "conditional": True}, shape=(1, 5, 5),
                        num_classes=3).eval()
    x, y = _images(6)[:, :, :5, :5], torch.tensor([0, 1, 2, 0, 1, 2])
    per_label = torch.stack([model.nll(x, torch.full((6,), c)) for c in range(3)], 1).double()  # -log p(x | c)
    marginal = -torch.logsumexp(-per_label + math.log(1 / 3), 1)  # p(y) uniform
    out = L.evaluate_likelihood(model, x, per_example=True)
    torch.testing.assert_close(torch.tensor(out["likelihood_nats"], dtype=torch.float64), marginal)
    assert "marginal over the 3 labels" in out["likelihood_label"] and "uniform" in out["likelihood_label"]
    assert out["likelihood_claim"] == "exact"
    given = L.evaluate_likelihood(model, x, y, per_example=True)
    torch.testing.assert_close(torch.tensor(given["likelihood_nats"], dtype=torch.float64), per_label[range(6), y])
    assert "given each image's label" in given["likelihood_label"]
    assert given["likelihood_claim"] == "exact, given the label"
    assert given["likelihood_note"].endswith("given the label")
    # p(x) >= p(x | y) p(y), so -log p(x) <= -log p(x | y) + log K
    assert (marginal <= per_label[range(6), y] + math.log(3) + 1e-9).all()


def test_the_marginal_uses_a_familys_own_label_prior_and_agrees_with_its_own_marginal():
    # naive Bayes computes -log sum_y p(y) p(x | y) itself, with its fitted class frequencies: the generic marginal
    # (one nll per label) must give the same numbers
    from tests.models.classical.helpers import fitted

    model = fitted("nb", n=64, likelihood="bernoulli")
    x = (_images(10, seed=2) > 0.5).double()
    x = torch.nn.functional.pad(x, (0, 4, 0, 4))  # the tiny images are 8x8
    own = model.nll(x)  # the family's own marginal
    out = L.evaluate_likelihood(model, x, binarized="static", per_example=True)
    torch.testing.assert_close(torch.tensor(out["likelihood_nats"], dtype=torch.float64), own.double())
    assert "its fitted class frequencies" in out["likelihood_label"]
