"""Autoencoders: dense and convolutional (`ae`), and denoising (`dae`).

Notation: x (b, c, h, w) in [0, 1]; z = f(x) the code; x_hat = g(z). The loss is the mean squared
error (or binary cross-entropy) between x_hat and x. A plain autoencoder has no prior, so once training
ends genlab fits a 10-component Gaussian mixture to the training codes (genlab.models.code_prior, after
Ghosh et al. 2020) and `sample` decodes draws from it; a model stopped before that (interrupted) samples a
diagonal Gaussian of the running moments of the codes, which gives blurrier, often implausible images.
The denoising autoencoder (Vincent et al. 2008) reconstructs the clean x from a corrupted copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec
from genlab.models.base import GenerativeModel, Samples
from genlab.models.code_prior import CodePrior, fit_code_prior
from genlab.nn.conv import ConvDecoder, ConvEncoder
from genlab.nn.mlp import Activation, mlp


@dataclass(frozen=True)
class AEConfig:
    """Options of `ae`.

    Args:
        arch: "mlp" (the classic 784-256-128-32-128-256-784) or "conv".
        hidden: dense hidden sizes (mlp), encoder order; the decoder mirrors them.
        channels: conv channels per downsampling (conv).
        latent_dim: size of the code z.
        act: hidden activation.
        loss: "mse" or "bce" (per pixel, averaged).
    """

    arch: Literal["mlp", "conv"] = "mlp"
    hidden: tuple[int, ...] = bounded((256, 128), ge=1)
    channels: tuple[int, ...] = bounded((32, 64), ge=1)
    latent_dim: int = bounded(32, ge=1)
    act: Activation = "relu"
    loss: Literal["mse", "bce"] = "mse"


def build_coder(arch: str, shape: tuple[int, int, int], hidden: tuple[int, ...], channels: tuple[int, ...],
                act: Activation, n_in_extra: int, n_out: int, n_latent_in: int) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) pair for `arch`; the encoder maps images (+extra) to n_out features,
    the decoder maps n_latent_in features to image logits."""
    c, h, w = shape
    if arch == "mlp":
        d = c * h * w
        enc = _FlatEncoder(mlp([d + n_in_extra, *hidden, n_out], act))
        dec = _FlatDecoder(mlp([n_latent_in, *reversed(hidden), d], act), shape)
        return enc, dec
    if arch == "conv":
        dense = hidden[0] if hidden else 0
        enc = ConvEncoder(shape, channels, n_out, act, hidden=dense, extra_in=n_in_extra)
        dec = ConvDecoder(shape, channels, n_latent_in, act, hidden=dense)
        return enc, dec
    raise ValueError(f"unknown arch {arch!r}; valid: ['conv', 'mlp']")


