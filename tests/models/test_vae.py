"""Exact checks of the VAE: KL against torch.distributions, the ELBO by hand, the IWAE bound."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from genlab.models import build_model
from genlab.nn.distributions import gaussian_kl


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    q = D.Normal(mu, (0.5 * logvar).exp())
    p = D.Normal(torch.zeros(3), torch.ones(3))
    expected = D.kl_divergence(q, p).sum(-1)
    assert torch.allclose(gaussian_kl(mu, logvar), expected, atol=1e-5)


def tiny_vae(**options):
    torch.manual_seed(0)
    return build_model("vae", {"arch": "mlp", "hidden": (5,), "latent_dim": 2, **options}, shape=(1, 2, 2))


def test_elbo_by_hand_on_a_tiny_case():
    """recon + KL from training_losses equals -log Bern(x|sigmoid(dec(z))) + KL computed by hand."""
    vae = tiny_vae()
    x = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    recon, kl = vae.elbo_terms(x, generator=torch.Generator().manual_seed(5))
    # By hand, with the same noise.
    h = vae.encoder.net(x.flatten(1))
    mu, logvar = h[:, :2], h[:, 2:]
    eps = torch.randn(1, 2, generator=torch.Generator().manual_seed(5))
    z = mu + (0.5 * logvar).exp() * eps
    p = torch.sigmoid(vae.decoder.net(z)).flatten()
    xf = x.flatten()
    recon_hand = -(xf * p.log() + (1 - xf) * (1 - p).log()).sum()
    kl_hand = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
    assert recon.item() == pytest.approx(recon_hand.item(), rel=1e-5)
    assert kl.item() == pytest.approx(kl_hand.item(), rel=1e-5)


def test_gaussian_likelihood_by_hand():
    vae = tiny_vae(likelihood="gaussian")
    x = torch.full((1, 1, 2, 2), 0.25)
    out = torch.full((1, 1, 2, 2), 0.5)
    with torch.no_grad():
        vae.log_sigma.fill_(math.log(0.5))
    expected = 4 * D.Normal(0.5, 0.5).log_prob(torch.tensor(0.25))
    assert vae.log_px_given_z(x, out).item() == pytest.approx(expected.item(), rel=1e-6)


def test_iwae_is_tighter_than_elbo_and_converges():
    vae = tiny_vae()
    x = (torch.rand(64, 1, 2, 2, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    elbo = vae.nll(x, k=1, generator=g()).mean()
    iwae10 = vae.nll(x, k=10, generator=g()).mean()
    iwae1000 = vae.nll(x, k=1000, generator=g()).mean()
    assert iwae10 < elbo and iwae1000 < iwae10
    # Exact log p(x) by brute-force integration over the 2-d latent on a grid.
    grid = torch.linspace(-6, 6, 241)
    zz = torch.cartesian_prod(grid, grid)  # (m, 2)
    dz = (grid[1] - grid[0]) ** 2
    logits = vae.decoder_out(zz)  # (m, 1, 2, 2)
    log_prior = D.Normal(0, 1).log_prob(zz).sum(-1)
    exact = []
    for xi in x:
        log_px = vae.log_px_given_z(xi.expand_as(logits), logits)
        exact.append(-(torch.logsumexp(log_px + log_prior, 0) + dz.log()))
    exact_nll = torch.stack(exact).mean()
    assert iwae1000.item() >= exact_nll.item() - 1e-2  # a bound: never below the truth
    assert iwae1000.item() - exact_nll.item() < 0.05


def test_kl_warmup_schedule():
    vae = tiny_vae(kl_warmup=100, beta=2.0)
    vae.on_train_step(0, 1000)
    assert vae.beta_t() == 0.0
    vae.on_train_step(50, 1000)
    assert vae.beta_t() == pytest.approx(1.0)
    vae.on_train_step(500, 1000)
    assert vae.beta_t() == pytest.approx(2.0)


def test_conditional_vae_uses_labels():
    torch.manual_seed(0)
    vae = build_model("vae", {"arch": "mlp", "hidden": (8,), "latent_dim": 2, "conditional": True},
                      shape=(1, 4, 4), num_classes=3).eval()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = vae.sample(2, cond=torch.tensor([0, 0]), generator=g())
    b = vae.sample(2, cond=torch.tensor([2, 2]), generator=g())
    assert not torch.allclose(a.x, b.x) and torch.equal(b.y, torch.tensor([2, 2]))
    assert torch.equal(vae.sample(4).y, torch.tensor([0, 1, 2, 0]))  # every class in turn by default
    with pytest.raises(ValueError, match="class indices"):
        vae.sample(2, cond=torch.tensor([0, 3]))


def test_conditional_needs_labels():
    with pytest.raises(ValueError, match="labelled data"):
        build_model("vae", {"conditional": True}, shape=(1, 8, 8), num_classes=0)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="likelihood"):
        build_model("vae", {"likelihood": "poisson"}, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="divisible by 4"):
        build_model("vae", {"arch": "conv"}, shape=(1, 10, 10))
