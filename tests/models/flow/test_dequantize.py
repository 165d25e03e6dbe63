"""Variational dequantization (Flow++): u in (0, 1), log q(u|x) against the autograd Jacobian and against the
closed form of its zero-initialized start (a logit-normal), and the bound it gives."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.models.flow.dequantize import VariationalDequantizer
from genlab.models.flow.layers import squeeze


def images(n=2, c=1, side=4, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, side, side), generator=g).float() / 255


def random_q(c: int = 1, seed: int = 0) -> VariationalDequantizer:
    torch.manual_seed(seed)
    q = VariationalDequantizer(c, 8, steps=2, zero_init=False)
    with torch.no_grad():
        for p in q.parameters():
            p.mul_(2.0)
    return q


def test_noise_lies_in_the_unit_cube_and_depends_on_the_image():
    q = random_q()
    x = images(4)
    u, log_q = q(x, torch.Generator().manual_seed(0))
    assert u.shape == x.shape and log_q.shape == (4,)
    assert (u > 0).all() and (u < 1).all() and torch.isfinite(log_q).all()
    u2, _ = q(images(4, seed=1), torch.Generator().manual_seed(0))  # same eps, other images
    assert not torch.allclose(u, u2)


@pytest.mark.parametrize("channels", [1, 2])
def test_log_q_matches_the_autograd_jacobian(channels):
    q = random_q(channels).double()
    x = images(1, channels).double()
    eps = torch.randn(1, 4 * channels, 2, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    u, logdet = q.transform(eps, x)
    # u is laid out as an image; squeeze it back to eps's layout so the Jacobian is square in the same order
    jac = torch.autograd.functional.jacobian(lambda e: squeeze(q.transform(e.view_as(eps), x)[0]).flatten(),
                                             eps.flatten())
    assert logdet.item() == pytest.approx(torch.linalg.slogdet(jac)[1].item(), abs=1e-8)
    log_n = (-0.5 * eps.pow(2) - 0.5 * math.log(2 * math.pi)).sum()
    torch.manual_seed(0)
    # the same eps drawn through forward(): log q = log N(eps) - log|det du/deps|
    g = torch.Generator().manual_seed(3)
    u2, log_q = q(x, g)
    assert torch.allclose(u2, u) and log_q.item() == pytest.approx((log_n - logdet).item(), abs=1e-8)


def test_zero_initialized_q_is_a_logit_normal():
    """With the last layers at zero, each of the two couplings scales one half by s = sigmoid(2): u = sigmoid(s eps),
    so log q(u) = log N(logit(u) / s) - log s - log(u (1 - u)) per pixel."""
    q = VariationalDequantizer(1, 8, steps=2, zero_init=True).double()
    u, log_q = q(images(3).double(), torch.Generator().manual_seed(0))
    s = torch.sigmoid(torch.tensor(2.0, dtype=torch.float64))
    eps = (torch.log(u) - torch.log1p(-u)) / s
    ref = (-0.5 * eps.pow(2) - 0.5 * math.log(2 * math.pi) - s.log() - torch.log(u) - torch.log1p(-u)).flatten(1).sum(1)
    assert torch.allclose(log_q, ref, atol=1e-8)
