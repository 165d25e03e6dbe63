"""Losses of the translation families, as small pure functions of the generators and images.

Notation: G: A -> B and F: B -> A the two generators of CycleGAN, a and b batches of the two domains,
phi a fixed feature network.

    cycle     (Zhu et al. 2017, eq. 2)   L_cyc = E|F(G(a)) - a|_1 + E|G(F(b)) - b|_1
    identity  (Zhu et al. 2017, sec. 5.2; Taigman et al. 2017)   L_id = E|G(b) - b|_1 + E|F(a) - a|_1
    feature   (Johnson et al. 2016; Ledig et al. 2017, eq. 5)   L_phi = E(phi(x_hat) - phi(x))^2
Adversarial terms come from genlab/models/gan/losses.py (d_loss, g_loss), applied to every patch score.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Net = Callable[[torch.Tensor], torch.Tensor]


def cycle_loss(g: Net, f: Net, a: torch.Tensor, b: torch.Tensor,
               fake_b: torch.Tensor | None = None, fake_a: torch.Tensor | None = None) -> torch.Tensor:
    """L_cyc = mean|F(G(a)) - a| + mean|G(F(b)) - b|; pass fake_b = G(a), fake_a = F(b) to reuse them."""
    fake_b = g(a) if fake_b is None else fake_b
    fake_a = f(b) if fake_a is None else fake_a
    return F.l1_loss(f(fake_b).float(), a.float()) + F.l1_loss(g(fake_a).float(), b.float())


def identity_loss(g: Net, f: Net, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L_id = mean|G(b) - b| + mean|F(a) - a|: a generator fed its own output domain should leave it alone."""
    return F.l1_loss(g(b).float(), b.float()) + F.l1_loss(f(a).float(), a.float())


def feature_loss(phi: Net, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L_phi = mean (phi(x_hat) - phi(x))^2, phi fixed (the target's features carry no gradient)."""
    with torch.no_grad():
        target = phi(x).float()
    return F.mse_loss(phi(x_hat).float(), target)


def patch_scores(d: Net, x: torch.Tensor) -> torch.Tensor:
    """A patch discriminator's scores (b, 1, h', w') flattened to (b h' w',) for gan/losses.py."""
    return d(x).reshape(-1)


__all__ = ["cycle_loss", "feature_loss", "identity_loss", "patch_scores"]
