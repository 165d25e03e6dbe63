"""Latent interpolation: endpoints, slerp geometry, and the errors users see."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.apps.interpolate import METHODS, interpolate, latent_families, lerp, slerp
from genlab.data.base import DataSpec
from genlab.models import build_model
from genlab.models.base import GenerativeModel

SHAPE = (1, 8, 8)


def tiny(family: str, **options) -> GenerativeModel:
    torch.manual_seed(0)
    base = {"arch": "conv", "channels": (4, 8), "hidden": (16,), "latent_dim": 4}
    return build_model(family, {**base, **options}, shape=SHAPE, num_classes=10).eval()


def images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", ["vae", "ae"])
@pytest.mark.parametrize("method", METHODS)
def test_endpoints_are_the_reconstructions(family, method):
    model = tiny(family)
    x = images(2)
    path = interpolate(model, x[0], x[1], steps=5, method=method)
    assert path.shape == (5, *SHAPE)
    with torch.no_grad():
        rec = model.reconstruct(x)
    torch.testing.assert_close(path[0], rec[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(path[-1], rec[1], atol=1e-5, rtol=1e-4)
    z = model.encode(x)  # (2, d)
    mid = (slerp if method == "slerp" else lerp)(z[0], z[1], 0.5)
    with torch.no_grad():
        torch.testing.assert_close(path[2], model.decode(mid[None])[0], atol=1e-5, rtol=1e-4)


def test_conditional_vae_uses_each_endpoints_label():
    model = tiny("vae", conditional=True)
    x = images(2, seed=1)
    y = torch.tensor([3, 7])
    path = interpolate(model, x[:1], x[1:], steps=4, method="slerp", y_a=3, y_b=7)
    with torch.no_grad():
        rec = model.reconstruct(x, y)
    torch.testing.assert_close(path[0], rec[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(path[-1], rec[1], atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="y_a and y_b"):
        interpolate(model, x[0], x[1])


def test_training_mode_is_restored():
    model = tiny("vae").train()
    x = images(2)
    interpolate(model, x[0], x[1], steps=3)
    assert model.training


def test_slerp_keeps_the_norm_of_equal_norm_vectors():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(16, generator=g), torch.randn(16, generator=g)
    b = b * (a.norm() / b.norm())
    t = torch.linspace(0, 1, 11).unsqueeze(1)  # (11, 1)
    z = slerp(a, b, t)  # (11, 16)
    assert z.shape == (11, 16)
    torch.testing.assert_close(z.norm(dim=1), a.norm().expand(11), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(z[0], a, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(z[-1], b, atol=1e-5, rtol=1e-5)
    # a straight line cuts the chord: shorter than the radius in the middle
    assert lerp(a, b, 0.5).norm() < a.norm() - 1e-3


def test_slerp_closed_form_and_parallel_fallback():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mid = slerp(e1, e2, 0.5)
    torch.testing.assert_close(mid, torch.tensor([1.0, 1.0]) / math.sqrt(2.0))
    quarter = slerp(e1, e2, 1.0 / 3.0)  # a third of the way along a right angle is 30 degrees
    torch.testing.assert_close(quarter, torch.tensor([math.cos(math.pi / 6), math.sin(math.pi / 6)]))
    a = torch.tensor([1.0, 2.0, 3.0])
    t = torch.linspace(0, 1, 5).unsqueeze(1)
    same_direction = slerp(a, 2.0 * a, t)  # parallel: falls back to the straight line, no NaN
    assert torch.isfinite(same_direction).all()
    torch.testing.assert_close(same_direction, lerp(a, 2.0 * a, t))


def test_bad_method_lists_the_choices():
    model = tiny("vae")
    x = images(2)
    with pytest.raises(ValueError, match="linear.*slerp"):
        interpolate(model, x[0], x[1], method="cubic")


def test_bad_steps_and_shapes():
    model = tiny("vae")
    x = images(2)
    with pytest.raises(ValueError, match="steps"):
        interpolate(model, x[0], x[1], steps=1)
    with pytest.raises(ValueError, match="x_b"):
        interpolate(model, x[0], torch.rand(1, 8, 8, 8))


class _NoLatent(GenerativeModel):
    family = "no-latent"

    def __init__(self):
        super().__init__(None, DataSpec.image(SHAPE))
        self.w = torch.nn.Parameter(torch.zeros(()))


def test_model_without_latent_capability_names_the_families_that_have_it():
    assert {"ae", "vae"} <= set(latent_families())
    x = images(2)
    with pytest.raises(ValueError, match="latent") as err:
        interpolate(_NoLatent(), x[0], x[1])
    for family in latent_families():
        assert family in str(err.value)
