"""The diffusion U-Net (Ronneberger et al. 2015, as adapted by Ho et al. 2020 and Nichol & Dhariwal 2021).

Notation: x (b, c, h, w); t (b,) timesteps; y (b,) class labels or None (the null label). Levels
l = 0..L-1 run at resolutions h, h/2, ...; each has `num_res_blocks` residual blocks (with
self-attention where l is in `attention_levels`), then a stride-2 conv down. The middle is
res-attn-res; the way up mirrors it with num_res_blocks + 1 blocks per level, each fed the matching
skip activation by concatenation, then nearest-neighbour upsampling and a conv.

Residual block: h = conv1(SiLU(GN(x))) + W t_emb; out = skip(x) + conv2(dropout(SiLU(GN(h)))).

Written for speed on CPUs and GPUs: every op keeps channels-last strides (no layout copies), works
under bf16 autocast, and attention uses the fused scaled_dot_product_attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.nn.attention import SelfAttention2d
from genlab.nn.embeddings import TimeEmbedding
from genlab.nn.norm import GroupNorm


def _groups(channels: int, groups: int) -> int:
    """The largest divisor of `channels` that is <= groups (so any width works)."""
    g = min(groups, channels)
    while channels % g:
        g -= 1
    return g


class ResBlock(nn.Module):
    """Residual block with a time(-and-class) embedding added between its two convs (Ho et al. 2020)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = GroupNorm(_groups(c_in, groups), c_in, act="silu")
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = GroupNorm(_groups(c_out, groups), c_out, act="silu")
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """x (b, c_in, h, w), emb (b, emb_dim) already passed through SiLU -> (b, c_out, h, w)."""
        h = self.conv1(self.norm1(x))  # the norms apply SiLU themselves (one fused kernel on CPU)
        h = h + self.emb(emb).to(h.dtype)[:, :, None, None]
        h = self.conv2(self.dropout(self.norm2(h)))
        return self.skip(x) + h


class Level(nn.Module):
    """One resolution of the U-Net: residual blocks, each optionally followed by self-attention."""

    def __init__(self, blocks: list[ResBlock], attention: list[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.attn = nn.ModuleList(attention)


class UNet(nn.Module):
    """eps/x0/v-prediction network f(x_t, t, y) -> (b, out_channels, h, w).

    Args:
        in_channels, out_channels: image (or latent) channels.
        channels: width of each level, e.g. (32, 64, 64): three levels, two downsamplings.
        num_res_blocks: residual blocks per level on the way down (one more on the way up).
        attention_levels: indices of the levels with self-attention (the middle always has it).
        head_dim: channels per attention head.
        groups: GroupNorm groups (reduced to a divisor of each width).
        num_classes: > 0 adds a class embedding with a null label at index num_classes.
        cond_dim: > 0: y is a (b, cond_dim) condition vector (a pooled text embedding), added to the time
            embedding through a linear map; the zero vector is its null.
        dropout: dropout inside the residual blocks.
        emb_mult: the time-embedding width is emb_mult * channels[0].
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 1, channels: tuple[int, ...] = (32, 64, 64),
                 num_res_blocks: int = 1, attention_levels: tuple[int, ...] = (1, 2), head_dim: int = 32,
                 groups: int = 8, num_classes: int = 0, dropout: float = 0.0, emb_mult: int = 4,
                 patch: int = 1, cond_dim: int = 0):
        super().__init__()
        if patch < 1:
            raise ValueError(f"patch must be >= 1, got {patch}")
        self.patch = patch
        if not channels or min(channels) < 1 or num_res_blocks < 1:
            raise ValueError(f"the U-Net needs >= 1 level of positive width and >= 1 block per level, got "
                             f"channels={channels}, num_res_blocks={num_res_blocks}")
        bad = [a for a in attention_levels if not 0 <= a < len(channels)]
        if bad:
            raise ValueError(f"attention_levels {bad} out of range; valid: 0..{len(channels) - 1}")
        emb_dim = emb_mult * channels[0]

        def attn(c: int) -> nn.Module:
            return SelfAttention2d(c, min(head_dim, c), _groups(c, groups))

        self.time = TimeEmbedding(channels[0], emb_dim, num_classes, cond_dim)
        self.conv_in = nn.Conv2d(in_channels * patch * patch, channels[0], 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, c = [channels[0]], channels[0]
        for lvl, width in enumerate(channels):
            blocks, attns = [], []
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(c, width, emb_dim, groups, dropout))
                attns.append(attn(width) if lvl in attention_levels else nn.Identity())
                c = width
                skips.append(c)
            self.down.append(Level(blocks, attns))
            if lvl < len(channels) - 1:
                self.downsample.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid1 = ResBlock(c, c, emb_dim, groups, dropout)
        self.mid_attn = attn(c)
        self.mid2 = ResBlock(c, c, emb_dim, groups, dropout)
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for lvl in reversed(range(len(channels))):
            width, blocks, attns = channels[lvl], [], []
            for _ in range(num_res_blocks + 1):
                blocks.append(ResBlock(c + skips.pop(), width, emb_dim, groups, dropout))
                attns.append(attn(width) if lvl in attention_levels else nn.Identity())
                c = width
            self.up.append(Level(blocks, attns))
            if lvl > 0:
                self.upsample.append(nn.Conv2d(c, c, 3, padding=1))
        self.norm_out = GroupNorm(_groups(c, groups), c, act="silu")
        self.conv_out = nn.Conv2d(c, out_channels * patch * patch, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x (b, in_channels, h, w), t (b,), y (b,) labels, (b, cond_dim) vectors or None -> (b, out_channels, h, w)."""
        emb = F.silu(self.time(t, y))  # (b, emb_dim); every block applies SiLU first, so do it once
        if self.patch > 1:
            x = F.pixel_unshuffle(x, self.patch)  # (b, c p^2, h/p, w/p)
        h = self.conv_in(x)
        hs = [h]
        for i, level in enumerate(self.down):
            for block, attn in zip(level.blocks, level.attn):
                h = attn(block(h, emb))
                hs.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for i, level in enumerate(self.up):
            for block, attn in zip(level.blocks, level.attn):
                h = attn(block(torch.cat([h, hs.pop()], dim=1), emb))
            if i < len(self.upsample):
                h = F.interpolate(h, size=hs[-1].shape[-2:], mode="nearest")
                h = self.upsample[i](h)
        out = self.conv_out(self.norm_out(h))
        return F.pixel_shuffle(out, self.patch) if self.patch > 1 else out


# Presets by image size: (channels, num_res_blocks, attention_levels). "28" has the parameter count
# and FLOPs of the diffusers UNet2DModel it is benchmarked against (benchmarks/diffusion_speed.py).
PRESETS: dict[str, dict] = {
    "tiny": {"channels": (8, 8), "num_res_blocks": 1, "attention_levels": (1,), "head_dim": 8, "groups": 4},
    "28": {"channels": (32, 64, 64), "num_res_blocks": 1, "attention_levels": (1, 2), "head_dim": 64, "groups": 32},
    "32": {"channels": (64, 128, 128, 128), "num_res_blocks": 2, "attention_levels": (2,), "head_dim": 32,
           "groups": 32},
}


__all__ = ["PRESETS", "ResBlock", "UNet"]
