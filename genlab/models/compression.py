"""A compressive autoencoder (`cae`): quantized latents with a learned entropy model, for lossy compression.

Notation (Balle, Laparra & Simoncelli 2017, "End-to-end optimized image compression"; Theis et al. 2017,
"Lossy image compression with compressive autoencoders"): x (b, c, h, w) in [0, 1]; y = g_a(x) the latents
(b, C, h', w'), each stride-2 convolution halving h and w (rounding up); y_hat = round(y), the integer symbols;
x_hat = sigmoid(g_s(y_hat)). The prior is factorized: every symbol of channel k is drawn from the same
distribution p_k, a mixture of M logistics convolved with a unit box (so p_k(n) = F_k(n + 1/2) - F_k(n - 1/2)
for the mixture's CDF F_k), which gives the probability of each integer symbol directly.

Training replaces the rounding by additive uniform noise, y + u with u ~ U(-1/2, 1/2) (`quantizer="noise"`,
Balle 2017), or feeds the decoder round(y) with a straight-through gradient while the rate still sees the noisy
y + u (`"mixed"`, Minnen & Singh 2020), or rounds both (`"ste"`, Theis 2017). The loss is
D + lambda R: D the mean squared error of the pixels, R the bits of the latents under the prior per image pixel
(bits / (c h w)); lambda is `rate_weight`, one rate point per value.

For coding (genlab.apps.compress) the prior is turned into one integer-valued table per channel over a finite
range of symbols [lo_k, hi_k] that holds all but 2^-20 of its mass; latents outside are clamped to the range,
and the tails' mass moves onto its end symbols (P(lo_k) = F_k(lo_k + 1/2)), so the table is exactly the
distribution of the clamped symbols.

Sampling: symbols drawn from the factorized prior have no spatial structure (texture, not images), so once
training ends a Gaussian mixture is fitted to the training latents' leading principal components
(genlab.models.code_prior) and `sample` decodes its draws, rounded to symbols.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec
from genlab.models.base import GenerativeModel, Samples
from genlab.models.code_prior import CodePrior, fit_code_prior
from genlab.nn.mlp import Activation, activation

TABLE_BITS = 20  # the coding tables are integers: probabilities in units of 2^-TABLE_BITS
TAIL = 2.0 ** -TABLE_BITS  # mass left outside the symbol range of a channel, each side
MAX_SYMBOL = 4096  # the symbol range never reaches beyond [-MAX_SYMBOL, MAX_SYMBOL]
LIKELIHOOD_FLOOR = 1e-9  # the rate's lower bound on a symbol's probability, as Balle 2017 bounds it
INIT_GAIN = 10.0  # the encoder's last layer starts this many times PyTorch's default init


@dataclass(frozen=True)
class CAEConfig:
    """Options of `cae`.

    Args:
        channels: conv channels per stride-2 stage of the encoder (the decoder mirrors them); 28x28 images with
            three stages give 4x4 latents.
        latent_channels: channels C of the quantized latents.
        mixture: logistics per channel in the factorized prior.
        rate_weight: lambda in D + lambda R (R in bits per image pixel): larger is smaller files, worse images.
        quantizer: how training stands in for rounding: "noise" (additive uniform noise), "mixed" (the decoder
            sees round(y) with a straight-through gradient, the rate the noisy y), "ste" (both round).
        act: the activation between convolutions.
    """

    channels: tuple[int, ...] = bounded((32, 48, 64), ge=1)
    latent_channels: int = bounded(16, ge=1)
    mixture: int = bounded(3, ge=1)
    rate_weight: float = bounded(0.01, ge=0)
    quantizer: Literal["noise", "mixed", "ste"] = "mixed"
    act: Activation = "gelu"


def _halved(n: int, times: int) -> list[int]:
    sizes = [n]
    for _ in range(times):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


class _Synthesis(nn.Module):
    """Latents (b, C, h', w') -> image logits (b, c, h, w): transposed stride-2 convolutions back through the
    encoder's sizes (odd sizes included)."""

    def __init__(self, shape: tuple[int, int, int], channels: tuple[int, ...], latent_channels: int, act: Activation):
        super().__init__()
        rev = tuple(reversed(channels))
        self.inp = nn.Conv2d(latent_channels, rev[0], 3, padding=1)
        outs = rev[1:] + (shape[0],)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(a, b, 5, stride=2, padding=2) for a, b in zip(rev, outs))
        self.acts = nn.ModuleList(activation(act) for _ in range(len(rev)))
        hs, ws = _halved(shape[1], len(channels)), _halved(shape[2], len(channels))
        self.sizes = list(zip(reversed(hs[:-1]), reversed(ws[:-1])))  # output size of each up, coarse to fine

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        h = self.acts[0](self.inp(y))
        for i, (up, size) in enumerate(zip(self.ups, self.sizes)):
            h = up(h, output_size=size)
            if i + 1 < len(self.ups):
                h = self.acts[i + 1](h)
        return h


