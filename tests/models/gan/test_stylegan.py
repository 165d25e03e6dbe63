"""The StyleGAN-style generator: modulation math, truncation, style mixing, noise, w_avg, grids."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genlab.apps.stylemix import latent_walk, style_mixing_grid
from genlab.models import build_model
from genlab.models.gan.stylegan import ModulatedConv
from tests.conftest import TINY, tiny_images


def make(shape=(1, 8, 8), **extra):
    torch.manual_seed(0)
    return build_model("stylegan", {**TINY["stylegan"], **extra}, shape=shape)


def test_modulated_conv_equals_per_sample_modulated_and_demodulated_weights():
    """StyleGAN2 eqs. 1-3 written out: one weight tensor per sample, applied by a grouped convolution."""
    torch.manual_seed(0)
    conv = ModulatedConv(3, 5, w_dim=4)
    x, w = torch.randn(2, 3, 6, 6), torch.randn(2, 4)
    s = conv.affine(w)  # (n, c_in)
    weight = conv.weight * conv.gain  # (c_out, c_in, k, k)
    wm = weight[None] * s[:, None, :, None, None]  # (n, c_out, c_in, k, k)
    wm = wm / wm.pow(2).sum((2, 3, 4), keepdim=True).add(1e-8).sqrt()
    ref = F.conv2d(x.reshape(1, 6, 6, 6), wm.reshape(10, 3, 3, 3), padding=1, groups=2).view(2, 5, 6, 6)
    assert torch.allclose(conv(x, w), ref, atol=1e-5)


def test_shapes_for_28_and_32():
    for shape, g_channels, channels in [((1, 28, 28), (16, 8, 4), (4, 8)), ((3, 32, 32), (16, 8, 8, 4), (4, 8, 8))]:
        m = make(shape, g_channels=g_channels, channels=channels).eval()
        assert m.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, *shape)
        assert m.num_ws == 2 * len(g_channels) - 1


def test_truncation_pulls_w_to_its_running_mean():
    m = make().eval()
    with torch.no_grad():
        m.G.w_avg.normal_()
    w = torch.randn(3, m.config.w_dim)
    assert torch.allclose(m.truncate(w, 1e-9), m.G.w_avg.expand(3, -1), atol=1e-6)
    assert torch.equal(m.truncate(w, 1.0), w)
    g = lambda: torch.Generator().manual_seed(0)
    near = m.sample(32, generator=g(), truncation=0.05)
    full = m.sample(32, generator=g())
    assert near.var(0).mean() < full.var(0).mean()


def test_w_avg_tracks_w_in_training_only():
    m = make()
    x = tiny_images(8).images()
    before = m.G.w_avg.clone()
    m.training_losses(x, generator=torch.Generator().manual_seed(0), player="g")
    moved = m.G.w_avg.clone()
    assert not torch.equal(before, moved)
    m.eval()
    m.sample(4)
    assert torch.equal(moved, m.G.w_avg)


def test_style_mixing_takes_fine_layers_from_the_second_source():
    m = make().eval()
    k = m.num_ws
    w_a, w_b, w_c = (m.broadcast(m.mapping(torch.randn(1, 8))) for _ in range(3))
    def synth(ws):
        return m.synthesize(ws, noise="none")
    mix_b = torch.cat([w_a[:, :1], w_b[:, 1:]], 1)
    mix_c = torch.cat([w_a[:, :1], w_c[:, 1:]], 1)
    assert k == 3 and not torch.allclose(synth(mix_b), synth(mix_c))  # the fine source matters
    assert not torch.allclose(synth(mix_b), synth(w_a)) and not torch.allclose(synth(mix_b), synth(w_b))
    mix_b_other_a = torch.cat([w_c[:, :1], w_b[:, 1:]], 1)
    assert not torch.allclose(synth(mix_b), synth(mix_b_other_a))  # and so does the coarse one


def test_noise_modes():
    m = make().eval()
    ws = m.broadcast(m.mapping(torch.randn(2, 8)))
    with torch.no_grad():
        for layer in m.G.synthesis.layers:
            layer.noise_strength.fill_(1.0)
    g = lambda s: torch.Generator().manual_seed(s)
    assert torch.equal(m.synthesize(ws, noise="none", generator=g(0)), m.synthesize(ws, noise="none", generator=g(1)))
    assert not torch.equal(m.synthesize(ws, generator=g(0)), m.synthesize(ws, generator=g(1)))
    same = m.broadcast(m.mapping(torch.randn(1, 8))).expand(2, -1, -1)
    shared = m.synthesize(same, noise="shared", generator=g(0))
    assert torch.equal(shared[0], shared[1])
    with pytest.raises(ValueError, match="valid: random, shared, none"):
        m.synthesize(ws, noise="fixed")


def test_style_mixing_grid_and_latent_walk():
    m = make().eval()
    grid = style_mixing_grid(m, rows=2, cols=3, seed=0)
    assert grid.shape == (12, 1, 8, 8) and torch.equal(grid[0], torch.ones(1, 8, 8))
    assert torch.equal(grid, style_mixing_grid(m, rows=2, cols=3, seed=0))
    walk = latent_walk(m, rows=2, steps=4)
    assert walk.shape == (8, 1, 8, 8)
    with pytest.raises(ValueError, match="crossover must be in \\[1, 2\\]"):
        style_mixing_grid(m, crossover=3)


def test_stylegan_options_are_checked():
    with pytest.raises(ValueError, match="use the cgan family"):
        make(conditional=True)
    with pytest.raises(ValueError, match="divisible by 4"):
        make((1, 10, 10), g_channels=(8, 4, 4), channels=(4,))
