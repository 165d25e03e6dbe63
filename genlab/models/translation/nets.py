"""Networks of the translation families: the U-Net translator (pix2pix, CycleGAN) built on genlab's
diffusion U-Net, and the super-resolution residual network with sub-pixel upsampling (SRResNet/ESPCN).

Sub-pixel convolution (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an
Efficient Sub-Pixel Convolutional Neural Network", eq. 4): a convolution to c r^2 channels at low
resolution, then the periodic shuffle PS: out[b, k, r y + i, r x + j] = in[b, k r^2 + i r + j, y, x]
(torch's pixel_shuffle). ICNR initialization (Aitken et al. 2017) copies each of the c kernels to its r^2
sub-pixel positions, so at initialization the layer is a convolution followed by nearest-neighbour
upsampling: no checkerboard pattern to unlearn.

SRResNet (Ledig et al. 2017) without batch norm (Lim et al. 2017, EDSR; Wang et al. 2018, ESRGAN):
head conv, B residual blocks conv-ReLU-conv, a conv and a global skip, one sub-pixel stage per prime
factor of the scale (2 or 3), a conv to the image channels. The network predicts the residual over a
bicubic upsampling of its input (Kim et al. 2016, VDSR), which it learns in far fewer steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.nn.unet import UNet


def scale_factors(scale: int) -> list[int]:
    """The sub-pixel stages of an upscaling factor: 2 -> [2], 3 -> [3], 4 -> [2, 2], 6 -> [2, 3], 8 -> [2, 2, 2]."""
    out, s = [], scale
    for p in (2, 3):
        while s % p == 0:
            out.append(p)
            s //= p
    if s != 1 or not out:
        raise ValueError(f"super-resolution scales by products of 2 and 3 (2, 3, 4, 6, 8, ...), got x{scale}")
    return out


def icnr_(weight: torch.Tensor, r: int) -> None:
    """ICNR (Aitken et al. 2017): weight (c r^2, c_in, k, k) with the r^2 kernels of each output channel
    equal (a He-initialized kernel per channel), in place."""
    c = weight.shape[0] // (r * r)
    base = torch.empty(c, *weight.shape[1:])
    nn.init.kaiming_normal_(base)
    with torch.no_grad():
        weight.copy_(base.repeat_interleave(r * r, dim=0))


class SubPixel(nn.Module):
    """Sub-pixel upsampling by r: 3x3 conv to c_out r^2 channels, then pixel_shuffle (Shi et al. 2016):
    (b, c_in, h, w) -> (b, c_out, r h, r w)."""

    def __init__(self, c_in: int, c_out: int, r: int):
        super().__init__()
        self.r = r
        self.conv = nn.Conv2d(c_in, c_out * r * r, 3, padding=1)
        icnr_(self.conv.weight, r)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), self.r)


class ResidualBlock(nn.Module):
    """x + conv(ReLU(conv(x))), both 3x3, no batch norm (EDSR)."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class SRResNet(nn.Module):
    """Low-res (b, c, h, w) in [0, 1] -> high-res (b, c, s h, s w): bicubic(x) + f(x) (module docstring).

    Args:
        channels: image channels c.
        scale: the upscaling factor s (a product of 2s and 3s).
        width: feature channels.
        blocks: residual blocks B.
    """

    def __init__(self, channels: int, scale: int, width: int = 32, blocks: int = 4):
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)), nn.Conv2d(width, width, 3, padding=1))
        self.up = nn.Sequential(*(m for r in scale_factors(scale) for m in (SubPixel(width, width, r), nn.ReLU())))
        self.tail = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)  # (b, width, h, w)
        h = self.up(h + self.body(h))  # (b, width, s h, s w)
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + self.tail(h)


class UNetTranslator(nn.Module):
    """Image -> image with genlab's diffusion U-Net (genlab/nn/unet.py) at a fixed timestep 0, so its time
    embedding is a learned constant; the source is resized (bilinear) to the target size when they differ.
    (b, c_in, h', w') in [0, 1] -> (b, c_out, h, w) in [0, 1] (a sigmoid, i.e. pix2pix's tanh on [-1, 1])."""

    def __init__(self, c_in: int, c_out: int, size: tuple[int, int], channels: tuple[int, ...],
                 num_res_blocks: int = 1, attention_levels: tuple[int, ...] = (), dropout: float = 0.0):
        super().__init__()
        self.size = size
        self.unet = UNet(c_in, c_out, channels, num_res_blocks, attention_levels, head_dim=32, groups=8,
                         dropout=dropout)

    def forward(self, source: torch.Tensor) -> torch.Tensor:
        if tuple(source.shape[-2:]) != tuple(self.size):
            source = F.interpolate(source, size=self.size, mode="bilinear", align_corners=False)
        t = torch.zeros(source.shape[0], device=source.device)
        return torch.sigmoid(self.unet(source * 2 - 1, t))


__all__ = ["ResidualBlock", "SRResNet", "SubPixel", "UNetTranslator", "icnr_", "scale_factors"]
