"""Toy GANs on low-dimensional Gaussian mixtures: the classic mode-collapse test bench.

Data: a 1-D mixture of `k` Gaussians at evenly spaced means, or the 2-D ring of 8 Gaussians (radius 2,
std 0.02; Metz et al. 2017, "Unrolled GANs"). Both players are small MLPs; the losses, penalties and
spectral norm are those of the image GANs (losses.py, nets.py), so this is a cheap way to see
how each option behaves. A mode counts as covered when at least `min_share` of its uniform share of
the samples lies within `radius` standard deviations of its mean ("high-quality" samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genlab.models.gan.losses import check_loss, d_loss, g_loss, gradient_penalty, r1_penalty
from genlab.models.gan.model import frozen
from genlab.models.gan.nets import sn


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic Gaussians: means (k, d) and one std."""

    means: torch.Tensor
    std: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, d) points."""
        idx = torch.randint(0, self.means.shape[0], (n,), generator=generator)
        return self.means[idx] + self.std * torch.randn(n, self.means.shape[1], generator=generator)


def mixture_1d(k: int = 3, spacing: float = 4.0, std: float = 0.25) -> Mixture:
    """k Gaussians on a line, centred on 0."""
    means = (torch.arange(k, dtype=torch.float32) - (k - 1) / 2) * spacing
    return Mixture(means[:, None], std)


def ring_2d(k: int = 8, radius: float = 2.0, std: float = 0.02) -> Mixture:
    """k Gaussians evenly spaced on a circle."""
    angles = torch.arange(k, dtype=torch.float32) * (2 * math.pi / k)
    return Mixture(torch.stack([radius * angles.cos(), radius * angles.sin()], dim=1), std)


def mode_counts(x: torch.Tensor, mix: Mixture, radius: float = 3.0) -> tuple[torch.Tensor, float]:
    """Samples within `radius` stds of each mode, (k,), and the fraction of samples near any mode."""
    dist = torch.cdist(x.float(), mix.means)  # (n, k)
    near = dist <= radius * mix.std
    nearest = dist.argmin(1)
    counts = torch.bincount(nearest[near.any(1)], minlength=mix.means.shape[0])
    return counts, float(near.any(1).float().mean())


def modes_covered(x: torch.Tensor, mix: Mixture, radius: float = 3.0, min_share: float = 0.1) -> int:
    """How many modes hold at least `min_share` of their uniform share of the samples within `radius` stds."""
    counts, _ = mode_counts(x, mix, radius)
    return int((counts >= min_share * x.shape[0] / mix.means.shape[0]).sum())


def mlp(n_in: int, hidden: int, n_out: int, layers: int, spectral: bool = False) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [sn(nn.Linear(n_in if i == 0 else hidden, hidden), spectral), nn.LeakyReLU(0.2)]
    mods.append(sn(nn.Linear(hidden, n_out), spectral))
    return nn.Sequential(*mods)


@dataclass(frozen=True)
class ToyConfig:
    """Options of the toy GAN (see train_toy_gan)."""

    loss: str = "ns"
    z_dim: int = 8
    hidden: int = 128
    layers: int = 3
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1
    gp: float = 0.0
    r1: float = 0.0
    spectral_norm: bool = False


def train_toy_gan(mix: Mixture, config: ToyConfig = ToyConfig(), seed: int = 0,
                  callback=None) -> tuple[nn.Module, list[dict[str, float]]]:
    """Train G: z -> x on samples of `mix`; returns G and a log of the losses every 100 steps.

    `callback(step, G)` is called every 100 steps (e.g. to record snapshots for a plot)."""
    c = config
    check_loss(c.loss)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    dim = mix.means.shape[1]
    G, D = mlp(c.z_dim, c.hidden, dim, c.layers), mlp(dim, c.hidden, 1, c.layers, c.spectral_norm)
    opt_g = torch.optim.Adam(G.parameters(), lr=c.lr, betas=c.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=c.lr, betas=c.betas)
    log: list[dict[str, float]] = []
    for step in range(c.steps):
        real = mix.sample(c.batch_size, g)
        with torch.no_grad():
            fake = G(torch.randn(c.batch_size, c.z_dim, generator=g))
        real.requires_grad_(c.r1 > 0)
        f_r, f_f = D(real).squeeze(1), D(fake).squeeze(1)
        loss_d = d_loss(c.loss, f_r, f_f)
        if c.gp > 0:
            eps = torch.rand(c.batch_size, generator=g)
            loss_d = loss_d + c.gp * gradient_penalty(lambda t: D(t).squeeze(1), real, fake, eps)
        if c.r1 > 0:
            loss_d = loss_d + 0.5 * c.r1 * r1_penalty(f_r, real)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        if step % c.n_critic == 0:
            with frozen(D):
                loss_g = g_loss(c.loss, D(G(torch.randn(c.batch_size, c.z_dim, generator=g))).squeeze(1))
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
        if (step + 1) % 100 == 0:
            log.append({"step": step + 1, "d_loss": float(loss_d.detach()), "g_loss": float(loss_g.detach())})
            if callback is not None:
                callback(step + 1, G)
    return G, log


@torch.no_grad()
def toy_samples(G: nn.Module, n: int, z_dim: int, seed: int = 1) -> torch.Tensor:
    return G(torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed)))
