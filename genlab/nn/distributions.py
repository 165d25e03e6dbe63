"""The one place for the probability pieces every family shares: Gaussian KL, nats <-> bits, decoder
likelihoods (Bernoulli, Gaussian, discretized Gaussian, discretized logistic mixture), uniform dequantization
and binarization.

Notation: N(mu, exp(logvar)) diagonal Gaussians; D = pixels x channels; nats are natural-log units.
- KL(N(m1, v1) || N(m2, v2)) = 0.5 (log v2 - log v1 + v1 / v2 + (m1 - m2)^2 / v2 - 1) per dimension
  (Kingma & Welling 2014, App. B for the N(0, I) case).
- bits/dim = nats / (D ln 2); 1 bit = ln 2 nats.
- Discretized Gaussian (Ho et al. 2020, eq. 13): P(x) = integral of N(mean, var) over x's bin of width
  2 / (bins - 1) on [-1, 1], the outermost bins stretched to +-inf, so the bins sum to 1.
- Discretized logistic mixture (Salimans et al. 2017, PixelCNN++): P(x) = sum_k pi_k [sigma((x + h - mu_k) / s_k)
  - sigma((x - h - mu_k) / s_k)] on the same grid (h = 1 / (bins - 1)), the outermost bins stretched to +-inf.
  The difference of sigmoids is taken in log space exactly: with a > b, log(sigma(a) - sigma(b)) =
  b + log(expm1(a - b)) - softplus(a) - softplus(b), so no bin needs a density fallback.
- Uniform dequantization (Theis et al. 2016): 8-bit k -> y = (k + u) / 256, u ~ U[0, 1); a density on
  [0, 1]^D bounds the discrete NLL by -log p(y) + D log 256.
- Binarization: "dynamic" draws x_b ~ Bernoulli(x) (fresh each call), "static" thresholds x > 0.5.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

LN2 = math.log(2.0)
LOG256 = math.log(256.0)
LOG_2PI = math.log(2.0 * math.pi)
Binarize = Literal["none", "dynamic", "static"]


# --- KL -----------------------------------------------------------------------------------------------
def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor | None = None,
              logvar2: torch.Tensor | None = None) -> torch.Tensor:
    """KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))) elementwise, nats; N(0, 1) when mean2 and
    logvar2 are None (Kingma & Welling 2014, App. B)."""
    if mean2 is None and logvar2 is None:
        return 0.5 * (mean1.pow(2) + logvar1.exp() - 1.0 - logvar1)
    if mean2 is None or logvar2 is None:
        raise ValueError("give both mean2 and logvar2, or neither (for N(0, 1))")
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) summed over the last dim, nats (a VAE's KL term).

    Args:
        mu, logvar: (..., d).
    Returns:
        (...,)
    """
    return normal_kl(mu, logvar).sum(-1)


# --- units --------------------------------------------------------------------------------------------
def nats_to_bits(nats: float | torch.Tensor) -> float | torch.Tensor:
    """nats -> bits: nats / ln 2."""
    return nats / LN2


def bits_to_nats(bits: float | torch.Tensor) -> float | torch.Tensor:
    """bits -> nats: bits * ln 2."""
    return bits * LN2


def bits_per_dim(nll_nats: float | torch.Tensor, dims: int) -> float | torch.Tensor:
    """nats per example -> bits per dimension: nll / (D ln 2)."""
    if dims <= 0:
        raise ValueError(f"dims must be > 0, got {dims}")
    return nll_nats / (dims * LN2)


# --- decoder likelihoods ------------------------------------------------------------------------------
def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(x | sigmoid(logits)) elementwise, nats; x in [0, 1] (a cross-entropy for grey x)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(x | mean, exp(log_std)^2) elementwise, nats (a density)."""
    return -0.5 * ((x - mean) / log_std.exp()).pow(2) - log_std - 0.5 * LOG_2PI


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x0: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor,
                                        bins: int = 256) -> torch.Tensor:
    """log P(x0) elementwise for x0 on a grid of `bins` levels in [-1, 1], under N(mean, exp(logvar))
    integrated over each level's bin, the outermost bins stretched to +-inf (Ho et al. 2020, eq. 13)."""
    half = 1.0 / (bins - 1)
    inv_std = torch.exp(-0.5 * logvar)
    upper = _std_normal_cdf(inv_std * (x0 - mean + half))
    lower = _std_normal_cdf(inv_std * (x0 - mean - half))
    cdf_hi = torch.where(x0 > 1.0 - 1e-3, torch.ones_like(upper), upper)
    cdf_lo = torch.where(x0 < -1.0 + 1e-3, torch.zeros_like(lower), lower)
    return torch.log((cdf_hi - cdf_lo).clamp(min=1e-12))


