"""The `cae` family (genlab.models.compression): its prior, its coding tables, its quantizers."""

from __future__ import annotations

import torch

from genlab.data.base import Batch
from genlab.models import build_model
from genlab.models.compression import TABLE_BITS
from tests.conftest import TINY, tiny_images


def tiny(quantizer: str = "noise", shape=(1, 8, 8)):
    torch.manual_seed(0)
    model = build_model("cae", {**TINY["cae"], "quantizer": quantizer}, shape=shape)
    with torch.no_grad():
        model.encoder[-1].bias.normal_(0.0, 3.0)  # latents over several symbols, not all 0
        model.prior.means.normal_(0.0, 2.0)
    return model


def test_prior_mass_is_the_difference_of_its_cdf():
    prior = tiny().prior
    v = torch.arange(-30, 31, dtype=torch.float64).view(1, 1, -1).expand(1, 2, -1)
    box = prior.likelihood(v, torch.float64)
    assert torch.allclose(box, prior.cdf(v) - prior.cdf(v - 1), atol=1e-12)
    assert torch.allclose(box.sum(-1), torch.ones(1, 2, dtype=torch.float64), atol=1e-6)


def test_tables_are_the_distribution_of_the_clamped_symbols():
    model = tiny().eval()
    p, lo = model.symbol_tables()
    assert torch.allclose(p.sum(1), torch.ones(2, dtype=torch.float64), atol=1e-12)
    counts, lo2 = model.coding_tables()
    assert torch.equal(lo, lo2) and (counts == counts.round()).all()
    assert ((counts - p * 2 ** TABLE_BITS).abs() <= 1).all()
    s = model.quantize(tiny_images(16).images())
    low, high = model.symbol_range()
    assert (s >= low.view(1, -1, 1, 1)).all() and (s <= high.view(1, -1, 1, 1)).all()


def test_rate_of_rounded_latents_is_the_coders_estimate():
    model = tiny("ste")
    x = tiny_images(8).images()
    bits = model.training_losses(Batch(x=x, y=None))["bits"]
    assert torch.allclose(bits.double(), model.eval().estimated_bits(model.quantize(x)).mean(), rtol=1e-3)


def test_mixed_quantizer_trains_every_part():
    model = tiny("mixed")
    model.training_losses(Batch(x=tiny_images(16).images(), y=None))["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_odd_sizes_round_trip():
    torch.manual_seed(0)
    model = build_model("cae", {"channels": (4, 4, 4), "latent_channels": 3}, shape=(1, 28, 28)).eval()
    x = torch.rand(2, 1, 28, 28)
    assert model.latent_shape == (3, 4, 4) and model.quantize(x).shape == (2, 3, 4, 4)
    assert model.reconstruct(x).shape == x.shape and model.encode(x).shape == (2, 48)
    assert torch.equal(model.decode(model.encode(x)), model.reconstruct(x))
