"""The variational bound: exact pieces against references, finite positive bits/dim, falls with training."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.data.base import Batch
from genlab.models import build_model
from genlab.models.diffusion import losses as L
from genlab.models.diffusion import schedules as S
from tests.conftest import TINY, tiny_images


def test_normal_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    m1, m2, lv1, lv2 = (torch.randn(5, generator=g) for _ in range(4))
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(m1, (0.5 * lv1).exp()),
                                            torch.distributions.Normal(m2, (0.5 * lv2).exp()))
    assert torch.allclose(L.normal_kl(m1, lv1, m2, lv2), ref, atol=1e-6)


def test_discretized_gaussian_is_a_distribution_over_256_levels():
    levels = torch.arange(256, dtype=torch.float64) / 255 * 2 - 1
    for mean, logvar in [(0.1, -3.0), (-0.95, -6.0), (0.999, 0.0)]:
        logp = L.discretized_gaussian_log_likelihood(levels, torch.tensor(mean, dtype=torch.float64),
                                                     torch.tensor(logvar, dtype=torch.float64))
        assert logp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)


def test_prior_kl_is_small_and_exact():
    ab = S.alpha_bar_from_betas(S.make_betas("cosine", 1000))
    x0 = torch.ones(1, 4)
    a = ab[-1].item()
    ref = 4 * 0.5 * (a + (1 - a) - 1 - math.log(1 - a))  # KL(N(sqrt(a), 1-a) || N(0, 1)) per dim, x0 = 1
    assert L.prior_kl(x0, ab).item() == pytest.approx(ref, rel=1e-6)
    assert L.prior_kl(x0, ab).item() < 1e-6


def test_full_bound_is_the_sum_of_its_terms():
    ab = S.alpha_bar_from_betas(S.make_betas("cosine", 6))
    net = lambda x, t, y: torch.zeros_like(x)
    x0 = torch.rand(3, 1, 2, 2) * 2 - 1
    total = L.variational_bound(net, x0, ab, t_samples=0, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    manual = L.prior_kl(x0, ab) + L.vlb_terms(net, x0, ab, torch.zeros(3, dtype=torch.long), generator=g)
    for t in range(1, 6):
        manual = manual + L.vlb_terms(net, x0, ab, torch.full((3,), t), generator=g)
    assert torch.allclose(total, manual)


def tiny_ddpm():
    torch.manual_seed(0)
    return build_model("ddpm", {**TINY["ddpm"], "conditional": False}, shape=(1, 8, 8), num_classes=4)


def test_bits_per_dim_is_finite_positive_and_falls_with_training():
    model = tiny_ddpm()
    x = tiny_images(16).images()

    def bpd():
        return model.bits_per_dim(x, t_samples=0, generator=torch.Generator().manual_seed(0)).mean().item()

    before = bpd()
    assert math.isfinite(before) and before > 0
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(40):
        opt.zero_grad()
        model.training_losses(Batch(x), generator=torch.Generator().manual_seed(step))["loss"].backward()
        opt.step()
    after = bpd()
    assert 0 < after < before - 0.5, (before, after)  # ~10.7 -> ~8.6 bits/dim


def test_stratified_estimate_is_close_to_the_exact_sum():
    model = tiny_ddpm().eval()
    x = tiny_images(8).images()
    exact = model.nll(x, t_samples=0, generator=torch.Generator().manual_seed(0)).mean()
    est = model.nll(x, t_samples=10, k=4, generator=torch.Generator().manual_seed(1)).mean()
    assert est.item() == pytest.approx(exact.item(), rel=0.1)
