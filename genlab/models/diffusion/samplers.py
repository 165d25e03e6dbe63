"""Samplers: plain functions with one signature, each an explicit denoising loop.

    sample_X(denoiser, x_T, timesteps, *, generator=None, callback=None, progress=None, **options) -> x_0

`denoiser(x_t, t) -> (eps_hat, x0_hat)` (genlab/models/diffusion/denoiser.py) carries the schedule
`alpha_bar` (T,); `timesteps` are decreasing integers in [0, T-1] at which it is evaluated, the first
being the time of x_T (see schedules.sampling_timesteps). Each step goes from t = timesteps[i] to
s = timesteps[i+1], and the last step to s = -1, the clean data (alpha_bar_{-1} = 1), so a sampler
calls the network exactly len(timesteps) times. `callback(i, t, x_t, x0_hat)` is called after every
network evaluation (RePaint-style editing, tests); `progress("step", done, total)`, a ProgressHook
(genlab/models/base.py), with done 0 before the first step and after each step of the loop.

Notation: a_t = alpha_bar_t; for the DPM-Solver family alpha_t = sqrt(a_t), sigma_t = sqrt(1 - a_t),
lambda_t = log(alpha_t / sigma_t).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise
from typing import Literal, get_args

import torch

from genlab.models.base import ProgressHook
from genlab.models.diffusion.schedules import alpha_bar_at

Callback = Callable[[int, int, torch.Tensor, torch.Tensor], None]
SamplerName = Literal["ddpm", "ddim", "dpmpp_2m"]
SAMPLERS_LIST: tuple[str, ...] = get_args(SamplerName)


def _steps(timesteps: torch.Tensor | list[int], T: int) -> list[tuple[int, int]]:
    """[(t, s), ...] consecutive pairs, ending with s = -1; validates the sequence."""
    ts = [int(t) for t in torch.as_tensor(timesteps).reshape(-1).tolist()]
    if not ts:
        raise ValueError("timesteps must hold at least one step")
    if any(not 0 <= t < T for t in ts) or any(a <= b for a, b in pairwise(ts)):
        raise ValueError(f"timesteps must be strictly decreasing integers in [0, {T - 1}], got {ts[:8]}...")
    return list(pairwise([*ts, -1]))


def _progress(pairs: list, progress: ProgressHook | None):
    """The items of `pairs`, reporting ("step", i, len(pairs)) to the hook before the first and after each."""
    if not progress:
        yield from pairs
        return
    progress("step", 0, len(pairs))
    for i, item in enumerate(pairs):
        yield item
        progress("step", i + 1, len(pairs))


def _randn(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _abar(denoiser, t: int) -> float:
    return float(alpha_bar_at(denoiser.alpha_bar, t))


def _lam(a: float) -> float:
    """lambda = log(alpha / sigma) for alpha_bar = a."""
    return 0.5 * (math.log(a) - math.log1p(-a))


@torch.no_grad()
def sample_ddim(denoiser, x_T: torch.Tensor, timesteps, *, eta: float = 0.0,
                generator: torch.Generator | None = None, callback: Callback | None = None,
                progress: ProgressHook | None = None) -> torch.Tensor:
    """DDIM (Song, Meng & Ermon 2021, eq. 12): from t to s,
        x_s = sqrt(a_s) x0_hat + sqrt(1 - a_s - sigma^2) eps_hat + sigma z,
        sigma = eta sqrt((1 - a_s) / (1 - a_t)) sqrt(1 - a_t / a_s).
    eta = 0 is deterministic; eta = 1 on all T steps is ancestral DDPM.

    Args:
        x_T: (b, ...) noise at time timesteps[0].
    """
    x = x_T.float()
    for i, (t, s) in enumerate(_progress(_steps(timesteps, denoiser.num_timesteps), progress)):
        eps, x0 = denoiser(x, t)
        if callback is not None:
            callback(i, t, x, x0)
        a_t, a_s = _abar(denoiser, t), _abar(denoiser, s)
        sigma = eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)) ** 0.5
        x = a_s ** 0.5 * x0 + max(1 - a_s - sigma ** 2, 0.0) ** 0.5 * eps
        if sigma > 0:
            x = x + sigma * _randn(x, generator)
    return x


@torch.no_grad()
def sample_ddpm(denoiser, x_T: torch.Tensor, timesteps, *, variance: Literal["small", "large"] = "small",
                generator: torch.Generator | None = None, callback: Callback | None = None,
                progress: ProgressHook | None = None) -> torch.Tensor:
    """Ancestral sampling (Ho et al. 2020, Algorithm 2) through q(x_s | x_t, x0_hat):
        mean = sqrt(a_s) beta / (1 - a_t) x0_hat + sqrt(a_t / a_s) (1 - a_s) / (1 - a_t) x_t,
        beta = 1 - a_t / a_s,  var = (1 - a_s) / (1 - a_t) beta ("small", beta_tilde) or beta ("large").
    With all T timesteps this is the DDPM sampler; with fewer, the respaced chain of Nichol & Dhariwal
    (2021). No noise is added on the last step.
    """
    if variance not in ("small", "large"):
        raise ValueError(f"unknown DDPM variance {variance!r}; valid: small, large")
    x = x_T.float()
    for i, (t, s) in enumerate(_progress(_steps(timesteps, denoiser.num_timesteps), progress)):
        _, x0 = denoiser(x, t)
        if callback is not None:
            callback(i, t, x, x0)
        a_t, a_s = _abar(denoiser, t), _abar(denoiser, s)
        beta = 1 - a_t / a_s
        x = (a_s ** 0.5 * beta / (1 - a_t)) * x0 + ((a_t / a_s) ** 0.5 * (1 - a_s) / (1 - a_t)) * x
        if s >= 0:
            var = (1 - a_s) / (1 - a_t) * beta if variance == "small" else beta
            x = x + var ** 0.5 * _randn(x, generator)
    return x


@torch.no_grad()
def sample_dpmpp_2m(denoiser, x_T: torch.Tensor, timesteps, *, generator: torch.Generator | None = None,
                    callback: Callback | None = None, progress: ProgressHook | None = None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): a deterministic second-order
    multistep solver of the diffusion ODE in the data-prediction form. From t to s, h = lambda_s - lambda_t,
        x_s = (sigma_s / sigma_t) x_t - alpha_s (exp(-h) - 1) D,
        D = x0_t (first step),  D = (1 + 1/(2r)) x0_t - 1/(2r) x0_prev,  r = h_prev / h (later steps).
    The last step, to the clean data (lambda = +inf), is first order: x_0 = x0_hat (as diffusers'
    lower_order_final). `generator` is unused (kept for the common signature).
    """
    x = x_T.float()
    x0_prev, h_prev = None, None
    for i, (t, s) in enumerate(_progress(_steps(timesteps, denoiser.num_timesteps), progress)):
        _, x0 = denoiser(x, t)
        if callback is not None:
            callback(i, t, x, x0)
        if s < 0:  # the last pair
            x = x0
            continue
        a_t, a_s = _abar(denoiser, t), _abar(denoiser, s)
        h = _lam(a_s) - _lam(a_t)
        if x0_prev is None:
            d = x0
        else:
            r = h_prev / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
        sigma_ratio = ((1 - a_s) / (1 - a_t)) ** 0.5
        x = sigma_ratio * x - a_s ** 0.5 * math.expm1(-h) * d
        x0_prev, h_prev = x0, h
    return x