class _FlatEncoder(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        f = x.flatten(1)
        if extra is not None:
            f = torch.cat([f, extra.to(f.dtype)], dim=1)
        return self.net(f)


class _FlatDecoder(nn.Module):
    def __init__(self, net: nn.Module, shape: tuple[int, int, int]):
        super().__init__()
        self.net, self.shape = net, shape

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


class Autoencoder(GenerativeModel):
    """Deterministic autoencoder x -> z -> x_hat."""

    family: ClassVar[str] = "ae"
    Config: ClassVar[type] = AEConfig
    optional_state: ClassVar[tuple[str, ...]] = ("prior.",)  # runs saved before the code prior

    def __init__(self, config: AEConfig, spec: DataSpec):
        super().__init__(config, spec)
        self.encoder, self.decoder = build_coder(config.arch, self.shape, config.hidden, config.channels,
                                                 config.act, 0, config.latent_dim, config.latent_dim)
        # Running moments of the codes, so that `sample` has something to decode.
        self.register_buffer("z_mean", torch.zeros(config.latent_dim))
        self.register_buffer("z_var", torch.ones(config.latent_dim))
        self.prior = CodePrior(config.latent_dim)  # fitted by `finish` when training ends

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x)  # (b, latent_dim)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))  # (b, c, h, w) in [0, 1]

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x))

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return x

    def training_losses(self, batch: Batch, *, generator=None, player=None):
        x = batch.x
        z = self.encode(self.corrupt(x, generator))
        logits = self.decoder(z)
        if self.config.loss == "bce":
            rec = F.binary_cross_entropy_with_logits(logits.float(), x)
        else:
            rec = F.mse_loss(torch.sigmoid(logits.float()), x)
        self._track_codes(z.detach().float())
        return {"loss": rec, "recon": rec.detach()}

    @torch.no_grad()
    def _track_codes(self, z: torch.Tensor, momentum: float = 0.01) -> None:
        if not self.training:
            return
        self.z_mean.lerp_(z.mean(0), momentum)
        self.z_var.lerp_(z.var(0, unbiased=False) if z.shape[0] > 1 else self.z_var, momentum)

    @torch.no_grad()
    def finish(self, data) -> dict:
        """Fits the code prior (a Gaussian mixture) to the codes of the clean training images."""
        return fit_code_prior(self.prior, self.encode, data, self.z_mean.device)

    @torch.no_grad()
    def sample(self, n, *, cond=None, generator=None) -> Samples:
        """Decodes codes drawn from the fitted code prior; before it is fitted, from N(mean, var) of the
        running moments of the training codes."""
        if bool(self.prior.fitted):
            return Samples(self.decode(self.prior.sample(n, generator)))
        eps = torch.randn(n, self.config.latent_dim, generator=generator, device=self.z_mean.device)
        return Samples(self.decode(self.z_mean + self.z_var.sqrt() * eps))


@dataclass(frozen=True)
class DAEConfig(AEConfig):
    """Options of `dae`: those of `ae` plus the corruption.

    Args:
        corruption: "gaussian" adds N(0, noise^2); "salt_pepper" sets a fraction `noise` of pixels to 0
            or 1; "mask" zeroes a fraction `noise` of pixels.
        noise: the corruption's strength (std or fraction).
    """

    corruption: Literal["gaussian", "salt_pepper", "mask"] = "gaussian"
    noise: float = bounded(0.3, ge=0)


class DenoisingAutoencoder(Autoencoder):
    """Autoencoder trained to undo a corruption of its input (Vincent et al. 2008)."""

    family: ClassVar[str] = "dae"
    Config: ClassVar[type] = DAEConfig

    def __init__(self, config: DAEConfig, spec: DataSpec):
        if config.corruption != "gaussian" and config.noise > 1.0:
            raise ValueError(f"noise is a fraction of pixels for {config.corruption}: give it in [0, 1], "
                             f"got {config.noise}")
        super().__init__(config, spec)

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """A corrupted copy of x in [0, 1] (same shape)."""
        p = self.config.noise
        if self.config.corruption == "gaussian":
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return (x + p * noise).clamp(0.0, 1.0)
        u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        if self.config.corruption == "mask":
            return torch.where(u < p, torch.zeros_like(x), x)
        salt = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < 0.5
        return torch.where(u < p, salt.to(x.dtype), x)

    @torch.no_grad()
    def denoise(self, x: torch.Tensor, *, noise_std: float | None = None, strength: float | None = None,
                cond=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """The reconstruction of a noisy image: what the network was trained to give, in one pass (it undoes
        the corruption of its config, whatever `noise_std` says; there is no `strength` to set)."""
        if strength is not None:
            raise ValueError("a dae denoises in one pass: strength applies to diffusion models (ddpm); leave it out")
        return self.reconstruct(x)


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for images in [0, 1], per example."""
    mse = (x_hat - x).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return 10.0 * torch.log10(1.0 / mse) if mse.numel() else mse


__all__ = ["AEConfig", "Autoencoder", "DAEConfig", "DenoisingAutoencoder", "psnr"]
