"""The style generator (stylegan, or any GAN with arch "style"): modulation math, truncation, style mixing,
noise, w_avg, grids, and every GAN option with it."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from genlab.apps.stylemix import latent_walk, style_mixing_grid
from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.data.base import Batch
from genlab.models import build_model
from genlab.models.base import capabilities
from genlab.models.gan import GAN, StyleGAN
from genlab.models.gan.stylegan import ModulatedConv, StyleGenerator
from genlab.runs import load_run, train
from genlab.runs import sample as sample_run
from tests.conftest import TINY, tiny_images

STYLE = {**TINY["stylegan"], "arch": "style"}  # the stylegan family's tiny options, for the gan family


def make(shape=(1, 8, 8), num_classes=0, **extra):
    torch.manual_seed(0)
    return build_model("stylegan", {**TINY["stylegan"], **extra}, shape=shape, num_classes=num_classes)


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
        assert m.sample(2, generator=torch.Generator().manual_seed(0)).x.shape == (2, *shape)
        assert m.num_ws == 2 * len(g_channels) - 1


def test_truncation_pulls_w_to_its_running_mean():
    m = make().eval()
    with torch.no_grad():
        m.G.w_avg.normal_()
    w = torch.randn(3, m.config.w_dim)
    assert torch.allclose(m.truncate(w, 1e-9), m.G.w_avg.expand(3, -1), atol=1e-6)
    assert torch.equal(m.truncate(w, 1.0), w)
    g = lambda: torch.Generator().manual_seed(0)
    near = m.sample(32, generator=g(), truncation=0.05).x
    full = m.sample(32, generator=g()).x
    assert near.var(0).mean() < full.var(0).mean()


def test_w_avg_tracks_w_in_training_only():
    m = make()
    x = tiny_images(8).images()
    before = m.G.w_avg.clone()
    m.training_losses(Batch(x), generator=torch.Generator().manual_seed(0), player="g")
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
    with pytest.raises(ValueError, match="arch='mlp' does not combine with the stylegan family"):
        make(arch="mlp")
    with pytest.raises(ValueError, match="mixing_prob must be >= 0 and <= 1"):
        make(mixing_prob=1.5)
    with pytest.raises(ValueError, match="w_avg_beta must be >= 0 and < 1"):
        make(w_avg_beta=1.0)
    with pytest.raises(ValueError, match="divisible by 4"):
        make((1, 10, 10), g_channels=(8, 4, 4), channels=(4,))
    with pytest.raises(ValueError, match="set d_norm='none'"):
        build_model("gan", {**STYLE, "r1": 1.0}, shape=(1, 8, 8))  # the conv D's batch norm


def test_stylegan_is_the_gan_with_the_style_generator():
    """`stylegan` is the GAN class with other defaults: `gan --arch style` builds the same networks."""
    assert issubclass(StyleGAN, GAN) and capabilities(StyleGAN) == capabilities(GAN)
    assert StyleGAN.Config().arch == "style"
    family = make()
    chosen = build_model("gan", {**STYLE, "d_norm": "none"}, shape=(1, 8, 8))
    assert isinstance(chosen.G, StyleGenerator) and chosen.has_styles
    assert not build_model("gan", {}, shape=(1, 8, 8)).has_styles
    shapes = lambda m: {k: v.shape for k, v in m.state_dict().items()}
    assert shapes(family) == shapes(chosen)
    with pytest.raises(ValueError, match="need the style generator \\(arch='style'"):
        build_model("dcgan", TINY["dcgan"], shape=(1, 8, 8)).mapping(torch.randn(2, 8))


def test_runs_saved_with_the_old_stylegan_arch_still_load(tmp_path):
    """Before the style generator was an arch, stylegan's config.json said arch "conv" (its discriminator)."""
    tc = TrainConfig(steps=2, batch_size=8, log_every=2, progress=False)
    train(RunConfig("stylegan", dict(TINY["stylegan"]), DataConfig("tiny"), tc), tmp_path / "run", data=tiny_images(16))
    path = tmp_path / "run" / "config.json"
    saved = json.loads(path.read_text())
    assert saved["model"]["arch"] == "style"
    new = sample_run(load_run(tmp_path / "run"), 3, seed=1)
    saved["model"]["arch"] = "conv"
    path.write_text(json.dumps(saved))
    r = load_run(tmp_path / "run")
    assert r.model.config.arch == "style" and torch.equal(sample_run(r, 3, seed=1).x, new.x)


