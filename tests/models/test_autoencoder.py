"""Autoencoder presets and denoising corruptions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.models import build_model


def linear_sizes(module: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in module.modules() if isinstance(m, nn.Linear)]


def test_classic_dense_autoencoder_preset():
    ae = build_model("ae", None, shape=(1, 28, 28))
    sizes = linear_sizes(ae.encoder) + linear_sizes(ae.decoder)
    assert sizes == [(784, 256), (256, 128), (128, 32), (32, 128), (128, 256), (256, 784)]
    assert ae.config.loss == "mse" and ae.config.act == "relu"
    x = ae.sample(2, generator=torch.Generator().manual_seed(0)).x
    assert x.min() >= 0 and x.max() <= 1  # sigmoid output


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 32, 32), (3, 28, 28)])
def test_conv_autoencoder_shapes(shape):
    ae = build_model("ae", {"arch": "conv", "channels": (4, 8), "hidden": (16,)}, shape=shape)
    x = torch.rand(2, *shape)
    assert ae.reconstruct(x).shape == x.shape


@pytest.mark.parametrize("corruption", ["gaussian", "salt_pepper", "mask"])
def test_corruptions(corruption):
    dae = build_model("dae", {"corruption": corruption, "noise": 0.5}, shape=(1, 28, 28))
    x = torch.full((4, 1, 28, 28), 0.5)
    xc = dae.corrupt(x, torch.Generator().manual_seed(0))
    assert xc.shape == x.shape and xc.min() >= 0 and xc.max() <= 1
    changed = (xc != x).float().mean().item()
    if corruption == "gaussian":
        assert changed > 0.9
    else:
        assert 0.4 < changed < 0.6  # a fraction `noise` of pixels
    if corruption == "mask":
        assert torch.all((xc == 0) | (xc == 0.5))
    if corruption == "salt_pepper":
        assert torch.all((xc == 0) | (xc == 1) | (xc == 0.5))
    same = dae.corrupt(x, torch.Generator().manual_seed(0))
    assert torch.equal(xc, same)


def test_bad_corruption_lists_choices():
    with pytest.raises(ValueError, match="gaussian, salt_pepper, mask"):
        build_model("dae", {"corruption": "blur"}, shape=(1, 8, 8))


def test_dae_has_the_denoise_capability():
    from genlab.apps.denoise import denoise
    from genlab.models.base import Denoise

    dae = build_model("dae", {"arch": "mlp", "hidden": (16,), "latent_dim": 4}, shape=(1, 8, 8)).eval()
    assert isinstance(dae, Denoise)
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(denoise(dae, x), dae.reconstruct(x))
    with pytest.raises(ValueError, match="strength applies to diffusion models"):
        denoise(dae, x, strength=0.5)
    ae = build_model("ae", {"arch": "mlp", "hidden": (16,), "latent_dim": 4}, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="families that can: dae, ddpm"):
        denoise(ae, x)
