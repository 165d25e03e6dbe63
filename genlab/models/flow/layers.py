"""The invertible layers of a Glow-style flow (Kingma & Dhariwal 2018; Dinh et al. 2017, RealNVP).

Every layer is a bijection with `forward(x) -> (z, logdet)` in the density direction (data -> latent),
`logdet` (b,) = log|det dz/dx| per example, and `inverse(z) -> x`. Shapes are (b, c, h, w).
- squeeze:       (c, h, w) -> (4c, h/2, w/2), each 2x2 patch into channels; logdet 0.
- Logit:         v = logit(a + (1 - 2a) y) (RealNVP), or v = y - 1/2 when a = 0 (Glow); elementwise
                 log|dv/dy| = log(1 - 2a) - log s - log(1 - s) with s = a + (1 - 2a) y.
- ActNorm:       z = (x + loc) * exp(log_scale) per channel; logdet = h w sum(log_scale). The first batch
                 seen sets loc, log_scale so z has zero mean and unit variance per channel.
- InvConv1x1:    z = W x per pixel, W = P L (U + diag(sign_s exp(log_s))) (LU form, Glow Sec. 3.2): P fixed,
                 L unit lower, U strictly upper, sign_s fixed; logdet = h w sum(log_s).
- AffineCoupling: x = (x_a, x_b); (t, r) = NN(x_a); s = sigmoid(r + 2); z = (x_a, (x_b + t) s);
                 logdet = sum log s (Glow's affine coupling; s <= 1 keeps it stable). With a bound c > 0,
                 log s = c tanh(log sigmoid(r + 2) / c) in (-c, 0]: an input unlike the training images
                 can no longer squash a pixel by e^-36 (see soft_bound).
- GaussianSplit: the factor-out of a multi-scale flow with a learned conditional prior
                 p(x_b | x_a) = N(mu(x_a), exp(log_sigma(x_a))^2) (Glow's split2d), written as the
                 bijection z = (x_a, (x_b - mu) / sigma) with logdet = -sum log_sigma, so the factored-out
                 half is standard normal. With a bound c > 0, log_sigma = c tanh(raw / c) in (-c, c).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """(b, c, h, w) -> (b, 4c, h/2, w/2): each 2x2 patch of a channel becomes 4 channels (RealNVP)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(z: torch.Tensor) -> torch.Tensor:
    """The inverse of `squeeze`: (b, 4c, h, w) -> (b, c, 2h, 2w)."""
    b, c4, h, w = z.shape
    z = z.reshape(b, c4 // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return z.reshape(b, c4 // 4, 2 * h, 2 * w)


def channel_mix(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """W x at every pixel: (b, c, h, w) -> (b, o, h, w) for w (o, c), in x's precision even under autocast (the
    bijection stays exact in fp32; only the coupling networks may run in bf16). An einsum: for a few channels
    it is several times faster than a 1x1 conv2d."""
    with torch.autocast(x.device.type, enabled=False):
        z = torch.einsum("oc,bchw->bohw", w.to(x.dtype), x)
        return z if bias is None else z + bias.to(x.dtype)[:, None, None]


def zeros(x: torch.Tensor) -> torch.Tensor:
    """A (b,) zero log-determinant for x."""
    return x.new_zeros(x.shape[0])


class Squeeze(nn.Module):
    """`squeeze` as a layer (volume preserving)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return squeeze(x), zeros(x)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return unsqueeze(z)


class Logit(nn.Module):
    """Pixels y in [0, 1] -> v = logit(a + (1 - 2a) y) (RealNVP, Sec. 4.1), or v = y - 1/2 when a = 0."""

    def __init__(self, alpha: float = 0.05):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.alpha
        if a == 0:
            return y - 0.5, zeros(y)
        s = a + (1 - 2 * a) * y
        v = torch.log(s) - torch.log1p(-s)
        logdet = (math.log(1 - 2 * a) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
        return v, logdet

    def inverse(self, v: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        if a == 0:
            return v + 0.5
        return (torch.sigmoid(v) - a) / (1 - 2 * a)


class ActNorm(nn.Module):
    """Per-channel affine z = (x + loc) exp(log_scale), initialized from the first batch (Glow Sec. 3.1).

    `initialized` is a buffer, saved with the weights, so a loaded model is never re-initialized.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        """Set loc = -mean, log_scale = -log std per channel of x (b, c, h, w)."""
        x = x.detach().transpose(0, 1).flatten(1)  # (c, b h w)
        self.loc.copy_(-x.mean(1).view_as(self.loc))
        self.log_scale.copy_(-torch.log(x.std(1) + 1e-6).view_as(self.log_scale))
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not bool(self.initialized):
            self.initialize(x)
        z = (x + self.loc) * self.log_scale.exp()
        return z, self.log_scale.sum().mul(x.shape[2] * x.shape[3]).expand(x.shape[0])

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.exp(-self.log_scale) - self.loc


class InvConv1x1(nn.Module):
    """Invertible 1x1 convolution in LU form (Glow Sec. 3.2), initialized to a random rotation."""

    def __init__(self, channels: int):
        super().__init__()
        q = torch.linalg.qr(torch.randn(channels, channels))[0]
        p, lower, upper = torch.linalg.lu(q)
        s = upper.diagonal()
        eye = torch.eye(channels)
        self.register_buffer("p", p)                        # fixed permutation
        self.register_buffer("sign_s", torch.sign(s))       # fixed signs of the diagonal
        self.register_buffer("l_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", eye)
        self.lower = nn.Parameter(lower * self.l_mask)       # strictly lower part; L = lower + I
        self.upper = nn.Parameter(torch.triu(upper, 1))      # strictly upper part
        self.log_s = nn.Parameter(s.abs().log())

    def weight(self) -> torch.Tensor:
        """W = P L (U + diag(sign_s exp(log_s))), (c, c), in the parameters' precision even under autocast (so
        log|det W| = sum(log_s) holds for the W used)."""
        with torch.autocast(self.log_s.device.type, enabled=False):
            lower = self.lower * self.l_mask + self.eye
            upper = self.upper * self.l_mask.T + torch.diag(self.sign_s * self.log_s.exp())
            return self.p @ lower @ upper

    def inverse_weight(self) -> torch.Tensor:
        """W^-1, computed in float64 and cast back."""
        return torch.linalg.inv(self.weight().double()).to(self.log_s.dtype)

    def logdet(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_s.sum().mul(x.shape[2] * x.shape[3]).expand(x.shape[0])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return channel_mix(x, self.weight()), self.logdet(x)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return channel_mix(z, self.inverse_weight())


def conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1)


def zero_(conv: nn.Conv2d) -> nn.Conv2d:
    """Zero a conv's weight and bias in place, so the layer it ends starts as the identity (Glow Sec. 3.3)."""
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def soft_bound(v: torch.Tensor, bound: float) -> torch.Tensor:
    """c tanh(v / c): the identity near 0 (slope 1), never beyond +-c; c = 0 leaves v unbounded.

    The log-scales of a trained flow stay within a few units on its training images, but a ReLU network fed
    an unusual image can extrapolate them to -30 or lower, and one such pixel costs tens of nats; the bound
    caps a pixel's log-scale term in one layer at c nats (the latent's Gaussian term stays unbounded)."""
    return bound * torch.tanh(v / bound) if bound > 0 else v


class CouplingNet(nn.Sequential):
    """NN(x_a) of a coupling: conv3x3 -> ReLU -> conv1x1 -> ReLU -> conv3x3 (zero-initialized)."""

    def __init__(self, c_in: int, hidden: int, c_out: int, zero_init: bool = True):
        last = conv3x3(hidden, c_out)
        super().__init__(conv3x3(c_in, hidden), nn.ReLU(inplace=True), nn.Conv2d(hidden, hidden, 1),
                         nn.ReLU(inplace=True), zero_(last) if zero_init else last)


class AffineCoupling(nn.Module):
    """z_b = (x_b + t(x_a)) * sigmoid(r(x_a) + 2), z_a = x_a (Glow's affine coupling)."""

    def __init__(self, channels: int, hidden: int, zero_init: bool = True, log_scale_bound: float = 0.0):
        super().__init__()
        self.log_scale_bound = log_scale_bound
        if channels < 2:
            raise ValueError(f"an affine coupling splits the channels in two and needs at least 2, got {channels}; "
                             "squeeze the image first")
        self.ca = channels // 2
        self.net = CouplingNet(self.ca, hidden, 2 * (channels - self.ca), zero_init)

    def shift_log_scale(self, xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t, r = self.net(xa).to(xa.dtype).chunk(2, dim=1)  # the network may run in bf16 (autocast), not the rest
        return t, soft_bound(F.logsigmoid(r + 2.0), self.log_scale_bound)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa, xb = x[:, :self.ca], x[:, self.ca:]
        t, log_s = self.shift_log_scale(xa)
        return torch.cat([xa, (xb + t) * log_s.exp()], dim=1), log_s.flatten(1).sum(1)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        za, zb = z[:, :self.ca], z[:, self.ca:]
        t, log_s = self.shift_log_scale(za)
        return torch.cat([za, zb * torch.exp(-log_s) - t], dim=1)


class FlowStep(nn.Module):
    """One step of Glow: ActNorm -> invertible 1x1 convolution -> affine coupling.

    Once the ActNorm is initialized, the forward pass folds it into the 1x1 convolution, one conv with a bias:
    W ((x + loc) exp(log_scale)) = (W diag(exp(log_scale))) x + W (loc exp(log_scale)).
    """

    def __init__(self, channels: int, hidden: int, zero_init: bool = True, log_scale_bound: float = 0.0):
        super().__init__()
        self.actnorm = ActNorm(channels)
        self.conv = InvConv1x1(channels)
        self.coupling = AffineCoupling(channels, hidden, zero_init, log_scale_bound)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not bool(self.actnorm.initialized):
            x, ld_a = self.actnorm(x)
            x, ld_w = self.conv(x)
        else:
            with torch.autocast(x.device.type, enabled=False):  # the bijection stays in fp32 under autocast
                scale = self.actnorm.log_scale.exp().flatten()  # (c,)
                w = self.conv.weight() * scale  # W diag(scale)
                bias = w @ self.actnorm.loc.flatten()
            x = channel_mix(x, w, bias)
            ld_a, ld_w = self.actnorm.log_scale.sum() * (x.shape[2] * x.shape[3]), self.conv.logdet(x)
        x, ld_c = self.coupling(x)
        return x, ld_a + ld_w + ld_c

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return self.actnorm.inverse(self.conv.inverse(self.coupling.inverse(z)))


class GaussianSplit(nn.Module):
    """Factor-out with a learned prior N(mu(x_a), sigma(x_a)^2) on the second half of the channels (Glow's
    split2d), as the bijection (x_a, x_b) -> (x_a, (x_b - mu) / sigma)."""

    def __init__(self, channels: int, zero_init: bool = True, log_scale_bound: float = 0.0):
        super().__init__()
        self.log_scale_bound = log_scale_bound
        self.ca = channels // 2
        conv = conv3x3(self.ca, 2 * (channels - self.ca))
        self.prior = zero_(conv) if zero_init else conv

    def mu_log_sigma(self, xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_sigma = self.prior(xa).to(xa.dtype).chunk(2, dim=1)
        return mu, soft_bound(log_sigma, self.log_scale_bound)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xa, xb = x[:, :self.ca], x[:, self.ca:]
        mu, log_sigma = self.mu_log_sigma(xa)
        return torch.cat([xa, (xb - mu) * torch.exp(-log_sigma)], dim=1), -log_sigma.flatten(1).sum(1)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        za, eps = z[:, :self.ca], z[:, self.ca:]
        mu, log_sigma = self.mu_log_sigma(za)
        return torch.cat([za, mu + eps * log_sigma.exp()], dim=1)


class ClassPrior(nn.Module):
    """A learned Gaussian per class on the top level's latent (Glow's class-conditional prior): N(mu_y, sigma_y^2)
    with a mean and a log-standard-deviation per class and coordinate, as the bijection x -> (x - mu_y) / sigma_y.
    Zero at the start: every class begins as N(0, I), the unconditional flow."""

    def __init__(self, num_classes: int, shape: tuple[int, int, int], log_scale_bound: float = 0.0):
        super().__init__()
        self.log_scale_bound = log_scale_bound
        self.mean = nn.Parameter(torch.zeros(num_classes, *shape))
        self.log_sigma = nn.Parameter(torch.zeros(num_classes, *shape))

    def mu_log_sigma(self, labels: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mean[labels].to(dtype), soft_bound(self.log_sigma[labels], self.log_scale_bound).to(dtype)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_sigma = self.mu_log_sigma(labels, x.dtype)
        return (x - mu) * torch.exp(-log_sigma), -log_sigma.flatten(1).sum(1)

    def inverse(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        mu, log_sigma = self.mu_log_sigma(labels, z.dtype)
        return mu + z * log_sigma.exp()


__all__ = ["ActNorm", "AffineCoupling", "ClassPrior", "CouplingNet", "FlowStep", "GaussianSplit", "InvConv1x1",
           "Logit", "Squeeze", "soft_bound", "squeeze", "unsqueeze"]