def _analysis(shape: tuple[int, int, int], channels: tuple[int, ...], latent_channels: int, act: Activation
              ) -> nn.Sequential:
    layers: list[nn.Module] = []
    c_prev = shape[0]
    for c in channels:
        layers += [nn.Conv2d(c_prev, c, 5, stride=2, padding=2), activation(act)]
        c_prev = c
    layers.append(nn.Conv2d(c_prev, latent_channels, 3, padding=1))
    return nn.Sequential(*layers)


class FactorizedPrior(nn.Module):
    """p_k(n) for integer n: a mixture of M logistics per channel, convolved with a unit box (Balle 2017)."""

    def __init__(self, channels: int, mixture: int):
        super().__init__()
        spread = torch.linspace(-1.0, 1.0, mixture) if mixture > 1 else torch.zeros(1)
        self.logits = nn.Parameter(torch.zeros(channels, mixture))
        self.means = nn.Parameter(spread.repeat(channels, 1))
        self.log_scales = nn.Parameter(torch.zeros(channels, mixture))

    def _components(self, v: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        # v (b, C, ...) -> per-component standardized box edges, shaped (b, C, ..., M)
        shape = (1, -1) + (1,) * (v.ndim - 2) + (self.means.shape[1],)
        mu, s = self.means.to(dtype).view(shape), self.log_scales.to(dtype).exp().view(shape)
        w = torch.log_softmax(self.logits.to(dtype), 1).view(shape)
        d = v.to(dtype).unsqueeze(-1) - mu
        return w, (d + 0.5) / s, (d - 0.5) / s, d

    def likelihood(self, v: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """P(the box of width 1 around v) under each channel's prior, same shape as v (b, C, ...). The difference
        of CDFs is taken in the tail away from the mean (sigmoid(-a) - sigmoid(-b)), where it is accurate."""
        w, upper, lower, d = self._components(v, dtype)
        flip = torch.where(d > 0, -1.0, 1.0).to(dtype)
        mass = (torch.sigmoid(flip * upper) - torch.sigmoid(flip * lower)).abs()
        return (w.exp() * mass).sum(-1)

    def cdf(self, v: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """F_k(v + 1/2): P(symbol <= v) per channel, same shape as v (b, C, ...)."""
        w, upper, _, _ = self._components(v, dtype)
        return (w.exp() * torch.sigmoid(upper)).sum(-1)


class CompressiveAutoencoder(GenerativeModel):
    """Autoencoder with integer latents and a learned factorized prior: a learned image codec."""

    family: ClassVar[str] = "cae"
    Config: ClassVar[type] = CAEConfig
    optional_state: ClassVar[tuple[str, ...]] = ("code_prior.",)  # runs saved before the code prior

    def __init__(self, config: CAEConfig, spec: DataSpec):
        super().__init__(config, spec)
        c, h, w = self.shape
        self.encoder = _analysis(self.shape, config.channels, config.latent_channels, config.act)
        with torch.no_grad():  # a fresh encoder's latents span several integers, so rounding carries information
            self.encoder[-1].weight.mul_(INIT_GAIN)  # from the first step (at gain 1 they all round to 0 and
            self.encoder[-1].bias.mul_(INIT_GAIN)  # MNIST training stalled at the mean image)
        self.decoder = _Synthesis(self.shape, config.channels, config.latent_channels, config.act)
        self.prior = FactorizedPrior(config.latent_channels, config.mixture)
        self.latent_shape = (config.latent_channels, _halved(h, len(config.channels))[-1],
                             _halved(w, len(config.channels))[-1])
        self.code_prior = CodePrior(math.prod(self.latent_shape))  # for `sample`, fitted by `finish`

    # --- training ---------------------------------------------------------------------------------
    def _noisy(self, y: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        u = torch.rand(y.shape, generator=generator, device=y.device, dtype=y.dtype) - 0.5
        return y + u

    def training_losses(self, batch: Batch, *, generator=None, player=None):
        x = batch.x
        y = self.encoder(x).float()  # (b, C, h', w')
        rounded = y + (torch.round(y) - y).detach()  # straight-through rounding
        noisy = self._noisy(y, generator)
        to_decoder = noisy if self.config.quantizer == "noise" else rounded
        to_rate = rounded if self.config.quantizer == "ste" else noisy
        bits = -torch.log2(self.prior.likelihood(to_rate).clamp_min(LIKELIHOOD_FLOOR)).flatten(1).sum(1)  # (b,)
        x_hat = torch.sigmoid(self.decoder(to_decoder).float())
        mse = F.mse_loss(x_hat, x)
        bpp = bits.mean() / x[0].numel()
        return {"loss": mse + self.config.rate_weight * bpp, "mse": mse.detach(), "bits": bits.mean().detach(),
                "bpp": bpp.detach()}

    def progress_keys(self) -> list[str]:
        return ["loss", "mse", "bits"]

    # --- the coding tables ----------------------------------------------------------------------------
    @torch.no_grad()
    def symbol_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(lo, hi) (C,) int64: each channel's symbol range, all but TAIL of the prior's mass on each side."""
        grid = torch.arange(-MAX_SYMBOL, MAX_SYMBOL + 1, dtype=torch.float64, device=self.prior.means.device)
        cdf = self.prior.cdf(grid.view(1, 1, -1).expand(1, self.config.latent_channels, -1))[0]  # (C, S)
        lo = (cdf < TAIL).sum(1) - MAX_SYMBOL  # the first n with F(n + 1/2) >= TAIL
        hi = (cdf < 1 - TAIL).sum(1) - MAX_SYMBOL  # the first n with F(n + 1/2) >= 1 - TAIL
        return lo.clamp(-MAX_SYMBOL, MAX_SYMBOL).long(), hi.clamp(-MAX_SYMBOL, MAX_SYMBOL).long()

    @torch.no_grad()
    def symbol_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(probabilities (C, K) float64, lo (C,) int64): row k gives P(symbol = lo_k + j), j < K, the clamped
        tails' mass folded onto the end symbols; K = the widest range, and a row is 0 beyond its own range."""
        lo, hi = self.symbol_range()
        j = torch.arange(int((hi - lo).max()) + 1, device=lo.device).view(1, -1)
        n = (lo.view(-1, 1) + j).double()  # (C, K) the symbols
        upper = torch.where(n >= hi.view(-1, 1), 1.0, self.prior.cdf(n.unsqueeze(0))[0])  # F(n + 1/2)
        lower = torch.where(n <= lo.view(-1, 1), 0.0, self.prior.cdf(n.unsqueeze(0) - 1)[0])  # F(n - 1/2)
        inside = j <= (hi - lo).view(-1, 1)
        return torch.where(inside, (upper - lower).clamp_min(0), 0.0), lo

    @torch.no_grad()
    def coding_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """`symbol_tables` rounded to integers in units of 2^-TABLE_BITS, at least 1 inside a channel's range:
        what the entropy coder uses (float64 tables rounded this way come out the same on every machine but for
        a value within rounding error of a half unit)."""
        p, lo = self.symbol_tables()
        counts = torch.round(p * 2.0 ** TABLE_BITS).clamp_min(1)
        j = torch.arange(p.shape[1], device=p.device).view(1, -1)
        _, hi = self.symbol_range()
        return torch.where(j <= (hi - lo).view(-1, 1), counts, 0.0), lo

    # --- quantized latents ----------------------------------------------------------------------------
    @torch.no_grad()
    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """(b, c, h, w) images -> (b, C, h', w') int64 symbols: round(y) clamped to each channel's range."""
        lo, hi = self.symbol_range()
        y = torch.round(self.encoder(x).float())
        return torch.clamp(y, lo.view(1, -1, 1, 1).float(), hi.view(1, -1, 1, 1).float()).long()

    def decode_symbols(self, symbols: torch.Tensor) -> torch.Tensor:
        """(b, C, h', w') integer symbols -> (b, c, h, w) images in [0, 1]."""
        return torch.sigmoid(self.decoder(symbols.float()))

    @torch.no_grad()
    def estimated_bits(self, symbols: torch.Tensor) -> torch.Tensor:
        """(b,) bits of each image's symbols under the prior (its float64 tables): the rate the coder aims at."""
        p, lo = self.symbol_tables()
        j = (symbols - lo.view(1, -1, 1, 1)).clamp(0, p.shape[1] - 1)  # (b, C, h', w')
        rows = p.unsqueeze(0).unsqueeze(-1).expand(symbols.shape[0], -1, -1, j[0, 0].numel())
        probs = rows.gather(2, j.flatten(2).unsqueeze(2)).squeeze(2)  # (b, C, h'w')
        return -torch.log2(probs.clamp_min(1e-300)).flatten(1).sum(1)

    # --- the latent capability and sampling ---------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.quantize(x).flatten(1).float()  # (b, C h' w'): the integer symbols

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z.view(-1, *self.latent_shape)))

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode_symbols(self.quantize(x))

    @torch.no_grad()
    def finish(self, data) -> dict:
        """Fits the code prior (a Gaussian mixture on the leading principal components of the latent maps) to
        the unrounded latents of the training images: the factorized prior codes well but, having no spatial
        structure, samples texture."""
        return fit_code_prior(self.code_prior, lambda x: self.encoder(x).float(), data, self.prior.means.device)

    @torch.no_grad()
    def sample(self, n, *, cond=None, generator=None) -> Samples:
        """Decodes latent maps drawn from the fitted code prior, rounded to symbols. Before it is fitted (an
        interrupted run), symbols drawn from the factorized prior, independently per position: expect texture,
        not digits."""
        lo, hi = self.symbol_range()
        if bool(self.code_prior.fitted):
            y = torch.round(self.code_prior.sample(n, generator).view(n, *self.latent_shape))
            symbols = torch.clamp(y, lo.view(1, -1, 1, 1).float(), hi.view(1, -1, 1, 1).float()).long()
            return Samples(self.decode_symbols(symbols))
        p, lo = self.symbol_tables()
        c, hh, ww = self.latent_shape
        draws = torch.multinomial(p.float().repeat_interleave(n * hh * ww, 0), 1, generator=generator)
        symbols = draws.view(c, n, hh, ww).transpose(0, 1) + lo.view(1, -1, 1, 1)
        return Samples(self.decode_symbols(symbols))


__all__ = ["CAEConfig", "CompressiveAutoencoder", "FactorizedPrior", "TABLE_BITS"]