SAMPLERS: dict[str, Callable[..., torch.Tensor]] = {
    "ddpm": sample_ddpm,
    "ddim": sample_ddim,
    "dpmpp_2m": sample_dpmpp_2m,
}


def get_sampler(name: str) -> Callable[..., torch.Tensor]:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid: {sorted(SAMPLERS)}")
    return SAMPLERS[name]


def noise_to(x0: torch.Tensor, a: float, generator: torch.Generator | None) -> torch.Tensor:
    """A draw of q(x_t | x_0) = N(sqrt(a) x0, (1 - a) I) for alpha_bar_t = a."""
    return a ** 0.5 * x0 + (1 - a) ** 0.5 * _randn(x0, generator)


def repaint_schedule(n: int, jump_length: int, resample: int) -> list[int]:
    """The RePaint walk (Lugmayr et al. 2022, Alg. 1 with jumps) over indices 0..n of a timestep list,
    n meaning the clean data: go down one index at a time; after every `jump_length` steps down,
    jump back up `jump_length` indices and redo them, `resample - 1` times; the last step, from the
    least noisy state to the clean data, is taken once."""
    if jump_length < 1 or resample < 1:
        raise ValueError(f"jump_length and resample must be >= 1, got {jump_length}, {resample}")
    path, i, last = [0], 0, n - 1  # jumps happen among the noisy states 0..n-1; the final step is n-1 -> n
    while i < last:
        block = min(jump_length, last - i)
        for r in range(resample):
            for _ in range(block):
                i += 1
                path.append(i)
            if r < resample - 1:
                i -= block
                path.append(i)
    return path + [n] if n > 0 else path


