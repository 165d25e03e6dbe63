"""`stylegan`: a small StyleGAN-style generator (Karras et al. 2019, 2020) sized for 28x28 / 32x32 on a CPU.

Notation: a mapping MLP f turns z ~ N(0, I) (pixel-normalized) into a style vector w = f(z). The
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

The discriminator, losses and penalties are those of the GAN families (gan.py): non-saturating loss
with an R1 penalty by default, as in StyleGAN.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.data.base import DataSpec
from genlab.models.base import Samples
from genlab.models.gan.model import GAN, GANConfig
from genlab.models.gan.nets import Norm

NoiseMode = Literal["random", "shared", "none"]
NOISE_MODES = ("random", "shared", "none")


@dataclass(frozen=True)
class StyleGANConfig(GANConfig):
    """Options of `stylegan` (the discriminator and training options are those of the GAN families).

    Args:
        w_dim: size of the style vector w.
        mapping_layers: layers of the mapping MLP z -> w.
        g_channels: synthesis channels per resolution, low to high (28x28: 7, 14, 28; 32x32: 4..32).
        mixing_prob: probability of style mixing per training batch.
        w_avg_beta: decay of the running mean of w used for truncation.
    """

    arch: Literal["mlp", "conv"] = "conv"
    latent_dim: int = 64
    channels: tuple[int, ...] = (32, 64)
    d_norm: Norm = "none"
    r1: float = 1.0
    w_dim: int = 64
    mapping_layers: int = 3
    g_channels: tuple[int, ...] = (64, 32, 16)
    mixing_prob: float = 0.5
    w_avg_beta: float = 0.995


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


class MappingNetwork(nn.Module):
    """z (n, z_dim) -> w (n, w_dim): pixel norm, then LeakyReLU(0.2) layers with lr multiplier 0.01."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul) for a, b in itertools.pairwise(dims))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
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
    """The mapping and synthesis networks and the running mean of w."""

    def __init__(self, shape, z_dim: int, w_dim: int, mapping_layers: int, channels: tuple[int, ...]):
        super().__init__()
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(shape, w_dim, channels)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, y=None) -> torch.Tensor:
        ws = self.mapping(z)[:, None].expand(-1, self.synthesis.num_ws, -1)
        return self.synthesis(ws)


class StyleGAN(GAN):
    """StyleGAN-style generator (mapping network, constant input, modulated convolutions, noise, style
    mixing, truncation) with the GAN families' discriminator."""

    family: ClassVar[str] = "stylegan"
    Config: ClassVar[type] = StyleGANConfig

    def __init__(self, config: StyleGANConfig, spec: DataSpec):
        if config.conditional:
            raise ValueError("stylegan is unconditional here; use the cgan family for class-conditional samples")
        if config.clusters:
            raise ValueError("clusters (self-conditioning) is not supported by stylegan; use dcgan or wgan-gp "
                             "with clusters, or set clusters=0")
        if not 0.0 <= config.mixing_prob <= 1.0 or not 0.0 <= config.w_avg_beta < 1.0:
            raise ValueError(f"mixing_prob must be in [0, 1] and w_avg_beta in [0, 1), got {config.mixing_prob}, "
                             f"{config.w_avg_beta}")
        if config.w_dim < 1 or config.mapping_layers < 1 or not config.g_channels:
            raise ValueError("w_dim and mapping_layers must be >= 1 and g_channels must list at least one width")
        super().__init__(config, spec)

    def build_generator(self, k: int) -> nn.Module:
        c = self.config
        return StyleGenerator(self.shape, c.latent_dim, c.w_dim, c.mapping_layers, tuple(c.g_channels))

    @property
    def num_ws(self) -> int:
        return self.G.synthesis.num_ws

    # --- latents ---------------------------------------------------------------------------------
    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """w = f(z), (n, w_dim)."""
        return self.G.mapping(z)

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """w_avg + psi (w - w_avg) (the truncation trick; psi = 1 leaves w unchanged)."""
        return self.G.w_avg.to(w.dtype).lerp(w, psi) if psi != 1.0 else w

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """(n, w_dim) -> (n, num_ws, w_dim): the same style for every layer."""
        return w[:, None].expand(-1, self.num_ws, -1)

    def synthesize(self, ws: torch.Tensor, *, noise: NoiseMode = "random",
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [0, 1], (n, c, h, w), from per-layer styles ws (n, num_ws, w_dim)."""
        if noise not in NOISE_MODES:
            raise ValueError(f"unknown noise mode {noise!r}; valid: {', '.join(NOISE_MODES)}")
        return ((self.G.synthesis(ws, noise, generator).float() + 1.0) / 2.0).clamp(0.0, 1.0)

    def fake(self, n: int, y: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
        """Training samples in [-1, 1] with style mixing; updates the running mean of w."""
        w = self.mapping(self.latent(n, generator))  # (n, w_dim)
        if self.training:
            with torch.no_grad():
                self.G.w_avg.lerp_(w.detach().float().mean(0), 1.0 - self.config.w_avg_beta)
        ws = self.broadcast(w)
        mix = torch.rand((), generator=generator, device=self.device)
        if self.num_ws > 1 and float(mix) < self.config.mixing_prob:
            cut = int(torch.randint(1, self.num_ws, (), generator=generator, device=self.device))
            w2 = self.broadcast(self.mapping(self.latent(n, generator)))
            ws = torch.cat([ws[:, :cut], w2[:, cut:]], dim=1)
        return self.G.synthesis(ws, "random", generator)

    # --- sampling --------------------------------------------------------------------------------
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, *, truncation: float = 1.0,
                 noise: NoiseMode = "random", generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [0, 1] for latents z (n, latent_dim)."""
        return self.synthesize(self.broadcast(self.truncate(self.mapping(z), truncation)), noise=noise,
                               generator=generator)

    @torch.no_grad()
    def sample(self, n: int, *, cond=None, generator: torch.Generator | None = None,
               truncation: float = 1.0) -> Samples:
        """n images (n, c, h, w) in [0, 1]; `truncation` psi in (0, 1] pulls w towards its running mean."""
        if not 0.0 < truncation <= 1.0:
            raise ValueError(f"truncation must be in (0, 1], got {truncation}")
        return Samples(self.generate(self.latent(n, generator), truncation=truncation, generator=generator))


__all__ = ["MappingNetwork", "ModulatedConv", "StyleGAN", "StyleGANConfig", "SynthesisNetwork"]
