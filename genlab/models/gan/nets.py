"""Generator and discriminator networks of the GAN families (MLP and DCGAN-style convolutional).

DCGAN (Radford et al. 2016): strided (transposed) convolutions instead of pooling, batch norm in both
nets (not on G's output nor D's input layer), ReLU in G, LeakyReLU(0.2) in D, tanh output, no fully
connected hidden layers, weights drawn from N(0, 0.02). The generator projects z with one matrix
product to the lowest resolution; the discriminator's last layer is one linear map of the flattened
features.

Conditioning (Mirza & Osindero 2014; Miyato & Koyama 2018): G concatenates a learned class embedding
to z; D is a projection discriminator, D(x, y) = psi(phi(x)) + <embed(y), phi(x)>.
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

Norm = Literal["batch", "none"]
NORMS = ("batch", "none")


def sn(layer: nn.Module, on: bool) -> nn.Module:
    """The layer with spectral normalization (Miyato et al. 2018) when `on`: W / sigma_max(W), sigma_max
    estimated by one power iteration per training forward."""
    return spectral_norm(layer) if on else layer


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) conv/linear weights, N(1, 0.02) batch-norm scales, zero biases (Radford et al. 2016)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def lowest_size(shape: tuple[int, int, int], n_up: int) -> tuple[int, int]:
    """The spatial size after `n_up` halvings; ValueError if the image does not divide evenly."""
    _, h, w = shape
    f = 2 ** n_up
    if h % f or w % f:
        raise ValueError(f"{n_up} stride-2 layers (one per entry of `channels`) need height and width divisible "
                         f"by {f}, got {h}x{w}; use fewer `channels` (28x28: 2, 32x32: 2 or 3)")
    return h // f, w // f


class Generator(nn.Module):
    """z (b, z_in) -> images (b, c, h, w) in [-1, 1]; z_in includes the class embedding if any."""

    def __init__(self, body: nn.Module, num_classes: int, embed_dim: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.body = body

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y).to(z.dtype)], dim=1)
        return self.body(z)


def mlp_generator(shape, z_dim: int, hidden: tuple[int, ...], num_classes: int = 0, embed_dim: int = 0) -> Generator:
    """The classic MLP generator: z -> hidden (LeakyReLU 0.2) -> c*h*w tanh."""
    c, h, w = shape
    layers: list[nn.Module] = []
    n_in = z_dim + (embed_dim if num_classes else 0)
    for n in hidden:
        layers += [nn.Linear(n_in, n), nn.LeakyReLU(0.2)]
        n_in = n
    layers += [nn.Linear(n_in, c * h * w), nn.Tanh(), nn.Unflatten(1, (c, h, w))]
    return Generator(nn.Sequential(*layers), num_classes, embed_dim)


def conv_generator(shape, z_dim: int, channels: tuple[int, ...], norm: Norm = "batch", num_classes: int = 0,
                   embed_dim: int = 0) -> Generator:
    """DCGAN generator; `channels` are listed from high to low resolution (as in the discriminator)."""
    c = shape[0]
    h0, w0 = lowest_size(shape, len(channels))
    rev = tuple(reversed(channels))
    n_in = z_dim + (embed_dim if num_classes else 0)

    def bn(n):
        return nn.BatchNorm2d(n) if norm == "batch" else nn.Identity()

    # "project and reshape" (Radford et al. 2016, fig. 1): one matrix product, faster on CPUs than the
    # equivalent transposed convolution from 1x1
    layers: list[nn.Module] = [nn.Linear(n_in, rev[0] * h0 * w0, bias=norm != "batch"),
                               nn.Unflatten(1, (rev[0], h0, w0)), bn(rev[0]), nn.ReLU()]
    for c_in, c_out in itertools.pairwise(rev):  # (b, c_in, s, s) -> (b, c_out, 2s, 2s)
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=norm != "batch"), bn(c_out), nn.ReLU()]
    layers += [nn.ConvTranspose2d(rev[-1], c, 4, 2, 1), nn.Tanh()]
    g = Generator(nn.Sequential(*layers), num_classes, embed_dim)
    if norm == "batch":
        dcgan_init(g.body)
    return g


class MinibatchStd(nn.Module):
    """Appends one feature: the standard deviation of each feature over a group of `group` samples,
    averaged over the features (Karras et al. 2018, ProGAN sec. 3). A batch of identical samples shows
    a 0 there, so D can spot a generator that lacks variety. (b, n) -> (b, n + 1)."""

    def __init__(self, group: int):
        super().__init__()
        self.group = group

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        b, n = phi.shape
        g = max(d for d in range(1, min(self.group, b) + 1) if b % d == 0)  # a group size dividing b
        std = phi.float().view(g, b // g, n).var(0, unbiased=False).add(1e-8).sqrt().mean(1)  # (b // g,)
        return torch.cat([phi, std.repeat(g)[:, None].to(phi.dtype)], dim=1)


class Discriminator(nn.Module):
    """x (b, c, h, w) in [-1, 1] -> scores (b,): psi(phi(x)) [+ <embed(y), phi(x)> when conditional]."""

    def __init__(self, features: nn.Module, n_features: int, num_classes: int, spectral: bool, bias: bool):
        super().__init__()
        self.features = features
        self.out = sn(nn.Linear(n_features, 1, bias=bias), spectral)
        self.embed = sn(nn.Embedding(num_classes, n_features), spectral) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.score(self.features(x), y)

    def score(self, phi: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (b,) from the features phi(x), (b, n_features)."""
        f = self.out(phi).squeeze(1)
        if self.embed is not None:
            f = f + (self.embed(y).to(phi.dtype) * phi).sum(1)
        return f


