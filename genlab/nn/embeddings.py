"""Embeddings of a scalar time (or noise level) and of class labels, shared by diffusion-like models.

Notation: t (b,) timesteps (integers or floats); the sinusoidal embedding of Vaswani et al. (2017),
as used for diffusion time by Ho et al. (2020), is
    emb(t) = [cos(t * f_0), ..., cos(t * f_{d/2-1}), sin(t * f_0), ..., sin(t * f_{d/2-1})],
    f_k = max_period^(-k / (d/2)).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of `t` (Vaswani et al. 2017; Ho et al. 2020), float32.

    Args:
        t: (b,) timesteps, integer or float.
        dim: output size (even).

    Returns:
        (b, dim) float32, cosines then sines.
    """
    if dim % 2:
        raise ValueError(f"the sinusoidal embedding size must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float().reshape(-1, 1) * freqs  # (b, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class TimeEmbedding(nn.Module):
    """t -> sinusoid(t) -> Linear -> SiLU -> Linear, plus an optional learned class embedding, or a linear
    map of a condition vector (a pooled text embedding).

    Classes are 0..num_classes-1; index `num_classes` is the "null" label used for classifier-free
    guidance (Ho & Salimans 2022), so the table has num_classes + 1 rows. A condition vector's null is
    the zero vector.

    Args:
        base_dim: size of the sinusoidal features.
        dim: output size.
        num_classes: 0 for an unconditional model.
        cond_dim: > 0: y is a (b, cond_dim) float vector instead of labels (num_classes must be 0).
    """

    def __init__(self, base_dim: int, dim: int, num_classes: int = 0, cond_dim: int = 0):
        super().__init__()
        if num_classes > 0 and cond_dim > 0:
            raise ValueError("a time embedding takes class labels or condition vectors, not both")
        self.base_dim = base_dim
        self.lin1 = nn.Linear(base_dim, dim)
        self.lin2 = nn.Linear(dim, dim)
        self.num_classes = num_classes
        self.class_emb = nn.Embedding(num_classes + 1, dim) if num_classes > 0 else None
        self.cond_proj = nn.Linear(cond_dim, dim) if cond_dim > 0 else None

    def forward(self, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(b, dim) embedding of timesteps t (b,) and labels y (b,) (None = the null label), or of
        condition vectors y (b, cond_dim) (None = the zero vector)."""
        emb = self.lin2(F.silu(self.lin1(sinusoidal_embedding(t, self.base_dim))))
        if self.cond_proj is not None:
            if y is not None:
                emb = emb + self.cond_proj(y.to(emb.dtype))
            else:
                emb = emb + self.cond_proj.bias.to(emb.dtype)
        if self.class_emb is not None:
            if y is None:
                y = torch.full((t.shape[0],), self.num_classes, dtype=torch.long, device=t.device)
            emb = emb + self.class_emb(y).to(emb.dtype)
        return emb


__all__ = ["TimeEmbedding", "sinusoidal_embedding"]
