"""Variational autoencoder (Kingma & Welling 2014), beta-VAE (Higgins et al. 2017), conditional VAE
(Sohn et al. 2015), and the importance-weighted bound (Burda et al. 2016) for evaluation.

Notation: encoder q(z|x) = N(mu, diag(exp(logvar))); prior p(z) = N(0, I); decoder p(x|z) is
Bernoulli(sigmoid(logits)) or N(mean, sigma^2) with one learned sigma. Per example, in nats:
    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))
and training minimizes  recon + beta_t * KL,  where beta_t rises linearly from 0 to beta over
`kl_warmup` steps. A conditional VAE feeds the one-hot label to the encoder and the decoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec
from genlab.models.autoencoder import build_coder
from genlab.models.base import GenerativeModel, Samples
from genlab.nn.distributions import LOG_2PI, bernoulli_log_likelihood, gaussian_kl, gaussian_log_likelihood
from genlab.nn.mlp import Activation


@dataclass(frozen=True)
class VAEConfig:
    """Options of `vae`.

    Args:
        arch: "conv" or "mlp".
        hidden: dense hidden sizes (mlp: all layers; conv: the first is a dense layer after the convs).
        channels: conv channels per downsampling.
        latent_dim: size of z.
        act: hidden activation.
        likelihood: "bernoulli" (binary or [0,1] pixels) or "gaussian" (one learned std).
        beta: weight of the KL term (1 = the ELBO; >1 = beta-VAE).
        kl_warmup: steps over which the KL weight rises linearly from 0 to beta (0 = off).
        conditional: condition encoder and decoder on the class label (needs labelled data).
    """

    arch: Literal["conv", "mlp"] = "conv"
    hidden: tuple[int, ...] = bounded((256,), ge=1)
    channels: tuple[int, ...] = bounded((32, 64), ge=1)
    latent_dim: int = bounded(16, ge=1)
    act: Activation = "silu"
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    beta: float = bounded(1.0, ge=0)
    kl_warmup: int = bounded(0, ge=0)
    conditional: bool = False


class VAE(GenerativeModel):
    """Gaussian-latent VAE with the reparameterization trick."""

    family: ClassVar[str] = "vae"
    Config: ClassVar[type] = VAEConfig
    likelihood_options: ClassVar[tuple[str, ...]] = ("k",)

    def __init__(self, config: VAEConfig, spec: DataSpec):
        super().__init__(config, spec)
        num_classes = self.num_classes
        if config.conditional and num_classes < 2:
            raise ValueError("a conditional VAE needs labelled data with at least 2 classes; "
                             "train on a labelled dataset or set conditional=False")
        k = num_classes if config.conditional else 0
        self.encoder, self.decoder = build_coder(config.arch, self.shape, config.hidden, config.channels,
                                                 config.act, k, 2 * config.latent_dim, config.latent_dim + k)
        self.log_sigma = nn.Parameter(torch.zeros(())) if config.likelihood == "gaussian" else None

    @property
    def likelihood_kind(self) -> str:
        """Bernoulli decoder: a likelihood of binary pixels; Gaussian: of continuous values."""
        return "binary" if self.config.likelihood == "bernoulli" else "continuous"

    # --- q(z|x) and p(x|z) -------------------------------------------------------------------
    def posterior(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z|x), each (b, latent_dim)."""
        h = self.encoder(x, self.one_hot(y, x.dtype))
        mu, logvar = h.float().chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The posterior mean mu, (b, latent_dim): the latent capability's code."""
        return self.posterior(x, y if self.conditional else None)[0]

    def decoder_out(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (bernoulli) or means (gaussian), (b, c, h, w)."""
        oh = self.one_hot(y, z.dtype)
        return self.decoder(z if oh is None else torch.cat([z, oh], dim=1)).float()

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's mean image in [0, 1]."""
        out = self.decoder_out(z, y)
        return torch.sigmoid(out) if self.log_sigma is None else out.clamp(0.0, 1.0)

    def log_px_given_z(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x|z) summed over pixels, (b,) nats."""
        if self.log_sigma is None:
            return bernoulli_log_likelihood(x, out).flatten(1).sum(1)
        return gaussian_log_likelihood(x, out, self.log_sigma).flatten(1).sum(1)

    def reparameterize(self, mu, logvar, generator=None):
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + (0.5 * logvar).exp() * eps

    # --- contract -------------------------------------------------------------------------------
    def beta_t(self) -> float:
        if self.config.kl_warmup <= 0:
            return self.config.beta
        return self.config.beta * min(1.0, self.step / self.config.kl_warmup)

    def elbo_terms(self, x, y=None, *, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(-E_q log p(x|z), KL) per example with one z sample, each (b,) nats."""
        mu, logvar = self.posterior(x, y)
        z = self.reparameterize(mu, logvar, generator)
        recon = -self.log_px_given_z(x, self.decoder_out(z, y))
        return recon, gaussian_kl(mu, logvar)

    def training_losses(self, batch: Batch, *, generator=None, player=None):
        x, y = batch.x, (batch.y if self.conditional else None)
        recon, kl = self.elbo_terms(x, y, generator=generator)
        loss = (recon + self.beta_t() * kl).mean()
        return {"loss": loss, "recon": recon.mean().detach(), "kl": kl.mean().detach(),
                "nelbo": (recon + kl).mean().detach()}

    @torch.no_grad()
    def sample(self, n, *, cond=None, generator=None) -> Samples:
        labels = self.labels_for(n, cond)
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)
        return Samples(self.decode(z, labels), labels)

    @torch.no_grad()
    def reconstruct(self, x, y=None):
        mu = self.encode(x, y)
        return self.decode(mu, y if self.conditional else None)

    # --- likelihood -----------------------------------------------------------------------------
    @torch.no_grad()
    def nll(self, x, y=None, *, generator=None, k: int = 1) -> torch.Tensor:
        """-log p(x) upper bound per example, (b,) nats: the negative ELBO for k=1, the
        importance-weighted bound IWAE_k (Burda et al. 2016) for k > 1 (tighter as k grows).
        For a Bernoulli decoder x should be binary (e.g. dynamically binarized MNIST)."""
        y = y if self.conditional else None
        mu, logvar = self.posterior(x, y)  # (b, d)
        b, d = mu.shape
        std = (0.5 * logvar).exp()
        eps = torch.randn(k, b, d, generator=generator, device=mu.device)
        z = mu + std * eps  # (k, b, d)
        log_q = (-0.5 * eps.pow(2) - std.log() - 0.5 * LOG_2PI).sum(-1)  # (k, b)
        log_p_z = (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(-1)
        yk = None if y is None else y.repeat(k)
        out = self.decoder_out(z.reshape(k * b, d), yk)
        log_px = self.log_px_given_z(x.repeat(k, 1, 1, 1), out).view(k, b)
        log_w = log_px + log_p_z - log_q  # (k, b)
        return -(torch.logsumexp(log_w, dim=0) - math.log(k))