def mlp_discriminator(shape, hidden: tuple[int, ...], num_classes: int = 0, spectral: bool = False,
                      bias: bool = True, mbstd: int = 0) -> Discriminator:
    """The classic MLP discriminator: c*h*w -> hidden (LeakyReLU 0.2) -> 1."""
    c, h, w = shape
    layers: list[nn.Module] = [nn.Flatten()]
    n_in = c * h * w
    for n in hidden:
        layers += [sn(nn.Linear(n_in, n), spectral), nn.LeakyReLU(0.2)]
        n_in = n
    if mbstd:
        layers.append(MinibatchStd(mbstd))
    return Discriminator(nn.Sequential(*layers), n_in + (1 if mbstd else 0), num_classes, spectral, bias)


def down_layers(c: int, channels: tuple[int, ...], norm: Norm = "batch", spectral: bool = False) -> list[nn.Module]:
    """DCGAN's discriminator body: 4x4 stride-2 convolutions (batch norm on all but the first), LeakyReLU(0.2);
    (b, c, h, w) -> (b, channels[-1], h / 2^L, w / 2^L)."""
    layers: list[nn.Module] = []
    c_in = c
    for i, c_out in enumerate(channels):  # (b, c_in, s, s) -> (b, c_out, s/2, s/2)
        use_bn = norm == "batch" and i > 0
        layers += [sn(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not use_bn), spectral),
                   nn.BatchNorm2d(c_out) if use_bn else nn.Identity(), nn.LeakyReLU(0.2)]
        c_in = c_out
    return layers


def patch_discriminator(c: int, channels: tuple[int, ...], norm: Norm = "batch", spectral: bool = False) -> nn.Module:
    """PatchGAN (Isola et al. 2017, sec. 3.2.2): DCGAN's strided body, then a 3x3 stride-1 convolution to one
    score per overlapping patch: (b, c, h, w) -> (b, 1, h / 2^L, w / 2^L). Each score sees a receptive field of
    about 2^(L + 2) pixels, so D judges local texture and leaves global structure to the L1 loss."""
    d = nn.Sequential(*down_layers(c, channels, norm, spectral), sn(nn.Conv2d(channels[-1], 1, 3, 1, 1), spectral))
    if norm == "batch" and not spectral:
        dcgan_init(d)
    return d


def conv_discriminator(shape, channels: tuple[int, ...], norm: Norm = "batch", num_classes: int = 0,
                       spectral: bool = False, bias: bool = True, mbstd: int = 0) -> Discriminator:
    """DCGAN discriminator: 4x4 stride-2 convolutions (no norm on the first), LeakyReLU(0.2)."""
    h0, w0 = lowest_size(shape, len(channels))
    layers = down_layers(shape[0], channels, norm, spectral)
    c_in = channels[-1]
    layers.append(nn.Flatten())
    if mbstd:
        layers.append(MinibatchStd(mbstd))
    d = Discriminator(nn.Sequential(*layers), c_in * h0 * w0 + (1 if mbstd else 0), num_classes, spectral, bias)
    if norm == "batch" and not spectral:  # without batch norm, N(0, 0.02) makes D nearly constant: keep
        dcgan_init(d)                     # PyTorch's default (He-uniform) init, as WGAN-GP's code does
    return d
