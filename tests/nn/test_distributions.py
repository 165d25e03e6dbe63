"""The shared probability pieces: KL against torch.distributions, a discretized Gaussian that sums to one,
unit conversions on hand-computed cases, dequantization staying in its pixel cell, binarization."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as TD

from genlab.nn import distributions as D


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = (torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(2))
    prior = TD.Normal(torch.zeros(4, dtype=torch.float64), 1.0)
    ref = TD.kl_divergence(TD.Normal(mu, (0.5 * logvar).exp()), prior).sum(-1)
    assert D.gaussian_kl(mu, logvar).shape == (6,)
    assert torch.allclose(D.gaussian_kl(mu, logvar), ref, atol=1e-12)


def test_normal_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    m1, lv1, m2, lv2 = (torch.randn(50, generator=g, dtype=torch.float64) for _ in range(4))
    ref = TD.kl_divergence(TD.Normal(m1, (0.5 * lv1).exp()), TD.Normal(m2, (0.5 * lv2).exp()))
    assert torch.allclose(D.normal_kl(m1, lv1, m2, lv2), ref, atol=1e-12)
    # The N(0, 1) default equals passing zeros; KL of a distribution with itself is 0.
    zeros = torch.zeros_like(m1)
    assert torch.allclose(D.normal_kl(m1, lv1), D.normal_kl(m1, lv1, zeros, zeros), atol=1e-12)
    assert torch.allclose(D.normal_kl(m1, lv1, m1, lv1), zeros)
    with pytest.raises(ValueError, match="both"):
        D.normal_kl(m1, lv1, m2)


@pytest.mark.parametrize("mean,logvar", [(0.1, -3.0), (-0.95, -6.0), (0.999, 0.0), (0.0, -12.0), (2.0, 1.0)])
def test_discretized_gaussian_sums_to_one_over_256_bins(mean, logvar):
    levels = torch.arange(256, dtype=torch.float64) / 255 * 2 - 1  # the 8-bit grid in [-1, 1]
    logp = D.discretized_gaussian_log_likelihood(levels, torch.tensor(mean, dtype=torch.float64),
                                                 torch.tensor(logvar, dtype=torch.float64))
    assert logp.shape == (256,)
    assert logp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)


def test_discretized_gaussian_interior_bin_is_the_cdf_difference():
    mean, std = torch.tensor(0.2, dtype=torch.float64), torch.tensor(0.05, dtype=torch.float64)
    x = torch.tensor(150 / 255 * 2 - 1, dtype=torch.float64)  # an interior level, 0.6 std from the mean
    half = 1 / 255
    normal = TD.Normal(mean, std)
    ref = (normal.cdf(x + half) - normal.cdf(x - half)).log()
    assert D.discretized_gaussian_log_likelihood(x, mean, 2 * std.log()).item() == pytest.approx(ref.item(), rel=1e-10)


def test_bits_per_dim_and_nats_on_a_hand_computed_case():
    # A 2x2 grey image stored with 3 bits per pixel: 12 bits = 12 ln 2 nats; bits/dim = 3.
    nats = 12 * math.log(2)
    assert D.bits_per_dim(nats, 4) == pytest.approx(3.0, rel=1e-15)
    assert D.nats_to_bits(nats) == pytest.approx(12.0, rel=1e-15)
    assert D.bits_to_nats(12.0) == pytest.approx(nats, rel=1e-15)
    # 1 nat = 1 / ln 2 = 1.4426950408889634 bits.
    assert D.nats_to_bits(1.0) == pytest.approx(1.4426950408889634, rel=1e-15)
    t = torch.tensor([nats, 2 * nats], dtype=torch.float64)
    assert torch.allclose(D.bits_per_dim(t, 4), torch.tensor([3.0, 6.0], dtype=torch.float64))
    assert torch.allclose(D.bits_to_nats(D.nats_to_bits(t)), t)
    with pytest.raises(ValueError, match="dims"):
        D.bits_per_dim(1.0, 0)


def test_uniform_density_is_8_bits_per_dim_after_dequantization():
    # -log p(y) = 0 for the uniform density on [0, 1]^D; the discrete bound adds D log 256 = 8 bits/dim.
    dims = 16
    nats = D.discrete_nats_from_density(0.0, dims)
    assert nats == pytest.approx(dims * math.log(256))
    assert D.bits_per_dim(nats, dims) == pytest.approx(8.0, rel=1e-15)


def test_dequantization_stays_in_the_pixel_cell():
    k = torch.arange(256, dtype=torch.uint8).repeat(40).view(40, 1, 16, 16)
    y = D.dequantize(k, torch.Generator().manual_seed(0))
    assert y.dtype == torch.float32 and y.shape == k.shape
    assert (y >= 0).all() and (y < 1).all()
    assert torch.equal((y * 256).floor().long(), k.long())  # y in [k/256, (k+1)/256)
    assert abs(float((y * 256 - k.float()).mean()) - 0.5) < 0.01  # u ~ U[0, 1)
    # Floats k/255 are the same 8-bit levels: the same noise gives the same y.
    y2 = D.dequantize(k.float() / 255.0, torch.Generator().manual_seed(0))
    assert torch.equal(y, y2)


def test_binarization():
    x = torch.tensor([0.0, 0.2, 0.5, 0.51, 1.0])
    assert torch.equal(D.binarize(x, "static"), torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0]))
    assert D.binarize(x, "none") is x
    p = torch.full((20000,), 0.3)
    b = D.binarize(p, "dynamic", torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(b.mean().item() - 0.3) < 0.02  # pixel ~ Bernoulli(x)
    assert torch.equal(b, D.binarize(p, "dynamic", torch.Generator().manual_seed(0)))  # seeded: reproducible
    assert not torch.equal(b, D.binarize(p, "dynamic", torch.Generator().manual_seed(1)))  # a fresh draw
    ends = D.binarize(torch.tensor([0.0, 1.0]), "dynamic")
    assert torch.equal(ends, torch.tensor([0.0, 1.0]))
    u8 = torch.tensor([0, 200], dtype=torch.uint8) / 255.0
    assert D.binarize(u8, "static").dtype == torch.float32
    with pytest.raises(ValueError, match="valid: none, dynamic, static"):
        D.binarize(x, "otsu")


def test_decoder_log_likelihoods_match_torch_distributions():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 5, generator=g, dtype=torch.float64).round()  # binary
    logits = torch.randn(3, 5, generator=g, dtype=torch.float64)
    ref = TD.Bernoulli(logits=logits).log_prob(x)
    assert torch.allclose(D.bernoulli_log_likelihood(x, logits), ref, atol=1e-12)
    mean, log_std = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.tensor(-0.3, dtype=torch.float64)
    ref = TD.Normal(mean, log_std.exp()).log_prob(x)
    assert torch.allclose(D.gaussian_log_likelihood(x, mean, log_std), ref, atol=1e-12)