@torch.no_grad()
def sample_repaint(denoiser, x_T: torch.Tensor, timesteps, *, known: torch.Tensor, mask: torch.Tensor,
                   jump_length: int = 10, resample: int = 5, eta: float = 1.0,
                   generator: torch.Generator | None = None, callback: Callback | None = None,
                   progress: ProgressHook | None = None) -> torch.Tensor:
    """Inpainting by RePaint (Lugmayr et al. 2022): a stochastic DDIM chain (eta = 1: ancestral) in which,
    after each step down to s, the known region is replaced by a fresh draw of q(x_s | known), and which
    periodically jumps back up (x_t ~ q(x_t | x_s) = N(sqrt(a_t/a_s) x_s, (1 - a_t/a_s) I)) to
    harmonize the two regions. The last step lands on the clean data, where the known region is
    `known` itself.

    Args:
        known: (b, ...) the image, in the denoiser's value range.
        mask: broadcastable to known; 1 where to generate, 0 where to keep `known`.
    """
    ts = [t for t, _ in _steps(timesteps, denoiser.num_timesteps)] + [-1]
    mask = mask.to(x_T.dtype)
    x = x_T.float()
    walk = repaint_schedule(len(ts) - 1, jump_length, resample)
    pairs = list(pairwise(walk))
    for k, (i, j) in enumerate(_progress(pairs, progress)):
        t, s = ts[i], ts[j]
        a_t, a_s = _abar(denoiser, t), _abar(denoiser, s)
        if j < i:  # jump back to the noisier ts[j]: x ~ q(x_{ts[j]} | x_{ts[i]})
            x = noise_to(x, a_s / a_t, generator)
            continue
        eps, x0 = denoiser(x, t)
        if callback is not None:
            callback(k, t, x, x0)
        sigma = eta * ((1 - a_s) / (1 - a_t) * (1 - a_t / a_s)) ** 0.5
        x = a_s ** 0.5 * x0 + max(1 - a_s - sigma ** 2, 0.0) ** 0.5 * eps
        if sigma > 0:
            x = x + sigma * _randn(x, generator)
        known_s = known.float() if s < 0 else noise_to(known.float(), a_s, generator)
        x = mask * x + (1 - mask) * known_s
    return x


__all__ = ["SAMPLERS", "SAMPLERS_LIST", "SamplerName", "get_sampler", "noise_to", "repaint_schedule",
           "sample_ddim", "sample_ddpm", "sample_dpmpp_2m", "sample_repaint"]
