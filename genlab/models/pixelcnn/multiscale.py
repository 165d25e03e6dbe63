"""A multi-scale PixelCNN after PixelCNN++ (Salimans et al. 2017, sec. 2.3-2.4): two causal streams of gated
residual blocks run down through 2x-subsampled scales and back up, with skip connections between the passes,
so most of the network works at 1/4 and 1/16 of the pixels and still sees the whole image above a pixel.

Notation: x_in (b, c, h, w) in [-1, 1]; f channels; n blocks per scale and pass; S scales. At scale s a position
(R, Q) stands for pixel (2^s R, 2^s Q). The two streams keep, at every scale:
    v (vertical):  v[R, Q] depends on pixel rows < 2^s R only,
    h (raster):    h[R, Q] depends on pixel rows < 2^s R, or on row 2^s R at columns < 2^s Q.
What keeps them:
- down-shifted convolution (kh x kw, kw odd): zero padding kh - 1 on top and (kw - 1) / 2 on each side, so
  output (R, Q) reads rows R - kh + 1 .. R around column Q: keeps v's property (used for v only).
- down-right-shifted convolution (kh x kw): padding kh - 1 on top and kw - 1 on the left, so output (R, Q)
  reads rows <= R and columns <= Q: keeps both properties (used for h).
- the same convolutions with stride 2 go down a scale: output (R, Q) reads rows <= 2R (and columns <= 2Q),
  which stand for pixel rows <= 2^(s+1) R.
- nearest upsampling goes up a scale: (r, q) takes (r // 2, q // 2), whose pixel (2^(s+1) R, 2^(s+1) Q) is at
  or above and left of (2^s r, 2^s q) in the sense both properties need.
- h may read v at its own position (v sees only rows above); v never reads h.
The first layer makes the properties from the image: v0 reads the two rows above (a 2 x 3 window shifted down
by one), h0 the row above (1 x 3, shifted down) and the pixel to the left with the one above it (2 x 1, shifted
right). The logits of (r, q) come from h at scale 0 through the per-pixel head of net.py, which adds the earlier
channels of the same pixel. Causality and the absence of a blind spot are checked by gradients in
tests/models/pixelcnn/test_multiscale.py.

Block (gated residual, sec. 2.4 of the paper with ELU instead of concatenated ELU, and a per-position channel
norm n of its inputs in place of the paper's weight normalization):
    t = conv1(elu(n(s))) [+ W_a elu(n(a))],   s <- s + A * sigmoid(B),   (A, B) = conv2(elu(t)) + class bias
with a the skip input (the down pass's output of the same block in the up pass; v for the h stream).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.pixelcnn.layers import down_shift
from genlab.models.pixelcnn.net import PixelHead


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every column right by one (column 0 becomes zeros), (b, c, h, w)."""
    return F.pad(x, (1, 0, 0, 0))[..., :-1]


def _up(t: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Nearest 2x upsampling to `size` (cut: each subsampling rounds up); nothing when t has that size."""
    if t.shape[-2:] == size:
        return t
    return F.interpolate(t, scale_factor=2.0, mode="nearest")[..., : size[0], : size[1]]


class ShiftedConv(nn.Module):
    """A kh x kw convolution that reads rows <= R and either the columns around Q (down, kw odd) or the columns
    <= Q (down_right); stride 1 or 2."""

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int], *, right: bool, stride: int = 1):
        super().__init__()
        kh, kw = kernel
        if not right and kw % 2 == 0:
            raise ValueError(f"a down-shifted kernel needs an odd width, got {kw}")
        self.pad = (kw - 1, 0, kh - 1, 0) if right else ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad))


class ChannelNorm(nn.Module):
    """Layer normalization over the channels of each position, (b, c, h, w): it mixes no positions, so it keeps
    every causal property (a group or batch norm over h and w would not)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, dim=1, keepdim=True, correction=0)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight.view(-1, 1, 1) + self.bias.view(-1, 1, 1)


