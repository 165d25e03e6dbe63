"""Noise schedules of discrete-time Gaussian diffusion, as pure functions of the number of steps T.

Notation (Ho et al. 2020): t = 0..T-1 indexes the forward steps; beta_t the variance added at step t;
alpha_t = 1 - beta_t; alpha_bar_t = prod_{s<=t} alpha_s, so that
    q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I).
alpha_bar decreases from ~1 (t = 0) towards 0 (t = T-1). Samplers also use the "previous" value
alpha_bar_{-1} = 1 (clean data), and the log signal-to-noise ratio
    lambda_t = log(alpha_t / sigma_t) = 0.5 * log(alpha_bar_t / (1 - alpha_bar_t))
(DPM-Solver notation, with alpha_t = sqrt(alpha_bar_t) and sigma_t = sqrt(1 - alpha_bar_t)).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch

Schedule = Literal["linear", "cosine"]
SCHEDULES: tuple[str, ...] = get_args(Schedule)
SamplingSpacing = Literal["trailing", "linspace", "quadratic"]


def linear_betas(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """The linear schedule of Ho et al. (2020), with beta rescaled by 1000/T so any T covers the same
    noise range. Returns (T,) float64."""
    scale = 1000.0 / T
    return torch.linspace(beta_start * scale, beta_end * scale, T, dtype=torch.float64)


def cosine_alpha_bar(T: int, s: float = 0.008) -> torch.Tensor:
    """alpha_bar of the cosine schedule (Nichol & Dhariwal 2021, eq. 17), before any clipping, (T,)."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (f / f[0])[1:]


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """The cosine schedule (Nichol & Dhariwal 2021): beta_t = 1 - abar_t / abar_{t-1}, clipped to
    max_beta to avoid the singularity at t = T. Returns (T,) float64."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1.0 - f[1:] / f[:-1]).clamp(max=max_beta)


def make_betas(schedule: str, T: int) -> torch.Tensor:
    """(T,) float64 betas of the named schedule ("linear" or "cosine")."""
    if T < 1:
        raise ValueError(f"the number of diffusion steps must be >= 1, got {T}")
    if schedule == "linear":
        return linear_betas(T)
    if schedule == "cosine":
        return cosine_betas(T)
    raise ValueError(f"unknown noise schedule {schedule!r}; valid: {list(SCHEDULES)}")


def alpha_bar_from_betas(betas: torch.Tensor) -> torch.Tensor:
    """alpha_bar_t = prod_{s <= t} (1 - beta_s), (T,) float64."""
    return torch.cumprod(1.0 - betas.double(), dim=0)


def alpha_bar_at(alpha_bar: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
    """alpha_bar at integer t, with alpha_bar_{-1} = 1 (the clean data), float64 like alpha_bar."""
    t = torch.as_tensor(t, device=alpha_bar.device).long()
    padded = torch.cat([alpha_bar.new_ones(1), alpha_bar])
    return padded[t + 1]


def log_snr(alpha_bar: torch.Tensor) -> torch.Tensor:
    """lambda = 0.5 log(alpha_bar / (1 - alpha_bar)), the half log signal-to-noise ratio."""
    return 0.5 * (torch.log(alpha_bar) - torch.log1p(-alpha_bar))


def posterior_variance(alpha_bar: torch.Tensor) -> torch.Tensor:
    """beta_tilde_t = (1 - abar_{t-1}) / (1 - abar_t) * beta_t, the variance of q(x_{t-1} | x_t, x_0), (T,)."""
    prev = torch.cat([alpha_bar.new_ones(1), alpha_bar[:-1]])
    beta = 1.0 - alpha_bar / prev
    return (1.0 - prev) / (1.0 - alpha_bar) * beta


def sampling_timesteps(T: int, steps: int, spacing: SamplingSpacing = "trailing",
                       start: int | None = None) -> torch.Tensor:
    """`steps` distinct decreasing timesteps in [0, start] (start = T-1 by default) at which a sampler
    evaluates the network; the sampler's last step goes from the smallest to the clean data.

    "trailing" (the default; Lin et al. 2024, Table 2) takes start, start - (start+1)/steps, ... and so
    never spends an evaluation at t = 0; "linspace" spreads them evenly from start to 0 inclusive;
    "quadratic" crowds them near t = 0 (Song et al. 2021). With steps = start + 1 all give every
    timestep. Returns (steps,) int64, the first = start.
    """
    start = T - 1 if start is None else int(start)
    if not 0 <= start < T:
        raise ValueError(f"the first sampling timestep must be in [0, {T - 1}], got {start}")
    if not 1 <= steps <= start + 1:
        raise ValueError(f"sampling steps must be in [1, {start + 1}] (the timesteps available), got {steps}")
    n = start + 1
    if spacing == "trailing":
        ts = (n - torch.arange(steps, dtype=torch.float64) * (n / steps)).round() - 1
    elif spacing == "linspace":
        ts = torch.linspace(start, 0, steps, dtype=torch.float64).round()
    elif spacing == "quadratic":
        ts = (torch.linspace(math.sqrt(start), 0, steps, dtype=torch.float64) ** 2).round()
    else:
        raise ValueError(f"unknown timestep spacing {spacing!r}; valid: trailing, linspace, quadratic")
    ts = torch.unique_consecutive(ts.long().clamp(0, start))
    if len(ts) < steps:  # rounding merged some near t = 0 (quadratic): fall back to even spacing
        ts = torch.linspace(start, 0, steps, dtype=torch.float64).round().long()
    return ts


__all__ = ["SCHEDULES", "Schedule", "alpha_bar_at", "alpha_bar_from_betas", "cosine_alpha_bar", "cosine_betas",
           "linear_betas", "log_snr", "make_betas", "posterior_variance", "sampling_timesteps"]
