"""The style generator (`arch="style"`, the `stylegan` family's default): a small StyleGAN-style generator
(Karras et al. 2019, 2020) sized for 28x28 / 32x32 on a CPU.

Notation: a mapping MLP f turns z ~ N(0, I) (pixel-normalized) into a style vector w = f(z). A
conditional (or self-conditioned) G maps (z, y) instead: the label's embedding, normalized like z, is
concatenated to z (StyleGAN2-ADA's conditioning), so w carries the condition and synthesis needs none. The
synthesis network starts from a learned constant (c0, r0, r0) and has one 3x3 convolution at r0, then per
doubling of the resolution an upsampling convolution and a convolution; layer i is modulated by its own
w_i (so w is broadcast to `ws`, (n, num_ws, w_dim)). Each convolution is StyleGAN2's weight
modulation/demodulation (Karras et al. 2020, eqs. 1-3):

    s = A_i(w_i)                       per-sample scales of the input channels, (n, c_in)
    W'_oik = s_i W_oik,  W''_oik = W'_oik / sqrt(sum_{i,k} W'_oik^2 + eps)

computed in the equivalent "non-fused" form conv(x * s, W) * d with d_o = (sum_{i,k} (s_i W_oik)^2)^-1/2,
followed by per-pixel noise times a learned per-channel strength (init 0), a bias and LeakyReLU(0.2).
Every resolution adds its toRGB output to the upsampled image so far (the "skip" generator).

- Style mixing (training): with probability `mixing_prob`, the layers from a random crossover on take
  the w of a second z (regularizes the layers to be independent).
- Truncation (sampling): w' = w_avg + psi (w - w_avg), where w_avg is a running mean of w in training.
- Equalized learning rate: weights are stored at unit scale and multiplied by He's constant (times
  the mapping network's learning-rate multiplier, 0.01) in the forward pass.

The GAN model (model.py) owns the training-time parts (style mixing, the running mean of w, truncation);
the discriminator, losses and penalties are those of every GAN (the stylegan family: non-saturating
loss with an R1 penalty, as in StyleGAN).
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

NoiseMode = Literal["random", "shared", "none"]
NOISE_MODES = ("random", "shared", "none")


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (Karras et al. 2018): W stored at N(0, 1/lr_mul^2), used
    as W * lr_mul / sqrt(in); the bias is stored / lr_mul and used * lr_mul."""

    def __init__(self, n_in: int, n_out: int, lr_mul: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((n_out,), float(bias_init) / lr_mul))
        self.w_gain, self.lr_mul = lr_mul / math.sqrt(n_in), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.w_gain, self.bias * self.lr_mul)


def normalize_2nd_moment(x: torch.Tensor) -> torch.Tensor:
    """x / sqrt(mean(x^2)) over the last dim (pixel norm, Karras et al. 2018)."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-8)


class MappingNetwork(nn.Module):
    """(z (n, z_dim), y (n,)) -> w (n, w_dim): pixel norm of z (and of y's embedding, concatenated when
    conditional), then LeakyReLU(0.2) layers with lr multiplier 0.01."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01, num_classes: int = 0,
                 embed_dim: int = 0):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        dims = [z_dim + (embed_dim if num_classes else 0)] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul) for a, b in itertools.pairwise(dims))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x = normalize_2nd_moment(z)
        if self.embed is not None:
            x = torch.cat([x, normalize_2nd_moment(self.embed(y).to(x.dtype))], dim=1)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2)
        return x


