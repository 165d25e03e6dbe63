"""Convolutional encoder and decoder for small images (8x8, 28x28, 32x32; grey or colour).

The encoder halves the resolution once per entry of `channels` with 4x4 stride-2 convolutions
(DCGAN-style, no pooling) and ends in a dense layer; the decoder mirrors it with transposed
convolutions. Height and width must be divisible by 2 ** len(channels).
"""

from __future__ import annotations

import torch
from torch import nn

from genlab.nn.mlp import Activation, activation


def check_divisible(shape: tuple[int, int, int], channels: tuple[int, ...]) -> tuple[int, int]:
    """The spatial size after the encoder; ValueError if the image does not divide evenly."""
    _, h, w = shape
    f = 2 ** len(channels)
    if h % f or w % f:
        raise ValueError(
            f"a conv encoder with {len(channels)} downsamplings needs height and width divisible by {f}, "
            f"got {h}x{w}; use fewer `channels` or pad/resize the images"
        )
    return h // f, w // f


class ConvEncoder(nn.Module):
    """(b, c, h, w) images -> (b, out_features) vectors."""

    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], out_features: int,
                 act: Activation = "silu", hidden: int = 0, extra_in: int = 0):
        super().__init__()
        h_low, w_low = check_divisible(shape, channels)
        layers: list[nn.Module] = [nn.Conv2d(shape[0], channels[0], 3, padding=1), activation(act)]
        c_prev = channels[0]
        for c in channels:
            layers += [nn.Conv2d(c_prev, c, 4, stride=2, padding=1), activation(act)]
            c_prev = c
        self.features = nn.Sequential(*layers)
        flat = c_prev * h_low * w_low + extra_in
        head: list[nn.Module] = []
        if hidden:
            head += [nn.Linear(flat, hidden), activation(act)]
            flat = hidden
        head.append(nn.Linear(flat, out_features))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        f = self.features(x).flatten(1)  # (b, c_low * h_low * w_low)
        if extra is not None:
            f = torch.cat([f, extra.to(f.dtype)], dim=1)
        return self.head(f)


class ConvDecoder(nn.Module):
    """(b, in_features) vectors -> (b, c, h, w) pre-activation images (logits or means)."""

    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], in_features: int,
                 act: Activation = "silu", hidden: int = 0):
        super().__init__()
        self.h_low, self.w_low = check_divisible(shape, channels)
        rev = tuple(reversed(channels))
        self.c_low = rev[0]
        head: list[nn.Module] = []
        n_in = in_features
        if hidden:
            head += [nn.Linear(n_in, hidden), activation(act)]
            n_in = hidden
        head += [nn.Linear(n_in, self.c_low * self.h_low * self.w_low), activation(act)]
        self.head = nn.Sequential(*head)
        layers: list[nn.Module] = []
        c_prev = rev[0]
        for c in rev[1:] + (rev[-1],):
            layers += [nn.ConvTranspose2d(c_prev, c, 4, stride=2, padding=1), activation(act)]
            c_prev = c
        layers.append(nn.Conv2d(c_prev, shape[0], 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.head(z).view(-1, self.c_low, self.h_low, self.w_low)  # (b, c_low, h_low, w_low)
        return self.body(h)
