"""Multi-head self-attention over the pixels of a feature map (Vaswani et al. 2017), as placed at low
resolution in diffusion U-Nets (Ho et al. 2020; Dhariwal & Nichol 2021).

Notation: x (b, c, h, w); the n = h*w pixels are the tokens; heads split c into c/d heads of size d.
    out = x + W_o softmax(Q K^T / sqrt(d)) V,   [Q, K, V] = W_qkv GroupNorm(x).
The tokens are taken as x.permute(0, 2, 3, 1): for a channels-last x that is a free view, so the block
makes no layout copies around its two matrix products and the fused scaled_dot_product_attention.

In bf16 on a CPU, torch's fused (flash) attention kernel is slower than the plain product-softmax-product for
short sequences (torch 2.13, one thread, forward + backward: 20 vs 4 ms at 64 x 2 heads x 49 tokens of a
small U-Net, 67 vs 28 ms at 196 tokens, benchmarks/precision_speed.py; 19 vs 8 ms for the causal 32 x 4 heads
x 64 characters of the gpt baby), so those take the plain path, with the softmax accumulated in fp32; long sequences
(n > 1024), where the n x n matrix would be large, keep the fused kernel. genlab.nn.transformer uses the
same `attention`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.nn.norm import GroupNorm

PLAIN_MAX_TOKENS = 1024  # bf16 on CPU: the plain path up to this many tokens (its n x n matrix is materialised)


def plain_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, allowed: torch.Tensor | None = None,
                    causal: bool = False, dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + M) v as two matrix products around a softmax accumulated in fp32; M is -inf where
    `allowed` (broadcastable to (b, heads, n, n)) is False, or above the diagonal when `causal`; dropout on
    the weights as F.scaled_dot_product_attention's dropout_p."""
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5  # (b, heads, n, n)
    if causal and allowed is None:
        n = q.shape[-2]
        allowed = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    # bf16: torch's softmax kernels accumulate in fp32 and round once, the same values (to 1 ulp) as a softmax
    # taken in fp32 and cast back, but the fp32 detour costs two casts and a slow mixed-dtype backward (19 ms
    # against 7 ms at 64 x 196 x 196 on one thread, torch 2.13)
    wide = None if q.dtype == torch.bfloat16 else torch.promote_types(q.dtype, torch.float32)
    weights = torch.softmax(scores, dim=-1, dtype=wide).to(q.dtype)
    if dropout_p > 0:
        weights = F.dropout(weights, dropout_p)
    return weights @ v


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, allowed: torch.Tensor | None = None,
              causal: bool = False, dropout_p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + M) v for (b, heads, n, d) inputs (M as in plain_attention), by the faster
    kernel for their dtype and device: the plain one for bf16 on a CPU up to PLAIN_MAX_TOKENS tokens, torch's
    fused scaled_dot_product_attention otherwise."""
    if q.dtype == torch.bfloat16 and q.device.type == "cpu" and q.shape[-2] <= PLAIN_MAX_TOKENS:
        return plain_attention(q, k, v, allowed=allowed, causal=causal, dropout_p=dropout_p)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p,
                                          is_causal=causal and allowed is None)


class SelfAttention2d(nn.Module):
    """Residual multi-head self-attention over the h*w positions of (b, c, h, w) features.

    Args:
        channels: c.
        head_dim: d, channels per head (c must be divisible by d).
        groups: groups of the input GroupNorm.
    """

    def __init__(self, channels: int, head_dim: int = 32, groups: int = 8):
        super().__init__()
        if channels % head_dim:
            raise ValueError(f"attention channels {channels} must be divisible by head_dim {head_dim}")
        self.heads, self.head_dim = channels // head_dim, head_dim
        self.norm = GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).permute(0, 2, 3, 1).reshape(b, h * w, c)  # (b, n, c), a view if channels-last
        qkv = self.qkv(tokens).view(b, h * w, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # one stacked gradient (indexing the three would sum three strided ones)
        out = attention(q, k, v)  # (b, heads, n, d)
        out = self.proj(out.transpose(1, 2).reshape(b, h * w, c))  # (b, n, c)
        return x + out.view(b, h, w, c).permute(0, 3, 1, 2).to(x.dtype)  # channels-last strides


__all__ = ["SelfAttention2d", "attention", "plain_attention"]
