"""Shifted convolutions and the gated layer of the Gated PixelCNN (van den Oord et al. 2016, "Conditional
Image Generation with PixelCNN Decoders", Fig. 2).

Notation: images (b, c, h, w); p = k // 2 the reach of a k x k kernel. Raster order: pixel (r, q) comes
before (r', q') when r < r', or r = r' and q < q'. Masks are written as shifts (zero padding on the sides
a pixel may see, none on the others) instead of multiplying weights by 0/1 masks: the same functions,
without the wasted multiplications.
- vertical stack: output (r, q) sees input rows r - p .. r, columns q - p .. q + p: a (p + 1) x k kernel.
  It sees the current row (so future pixels of it), and therefore reaches the horizontal stack only after
  `down_shift`: at row r the horizontal stack gets what the vertical stack saw at row r - 1. This is what
  removes the blind spot of the original masked PixelCNN: every pixel of every earlier row is reachable.
- horizontal stack: output (r, q) sees input row r, columns q - p .. q - 1 (mask "A", first layer: not the
  current pixel) or q - p .. q (mask "B", later layers: the current pixel's features, which have never
  seen its value).
- gated activation: y = tanh(W_f * x + V_f h) * sigmoid(W_g * x + V_g h), h a class embedding (eq. 4-5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every row down by one (row 0 becomes zeros, the last row is dropped), (b, c, h, w)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


class VerticalConv(nn.Module):
    """(p + 1) x k convolution: output (r, q) sees input rows r - p .. r, columns q - p .. q + p."""

    def __init__(self, c_in: int, c_out: int, k: int):
        super().__init__()
        self.p = k // 2
        self.conv = nn.Conv2d(c_in, c_out, (self.p + 1, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, c_in, h, w) -> (b, c_out, h, w)
        return self.conv(F.pad(x, (self.p, self.p, self.p, 0)))


class HorizontalConv(nn.Module):
    """1 x p (mask A: columns q - p .. q - 1) or 1 x (p + 1) (mask B: q - p .. q) convolution along the row."""

    def __init__(self, c_in: int, c_out: int, k: int, mask: str):
        super().__init__()
        if mask not in ("A", "B"):
            raise ValueError(f"mask must be 'A' or 'B', got {mask!r}")
        self.p = k // 2
        self.conv = nn.Conv2d(c_in, c_out, (1, self.p if mask == "A" else self.p + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, c_in, h, w) -> (b, c_out, h, w)
        return self.conv(F.pad(x, (self.p, 0, 0, 0)))[..., : x.shape[-1]]  # mask A: one column too many


def gate(pre: torch.Tensor) -> torch.Tensor:
    """tanh(first half) * sigmoid(second half) along channels, (b, 2f, ...) -> (b, f, ...).

    In channels-last memory each half is a strided view (every other block of f channels), on which tanh and
    sigmoid fall back to slow element-by-element loops in bf16; copying each half to dense memory first makes
    the forward and backward of the gate about 1.6x faster (a 1-thread bf16 step of the base model 501 -> 468 ms)."""
    f, g = pre.chunk(2, dim=1)
    if pre.dim() == 4 and not pre.is_contiguous() and pre.is_contiguous(memory_format=torch.channels_last):
        f, g = f.contiguous(memory_format=torch.channels_last), g.contiguous(memory_format=torch.channels_last)
    return torch.tanh(f) * torch.sigmoid(g)


class GatedLayer(nn.Module):
    """One gated layer: a vertical and a horizontal stack, the vertical one linked (shifted down, 1x1) into the
    horizontal one; residual (except in the first layer, whose input is the image itself) and skip outputs on
    the horizontal stack; an optional class embedding added to both stacks' pre-activations. The last layer
    has only its skip output (no later layer reads its stacks)."""

    def __init__(self, c_in: int, channels: int, k: int, *, first: bool, last: bool = False, num_classes: int = 0):
        super().__init__()
        self.first, self.last = first, last
        self.v_conv = VerticalConv(c_in, 2 * channels, k)
        self.h_conv = HorizontalConv(c_in, 2 * channels, k, "A" if first else "B")
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.res = None if last else nn.Conv2d(channels, channels, 1)
        self.skip = nn.Conv2d(channels, channels, 1)
        self.embed = nn.Embedding(num_classes, 2 * channels) if num_classes else None

    def bias(self, y: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | float:
        """The class embedding as a (b, 2f, 1, 1) bias in the stack's dtype (an fp32 bias would lift a bf16 stack
        under autocast to fp32), or 0. A label -1 is "no label": its bias is 0 (the unconditional model that
        classifier-free guidance contrasts with the conditional one)."""
        if self.embed is None or y is None:
            return 0.0
        e = self.embed(y.clamp(min=0))
        if bool((y < 0).any()):
            e = e * (y >= 0).unsqueeze(1).to(e.dtype)
        return e[:, :, None, None].to(dtype)

    def vertical(self, v: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(the vertical stack's output (b, f, h, w) (None in the last layer), its link into the horizontal
        stack (b, 2f, h, w))."""
        pre = self.v_conv(v)
        return (None if self.last else gate(pre + self.bias(y, pre.dtype))), self.link(down_shift(pre))

    def horizontal(self, h: torch.Tensor, link: torch.Tensor,
                   y: torch.Tensor | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(the horizontal stack's output (b, f, h, w) (None in the last layer), the skip output (b, f, h, w))."""
        pre = self.h_conv(h) + link
        out = gate(pre + self.bias(y, pre.dtype))
        if self.res is None:
            return None, self.skip(out)
        res = self.res(out)
        return (res if self.first else h + res), self.skip(out)


class ChannelMaskedConv(nn.Module):
    """1x1 convolution from the c channels of the current pixel to c groups of `width` features, group i
    seeing input channels < i only: what lets channel i of a pixel depend on its channels 0 .. i-1."""

    def __init__(self, c: int, width: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c * width, 1)
        mask = (torch.arange(c)[None, :] < torch.arange(c)[:, None]).float()  # (group, input channel)
        self.register_buffer("mask", mask.repeat_interleave(width, dim=0)[:, :, None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, c, h, w) -> (b, c * width, h, w)
        return F.conv2d(x, self.conv.weight * self.mask, self.conv.bias)


__all__ = ["ChannelMaskedConv", "GatedLayer", "HorizontalConv", "VerticalConv", "down_shift", "gate"]