class ModulatedConv(nn.Module):
    """Modulated (and demodulated) k x k convolution, optionally after 2x upsampling; see module docstring."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, k: int = 3, demodulate: bool = True, up: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)  # styles start at 1
        self.gain = 1.0 / math.sqrt(c_in * k * k)
        self.demodulate, self.up, self.k = demodulate, up, k

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)  # (n, c_in)
        weight = self.weight * self.gain  # (c_out, c_in, k, k)
        x = x * s[:, :, None, None].to(x.dtype)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.conv2d(x, weight.to(x.dtype), padding=self.k // 2)
        if self.demodulate:
            d = torch.rsqrt(s.float().pow(2) @ weight.float().pow(2).sum((2, 3)).t() + 1e-8)  # (n, c_out)
            x = x * d[:, :, None, None].to(x.dtype)
        return x


class StyleLayer(nn.Module):
    """ModulatedConv -> + noise * strength -> + bias -> LeakyReLU(0.2)."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, up: bool = False):
        super().__init__()
        self.conv = ModulatedConv(c_in, c_out, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: NoiseMode,
                generator: torch.Generator | None) -> torch.Tensor:
        x = self.conv(x, w)  # (n, c_out, h, w)
        if noise != "none":
            n = 1 if noise == "shared" else x.shape[0]
            eps = torch.randn(n, 1, x.shape[2], x.shape[3], generator=generator, device=x.device)
            x = x + self.noise_strength * eps.to(x.dtype)
        return F.leaky_relu(x + self.bias[None, :, None, None].to(x.dtype), 0.2)


class ToRGB(nn.Module):
    def __init__(self, c_in: int, c_out: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv(c_in, c_out, w_dim, k=1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias[None, :, None, None].to(x.dtype)


class SynthesisNetwork(nn.Module):
    """ws (n, num_ws, w_dim) -> images (n, c, h, w), roughly in [-1, 1]."""

    def __init__(self, shape: tuple[int, int, int], w_dim: int, channels: tuple[int, ...]):
        super().__init__()
        c, h, w = shape
        f = 2 ** (len(channels) - 1)
        if h % f or w % f:
            raise ValueError(f"g_channels with {len(channels)} resolutions need height and width divisible by {f}, "
                             f"got {h}x{w}; use fewer g_channels (28x28: 3, 32x32: 3 or 4)")
        self.const = nn.Parameter(torch.randn(channels[0], h // f, w // f))
        self.layers = nn.ModuleList([StyleLayer(channels[0], channels[0], w_dim)])
        self.to_rgb = nn.ModuleList([ToRGB(channels[0], c, w_dim)])
        for c_in, c_out in itertools.pairwise(channels):
            self.layers.extend([StyleLayer(c_in, c_out, w_dim, up=True), StyleLayer(c_out, c_out, w_dim)])
            self.to_rgb.append(ToRGB(c_out, c, w_dim))
        self.num_ws = len(self.layers)

    def forward(self, ws: torch.Tensor, noise: NoiseMode = "random",
                generator: torch.Generator | None = None) -> torch.Tensor:
        x = self.const[None].expand(ws.shape[0], -1, -1, -1)  # (n, c0, r0, r0)
        x = self.layers[0](x, ws[:, 0], noise, generator)
        img = self.to_rgb[0](x, ws[:, 0])
        for j, rgb in enumerate(self.to_rgb[1:]):
            i = 1 + 2 * j
            x = self.layers[i](x, ws[:, i], noise, generator)
            x = self.layers[i + 1](x, ws[:, i + 1], noise, generator)
            img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False) + rgb(x, ws[:, i + 1])
        return img


class StyleGenerator(nn.Module):
    """The mapping and synthesis networks and the running mean of w (for truncation)."""

    def __init__(self, shape, z_dim: int, w_dim: int, mapping_layers: int, channels: tuple[int, ...],
                 num_classes: int = 0, embed_dim: int = 0):
        super().__init__()
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, num_classes=num_classes, embed_dim=embed_dim)
        self.synthesis = SynthesisNetwork(shape, w_dim, channels)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    @property
    def num_ws(self) -> int:
        return self.synthesis.num_ws

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, *,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Images (n, c, h, w), roughly in [-1, 1]: one w per sample for every layer, random noise."""
        ws = self.mapping(z, y)[:, None].expand(-1, self.num_ws, -1)
        return self.synthesis(ws, "random", generator)


__all__ = ["NOISE_MODES", "MappingNetwork", "ModulatedConv", "NoiseMode", "StyleGenerator", "SynthesisNetwork"]
