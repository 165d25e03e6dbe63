"""Diffusion losses: the simple denoising loss for training and the variational bound for likelihoods.

Notation (Ho et al. 2020, 0-indexed): x_0 the data scaled to [-1, 1]; t in 0..T-1; a_t = alpha_bar_t.
Training (Ho et al. 2020, "L_simple"; Salimans & Ho 2022 for v):
    t ~ U{0..T-1},  eps ~ N(0, I),  x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps,  loss = |f(x_t, t) - target|^2.
Variational bound (Ho et al. 2020 eq. 5; Nichol & Dhariwal 2021 for the evaluation), in nats per image:
    -log p(x_0) <= KL(q(x_{T-1}|x_0) || N(0, I))                         (prior term)
                 + sum_{t=1}^{T-1} KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t))  (denoising terms)
                 - log p(x_0 | x_t at t = 0)                                  (decoder term)
with p(x_{t-1}|x_t) = N(mu_theta, beta_tilde_t I) (fixed "small" variances; beta_tilde_1 at t = 0) and a
discretized Gaussian decoder over the 256 grey levels (Ho et al. 2020, eq. 13).
"""

from __future__ import annotations

import math
from itertools import pairwise

import torch

from genlab.models.diffusion.denoiser import split_prediction, training_target
from genlab.models.diffusion.schedules import posterior_variance
from genlab.nn.distributions import discretized_gaussian_log_likelihood, normal_kl


def _bcast(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(b,) -> (b, 1, ..., 1) in x's dtype."""
    return v.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))


def q_sample(x0: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps for (b,) integer t."""
    a = _bcast(alpha_bar.to(x0.device)[t], x0)
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def denoising_loss(net, x0: torch.Tensor, alpha_bar: torch.Tensor, *, prediction: str = "eps",
                   y: torch.Tensor | None = None, generator: torch.Generator | None = None,
                   t: torch.Tensor | None = None) -> torch.Tensor:
    """Per-example mean squared error of the network's prediction, (b,) float32.

    Args:
        net: f(x_t, t, y) -> (b, ...).
        x0: (b, ...) data in the model's value range.
        alpha_bar: (T,) schedule.
        t: (b,) timesteps; drawn uniformly when None.
    """
    b, T = x0.shape[0], alpha_bar.shape[0]
    if t is None:
        t = torch.randint(0, T, (b,), generator=generator, device=x0.device)
    eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x_t = q_sample(x0, t, alpha_bar, eps)
    if x0.is_contiguous(memory_format=torch.channels_last) and x0.ndim == 4:
        x_t = x_t.contiguous(memory_format=torch.channels_last)
    target = training_target(x0, eps, _bcast(alpha_bar.to(x0.device)[t], x0), prediction)
    out = net(x_t, t, y)
    return (out.float() - target).pow(2).flatten(1).mean(1)


# --- the variational bound (KL and the discretized decoder: genlab.nn.distributions) -----------------
def posterior_mean(x0: torch.Tensor, x_t: torch.Tensor, a_t: torch.Tensor, a_prev: torch.Tensor) -> torch.Tensor:
    """Mean of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, eq. 7); a_t, a_prev broadcastable."""
    beta = 1 - a_t / a_prev
    return (a_prev.sqrt() * beta / (1 - a_t)) * x0 + ((a_t / a_prev).sqrt() * (1 - a_prev) / (1 - a_t)) * x_t


@torch.no_grad()
def vlb_terms(net, x0: torch.Tensor, alpha_bar: torch.Tensor, t: torch.Tensor, *, prediction: str = "eps",
              y: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """The bound's term at each timestep t (b,): the decoder NLL where t = 0, else the KL term, (b,) nats
    summed over dimensions. Uses one noise draw x_t ~ q(x_t | x_0)."""
    ab = alpha_bar.to(x0.device)
    a_t = _bcast(ab[t], x0).double()
    a_prev = _bcast(torch.cat([ab.new_ones(1), ab])[t], x0).double()  # alpha_bar_{t-1}
    var = posterior_variance(ab)
    var = torch.cat([var[1:2], var[1:]])  # beta_tilde_0 = 0: use beta_tilde_1 for the decoder
    logvar = _bcast(var[t].log(), x0).double()
    eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    x_t = q_sample(x0, t, ab, eps)
    out = net(x_t, t, y).float()
    _, x0_hat = split_prediction(out.double(), x_t.double(), a_t, prediction)
    x0_hat = x0_hat.clamp(-1, 1)
    mean_p = posterior_mean(x0_hat, x_t.double(), a_t, a_prev)
    mean_q = posterior_mean(x0.double(), x_t.double(), a_t, a_prev)
    kl = normal_kl(mean_q, logvar, mean_p, logvar).flatten(1).sum(1)
    nll = -discretized_gaussian_log_likelihood(x0.double(), mean_p, logvar).flatten(1).sum(1)
    return torch.where(t == 0, nll, kl).float()


def prior_kl(x0: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """KL(q(x_{T-1} | x_0) || N(0, I)) summed over dimensions, (b,) nats (no network)."""
    a = float(alpha_bar[-1])
    mean = math.sqrt(a) * x0.double()
    logvar = torch.full_like(mean, math.log(1 - a))
    return normal_kl(mean, logvar, torch.zeros_like(mean), torch.zeros_like(mean)).flatten(1).sum(1).float()


@torch.no_grad()
def variational_bound(net, x0: torch.Tensor, alpha_bar: torch.Tensor, *, prediction: str = "eps",
                      y: torch.Tensor | None = None, t_samples: int = 0,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """-log p(x0) upper bound, (b,) nats: prior + decoder + denoising terms.

    t_samples = 0 evaluates every t (T network calls per image, the exact sum); t_samples = k > 0
    estimates the sum over t = 1..T-1 without bias from k stratified timesteps (one uniform draw in
    each of k equal strata, weighted by the stratum size), plus the exact t = 0 term.
    """
    T, b = alpha_bar.shape[0], x0.shape[0]
    total = prior_kl(x0, alpha_bar) + vlb_terms(net, x0, alpha_bar, torch.zeros(b, dtype=torch.long, device=x0.device),
                                                prediction=prediction, y=y, generator=generator)
    if T == 1:
        return total
    if t_samples <= 0 or t_samples >= T - 1:
        for t in range(1, T):
            tt = torch.full((b,), t, dtype=torch.long, device=x0.device)
            total = total + vlb_terms(net, x0, alpha_bar, tt, prediction=prediction, y=y, generator=generator)
        return total
    edges = torch.linspace(1, T, t_samples + 1).round().long().tolist()  # strata [e_k, e_{k+1})
    for lo, hi in pairwise(edges):
        if hi <= lo:
            continue
        t = torch.randint(lo, hi, (b,), generator=generator, device=x0.device)
        total = total + (hi - lo) * vlb_terms(net, x0, alpha_bar, t, prediction=prediction, y=y, generator=generator)
    return total


__all__ = ["denoising_loss", "posterior_mean", "prior_kl", "q_sample", "variational_bound", "vlb_terms"]