OPTIONS = [{"mode_seeking": 1.0}, {"pack": 2}, {"diffaug": "color,translation,cutout"}, {"mbstd": 2},
           {"loss": "hinge", "spectral_norm": True}, {"loss": "wgan", "gp": 10.0, "reg_every": 2},
           {"loss": "minimax"}, {"feature_matching": 1.0}, {"top_k": 0.5, "top_k_ramp": 0},
           {"conditional": True, "mode_seeking": 0.35}, {"n_critic": 2}]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o))
def test_every_option_works_with_the_style_generator(options):
    m = build_model("stylegan", {**TINY["stylegan"], **options}, shape=(1, 8, 8), num_classes=4)
    data = tiny_images(8)
    for player in ("d", "g"):
        m.zero_grad()
        gen = torch.Generator().manual_seed(0)
        losses = m.training_losses(Batch(data.images(), data.y), generator=gen, player=player)
        losses["loss"].backward()
        assert all(torch.isfinite(v) for v in losses.values())
        params = next(q for q in m.players() if q.name == player).params
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
    m.eval()
    labels = torch.arange(4) if m.conditional else None
    x = m.sample(4, cond=labels, generator=torch.Generator().manual_seed(0), truncation=0.7).x
    assert x.shape == (4, 1, 8, 8) and 0 <= x.min() and x.max() <= 1


def test_a_conditional_style_generator_draws_the_class_asked_for():
    m = make(conditional=True, num_classes=4).eval()
    z = torch.randn(1, 8).expand(4, -1)
    w = m.mapping(z, torch.arange(4))
    assert all(not torch.allclose(w[0], w[k]) for k in range(1, 4))  # the class moves w, so the image
    with pytest.raises(ValueError, match="pass labels"):
        m.mapping(z)
    grid = style_mixing_grid(m, rows=2, cols=2)  # the sources draw random classes
    assert grid.shape == (9, 1, 8, 8)
    rows = latent_walk(m, rows=2, steps=3)
    assert rows.shape == (6, 1, 8, 8)


def test_cli_trains_gan_with_arch_style_and_draws_its_style_mixing_grid(tmp_path):
    from genlab.cli import main

    main(["train", "gan", "--data", "digits", "--arch", "style", "--latent-dim", "8", "--w-dim", "8",
          "--mapping-layers", "2", "--g-channels", "8", "4", "--channels", "4", "8", "--d-norm", "none",
          "--r1", "1", "--coverage-every", "0", "--train.steps", "2", "--train.batch-size", "16",
          "--train.no-progress", "--runs-dir", str(tmp_path), "--name", "s"])
    assert json.loads((tmp_path / "s" / "config.json").read_text())["model"]["arch"] == "style"
    main(["stylemix", str(tmp_path / "s"), "--rows", "2", "--cols", "2", "--out", str(tmp_path / "m.png")])
    assert (tmp_path / "m.png").exists()


def test_latent_walk_draws_a_new_pair_of_latents_for_every_row():
    """Regression: the walk reused the name of its latent generator for the noise generator, reseeding it
    in every row, so rows 2..n were the same walk."""
    m = make().eval()
    rows = latent_walk(m, rows=3, steps=4).view(3, 4, -1)
    assert not torch.allclose(rows[0], rows[1]) and not torch.allclose(rows[1], rows[2])
    assert torch.equal(rows, latent_walk(m, rows=3, steps=4).view(3, 4, -1))  # seeded


def test_mode_seeking_generator_step_mixes_styles_with_the_passed_generator():
    """Regression: with mode seeking on, G's step skipped style mixing (and the running mean of w) and drew
    its noise from the global RNG instead of the generator it was passed."""
    m = make(mode_seeking=1.0, mixing_prob=1.0)
    seen = []
    synthesis = m.G.synthesis.forward

    def spy(ws, noise="random", generator=None):
        seen.append((ws, generator))
        return synthesis(ws, noise, generator)

    m.G.synthesis.forward = spy
    x, w_avg = tiny_images(8).images(), m.G.w_avg.clone()
    state = torch.get_rng_state()
    out = m.training_losses(Batch(x), generator=torch.Generator().manual_seed(0), player="g")
    assert torch.equal(torch.get_rng_state(), state)  # every draw came from the passed generator
    ws, generator = seen[-1]
    assert generator is not None and "ms_ratio" in out
    assert not torch.allclose(ws[:, 0], ws[:, -1])  # mixed: the fine layers took a second w
    assert not torch.equal(w_avg, m.G.w_avg)
