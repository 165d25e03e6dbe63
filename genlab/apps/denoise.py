"""Denoising for any model with the "denoise" capability (today: `ddpm`, by SDEdit, Meng et al. 2022).

Two uses: an image with known Gaussian noise of std sigma (in [0, 1] pixel units) is denoised by
starting the reverse diffusion at the matching noise level (`noise_std=sigma`); any other damaged or
rough image is projected towards the data by adding noise up to a fraction `strength` of the
diffusion and denoising from there (SDEdit: small strength keeps more of the input).
"""

from __future__ import annotations

from typing import Any

import torch

from genlab.models.base import Denoise


def denoise_families() -> list[str]:
    from genlab.models import families_with

    return families_with("denoise")


def add_noise(x: torch.Tensor, std: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """x + N(0, std^2) (not clipped: the denoiser expects exactly this noise model)."""
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}")
    return x + std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def denoise(model: torch.nn.Module, x: torch.Tensor, *, noise_std: float | None = None,
            strength: float | None = None, cond: Any = None, generator: torch.Generator | None = None,
            **options: Any) -> torch.Tensor:
    """Denoise x (b, c, h, w) with `model` ("denoise" capability); returns (b, c, h, w) in [0, 1].

    Args:
        noise_std: the std of Gaussian noise in x, when known (pixel units of [0, 1]).
        strength: otherwise, the fraction of the diffusion to re-noise to (SDEdit), in (0, 1] (ddpm: 0.5
            when left out; a dae denoises in one pass and takes none).
        cond: labels for a conditional model.
        options: the family's options (ddpm: sampler, steps, guidance).
    """
    if not isinstance(model, Denoise):
        raise ValueError(f"{type(model).__name__} cannot denoise; families that can: {', '.join(denoise_families())}")
    return model.denoise(x, noise_std=noise_std, strength=strength, cond=cond, generator=generator, **options)


__all__ = ["add_noise", "denoise", "denoise_families"]
