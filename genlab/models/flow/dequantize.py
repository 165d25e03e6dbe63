"""Variational dequantization (Ho et al. 2019, Flow++, Sec. 3.1).

Notation: 8-bit image k in {0..255}^D, noise u in (0, 1)^D, dequantized v = (k + u) / 256 in [0, 1]^D,
p the flow's density on [0, 1]^D. Since P(k) = integral of p over the cube of side 1/256 at k/256,
    -log P(k) <= E_q[-log p(v) + log q(u|k)] + D log 256
for any density q(u|k) on the unit cube; q = 1 (uniform dequantization) gives Theis et al.'s bound. Here
q(u|k) is a conditional flow: eps ~ N(0, I); e = eps * exp(s(k)) + m(k) (a Gaussian whose mean and
scale depend on k); conditional affine couplings of e given features of k; u = sigmoid(e), so
    log q(u|k) = log N(eps) - log|det de/deps| - sum log sigmoid'(e).
Everything runs on the squeezed image (4c channels), so a grey image can still be split in halves.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.flow.layers import conv3x3, squeeze, unsqueeze, zero_

LOG_2PI = math.log(2.0 * math.pi)


class ConditionalCoupling(nn.Module):
    """e_b -> (e_b + t) * sigmoid(r + 2) with (t, r) = NN(e_a, features); `flip` swaps the halves' roles."""

    def __init__(self, channels: int, hidden: int, flip: bool, zero_init: bool = True):
        super().__init__()
        self.ca = channels // 2
        self.flip = flip
        c_in, c_out = (channels - self.ca, self.ca) if flip else (self.ca, channels - self.ca)
        last = conv3x3(hidden, 2 * c_out)
        self.net = nn.Sequential(conv3x3(c_in + hidden, hidden), nn.ReLU(), zero_(last) if zero_init else last)

    def forward(self, e: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ea, eb = e[:, :self.ca], e[:, self.ca:]
        if self.flip:
            ea, eb = eb, ea
        t, r = self.net(torch.cat([ea, h], dim=1)).to(e.dtype).chunk(2, dim=1)
        log_s = F.logsigmoid(r + 2.0)
        eb = (eb + t) * log_s.exp()
        return torch.cat([eb, ea] if self.flip else [ea, eb], dim=1), log_s.flatten(1).sum(1)


class VariationalDequantizer(nn.Module):
    """q(u|k): u = sigmoid(g(eps; k)), eps ~ N(0, I), g a conditional flow (Flow++).

    Args:
        channels: image channels c (the flow runs on 4c squeezed channels).
        hidden: channels of the feature network and of the couplings.
        steps: conditional couplings after the conditional Gaussian.
        zero_init: zero the last conv of each network, so q starts as sigmoid(N(0, I)).
    """

    def __init__(self, channels: int, hidden: int, steps: int = 2, zero_init: bool = True):
        super().__init__()
        c4 = 4 * channels
        self.features = nn.Sequential(conv3x3(c4, hidden), nn.ReLU(), conv3x3(hidden, hidden), nn.ReLU())
        base = conv3x3(hidden, 2 * c4)
        self.base = zero_(base) if zero_init else base
        self.couplings = nn.ModuleList(ConditionalCoupling(c4, hidden, i % 2 == 1, zero_init) for i in range(steps))

    def transform(self, eps: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """eps (b, 4c, h/2, w/2) and images x (b, c, h, w) in [0, 1] -> (u (b, c, h, w) in (0, 1),
        log|det du/deps| (b,))."""
        h = self.features(squeeze(x - 0.5))
        m, log_s = self.base(h).to(eps.dtype).chunk(2, dim=1)
        e = eps * log_s.exp() + m
        logdet = log_s.flatten(1).sum(1)
        for coupling in self.couplings:
            e, ld = coupling(e, h)
            logdet = logdet + ld
        logdet = logdet + (F.logsigmoid(e) + F.logsigmoid(-e)).flatten(1).sum(1)  # d sigmoid(e) / de
        return unsqueeze(torch.sigmoid(e)), logdet

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images x (b, c, h, w) on the 8-bit grid -> (u ~ q(u|x) (b, c, h, w), log q(u|x) (b,) nats)."""
        b, c, hh, ww = x.shape
        eps = torch.randn((b, 4 * c, hh // 2, ww // 2), generator=generator, device=x.device, dtype=x.dtype)
        u, logdet = self.transform(eps, x)
        log_n = (-0.5 * eps.pow(2) - 0.5 * LOG_2PI).flatten(1).sum(1)
        return u, log_n - logdet


__all__ = ["ConditionalCoupling", "VariationalDequantizer"]