class GatedResidual(nn.Module):
    """s + A sigmoid(B), (A, B) = conv2(elu(conv1(elu(n(s))) + W_a elu(n_a(a)))) + class bias; a is optional;
    n, n_a channel norms of the block's inputs (pre-norm: without them a stack of 12 blocks per stream diverged
    within an hour of training at lr 4e-3)."""

    def __init__(self, channels: int, *, right: bool, aux: int = 0, num_classes: int = 0):
        super().__init__()
        kernel = (2, 2) if right else (2, 3)
        self.norm = ChannelNorm(channels)
        self.conv1 = ShiftedConv(channels, channels, kernel, right=right)
        self.aux_norm = ChannelNorm(aux) if aux else None
        self.aux = nn.Conv2d(aux, channels, 1) if aux else None
        self.conv2 = ShiftedConv(channels, 2 * channels, kernel, right=right)
        self.embed = nn.Embedding(num_classes, 2 * channels) if num_classes else None

    def forward(self, s: torch.Tensor, a: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor:
        t = self.conv1(F.elu(self.norm(s)))
        if self.aux is not None:
            t = t + self.aux(F.elu(self.aux_norm(a)))
        pre = self.conv2(F.elu(t))
        if self.embed is not None and y is not None:  # label -1: no label, no bias (classifier-free guidance)
            e = self.embed(y.clamp(min=0)) * (y >= 0).unsqueeze(1).to(pre.dtype)
            pre = pre + e[:, :, None, None].to(pre.dtype)
        gate_a, gate_b = pre.chunk(2, dim=1)
        return s + gate_a * torch.sigmoid(gate_b)


class MultiscalePixelCNN(PixelHead):
    """Args:
        c: image channels. channels: f. blocks: n, gated residual blocks per stream, scale and pass (>= 1).
        scales: S (>= 1; 1 = no subsampling). num_classes: > 0 adds a class embedding to every block.
        outputs: K per channel (256 categorical, 3 x mixtures logistic, 1 Bernoulli).
    """

    def __init__(self, c: int, channels: int, blocks: int, scales: int, num_classes: int, outputs: int):
        super().__init__()
        f, self.blocks, self.scales = channels, blocks, scales
        self.v0 = ShiftedConv(c, f, (2, 3), right=False)
        self.h0_up = ShiftedConv(c, f, (1, 3), right=False)
        self.h0_left = ShiftedConv(c, f, (2, 1), right=True)

        def stage(aux_v: int, aux_h: int) -> nn.ModuleList:
            return nn.ModuleList(nn.ModuleList([
                GatedResidual(f, right=False, aux=aux_v, num_classes=num_classes),
                GatedResidual(f, right=True, aux=aux_h, num_classes=num_classes)]) for _ in range(blocks))

        self.down = nn.ModuleList(stage(0, f) for _ in range(scales))
        self.up = nn.ModuleList(stage(f, 2 * f) for _ in range(scales))
        self.v_sub = nn.ModuleList(ShiftedConv(f, f, (2, 3), right=False, stride=2) for _ in range(scales - 1))
        self.h_sub = nn.ModuleList(ShiftedConv(f, f, (2, 2), right=True, stride=2) for _ in range(scales - 1))
        self.out_norm = ChannelNorm(f)
        self.build_head(c, channels, outputs)

    def vertical(self, x_in: torch.Tensor, y: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Everything the raster stream reads from above, in the order it reads it: the first layer's view of the
        row above (b, f, h, w), then v after each block of the down pass and of the up pass. Row r of each
        depends on pixel rows < r only, so a sampler computes them once per row."""
        v = down_shift(self.v0(x_in))
        out, sizes = [down_shift(self.h0_up(x_in))], []
        for s, stage in enumerate(self.down):
            if s:
                v = self.v_sub[s - 1](v)
            sizes.append(v.shape[-2:])
            for v_block, _ in stage:
                v = v_block(v, None, y)
                out.append(v)
        kept = out[1:]
        for s in reversed(range(self.scales)):
            v = _up(v, sizes[s])
            for v_block, _ in self.up[s]:
                v = v_block(v, kept.pop(), y)
                out.append(v)
        return out

    def raster(self, x_in: torch.Tensor, above: list[torch.Tensor], y: torch.Tensor | None = None) -> torch.Tensor:
        """The raster stream at scale 0, (b, f, h, w), from the images and `vertical`'s outputs. It reads columns
        <= q only, so the images may be cut to rows <= r and columns <= q (and `above` is cut to match) to get
        the features of pixel (r, q) at the bottom right."""
        above = iter(above)

        def cut(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
            return t[..., : like.shape[-2], : like.shape[-1]]

        h = right_shift(self.h0_left(x_in))
        h = h + cut(next(above), h)
        kept, sizes = [], []
        for s, stage in enumerate(self.down):
            if s:
                h = self.h_sub[s - 1](h)
            sizes.append(h.shape[-2:])
            for _, h_block in stage:
                h = h_block(h, cut(next(above), h), y)
                kept.append(h)
        for s in reversed(range(self.scales)):
            h = _up(h, sizes[s])
            for _, h_block in self.up[s]:
                h = h_block(h, torch.cat([cut(next(above), h), kept.pop()], 1), y)
        return h

    def features(self, x_in: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(b, c, h, w) -> the raster stream at scale 0, (b, f, h, w); (r, q) depends on pixels before it only."""
        return self.raster(x_in, self.vertical(x_in, y), y)

    def forward(self, x_in: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(b, c, h, w) in [-1, 1] -> (b, c, K, h, w) logits of every pixel given the pixels before it."""
        return self.head(self.out_norm(self.features(x_in, y)), x_in)


class CroppedSampler:
    """Raster-order sampling by rerunning the network (the interface of sampler.CachedSampler: start_row,
    features, logits, set_pixel). Entering row r, the vertical stream is computed once on rows <= r (its row r
    sees rows < r); each pixel (r, q) then runs the raster stream on rows <= r and columns <= q only, all it
    depends on. Exact; h w runs of the raster stream per batch, on a quarter of the image on average."""

    def __init__(self, net: MultiscalePixelCNN, x_in: torch.Tensor, y: torch.Tensor | None):
        self.net, self.x, self.y, self.r = net, x_in.clone(), y, 0
        self.above: list[torch.Tensor] = []

    def set_pixel(self, r: int, q: int, i: int, value: torch.Tensor) -> None:
        self.x[:, i, r, q] = value

    def start_row(self, r: int) -> None:
        self.r = r
        self.above = self.net.vertical(self.x[:, :, : r + 1], self.y)

    def features(self, q: int) -> torch.Tensor:
        """(b, f) features of pixel (r, q); the pixels before it must be final."""
        return self.net.raster(self.x[:, :, : self.r + 1, : q + 1], self.above, self.y)[:, :, self.r, q]

    def logits(self, feats: torch.Tensor, r: int, q: int) -> torch.Tensor:
        """(b, c, K) outputs of the head at pixel (r, q), with the channels drawn so far."""
        net = self.net
        return net.head(net.out_norm(feats[:, :, None, None]), self.x[:, :, r:r + 1, q:q + 1])[..., 0, 0]


__all__ = ["ChannelNorm", "CroppedSampler", "GatedResidual", "MultiscalePixelCNN", "ShiftedConv", "right_shift"]