def _log_expm1(d: torch.Tensor) -> torch.Tensor:
    """log(exp(d) - 1) for d > 0, stable for tiny and for large d."""
    big = d > 1.0
    return torch.where(big, d + torch.log1p(-torch.exp(-d.clamp(min=1.0))), torch.log(torch.expm1(d.clamp(max=1.0))))


def discretized_logistic_mixture_log_likelihood(x: torch.Tensor, logit_weights: torch.Tensor, mean: torch.Tensor,
                                                log_scale: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """log P(x) for x on a grid of `bins` levels in [-1, 1] under a mixture of logistics, each integrated over
    x's bin, the outermost bins stretched to +-inf (Salimans et al. 2017). Broadcasts.

    Args:
        x: (...) level centres -1 + 2 j / (bins - 1).
        logit_weights, mean, log_scale: (..., K) the mixture's logits, means and log scales (clamped >= -7).
    Returns:
        (...) nats.
    """
    half = 1.0 / (bins - 1)
    inv_s = torch.exp(-log_scale.clamp(min=-7.0))
    centred = x.unsqueeze(-1) - mean
    a, b = inv_s * (centred + half), inv_s * (centred - half)  # a > b
    interior = b + _log_expm1(a - b) - F.softplus(a) - F.softplus(b)
    xk = x.unsqueeze(-1).expand_as(interior)
    log_p = torch.where(xk < -1.0 + half, -F.softplus(-a), torch.where(xk > 1.0 - half, -F.softplus(b), interior))
    return torch.logsumexp(torch.log_softmax(logit_weights, -1) + log_p, -1)


# --- data: dequantize, binarize -----------------------------------------------------------------------
def dequantize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform dequantization of 8-bit images (Theis et al. 2016): uint8 (or floats k/255) -> (k + u) / 256
    in [0, 1), u ~ U[0, 1)."""
    k = x.float() if x.dtype == torch.uint8 else (x.float() * 255.0).round()
    u = torch.rand(k.shape, generator=generator, device=k.device)
    return (k + u) / 256.0


def discrete_nats_from_density(nll_density_nats: float | torch.Tensor, dims: int,
                               levels: int = 256) -> float | torch.Tensor:
    """Upper bound on -log P(x) for discrete data from -log p(y) of a density on [0, 1]^D evaluated at
    the dequantized y: add D log(levels) (Theis et al. 2016, eq. 9)."""
    return nll_density_nats + dims * math.log(levels)


def binarize(x: torch.Tensor, mode: Binarize, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary images from x in [0, 1]: "dynamic" = Bernoulli(x) samples, "static" = x > 0.5, "none" = x.

    Args:
        x: (b, ...) grey levels in [0, 1].
        mode: "dynamic" (a fresh draw per call; Salakhutdinov & Murray 2008), "static" or "none".
        generator: for the Bernoulli draws.
    """
    if mode == "dynamic":
        return torch.bernoulli(x.float(), generator=generator)
    if mode == "static":
        return (x.float() > 0.5).float()
    if mode == "none":
        return x
    raise ValueError(f"unknown binarization {mode!r}; valid: none, dynamic, static")


__all__ = ["LN2", "LOG256", "LOG_2PI", "Binarize", "bernoulli_log_likelihood", "binarize", "bits_per_dim",
           "bits_to_nats", "dequantize", "discrete_nats_from_density", "discretized_gaussian_log_likelihood",
           "discretized_logistic_mixture_log_likelihood",
           "gaussian_kl", "gaussian_log_likelihood", "nats_to_bits", "normal_kl"]
