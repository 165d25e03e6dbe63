"""Cycle, identity and feature losses; the PatchGAN (genlab/models/translation/losses.py, gan/nets.py)."""

from __future__ import annotations

import torch

from genlab.models.gan.nets import patch_discriminator
from genlab.models.translation.losses import cycle_loss, feature_loss, identity_loss, patch_scores


def identity(x):
    return x


def test_cycle_loss_is_zero_for_identity_generators():
    a, b = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    assert cycle_loss(identity, identity, a, b) == 0
    assert identity_loss(identity, identity, a, b) == 0


def test_cycle_loss_is_zero_for_inverse_generators_and_positive_otherwise():
    a, b = torch.rand(3, 1, 8, 8), torch.rand(3, 1, 8, 8)
    negate = lambda x: 1 - x  # noqa: E731 - its own inverse
    assert torch.allclose(cycle_loss(negate, negate, a, b), torch.tensor(0.0))
    brighter = lambda x: x + 0.1  # noqa: E731
    assert torch.allclose(cycle_loss(brighter, brighter, a, b), torch.tensor(0.4))  # 0.2 each way
    assert torch.allclose(identity_loss(brighter, identity, a, b), torch.tensor(0.1))


def test_feature_loss_compares_features_and_passes_no_gradient_to_the_target():
    phi = torch.nn.Conv2d(1, 2, 3)
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    x_hat = x.detach().clone().requires_grad_(True)
    loss = feature_loss(phi, x_hat, x)
    assert loss == 0
    (feature_loss(phi, x_hat + 0.1, x)).backward()
    assert x.grad is None and x_hat.grad is not None


def test_patch_discriminator_scores_every_patch():
    d = patch_discriminator(2, (4, 8))
    scores = d(torch.rand(3, 2, 28, 28))
    assert scores.shape == (3, 1, 7, 7)
    assert patch_scores(d, torch.rand(3, 2, 28, 28)).shape == (3 * 49,)
