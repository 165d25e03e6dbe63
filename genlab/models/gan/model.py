"""Generative adversarial networks: `gan` (MLP, Goodfellow et al. 2014), `dcgan` (Radford et al. 2016),
`cgan` (class-conditional: Mirza & Osindero 2014, projection D of Miyato & Koyama 2018), `wgan-gp`
(Gulrajani et al. 2017) and `stylegan` (Karras et al. 2019, 2020). One model class; the families differ
only in their default options (config.py), `arch` picking the generator: MLP, DCGAN or style-based.

Notation: G maps z ~ N(0, I) (and a label y) to an image in [-1, 1]; D maps an image to a score f.
Training images in [0, 1] are mapped to [-1, 1] (x * 2 - 1). The model has two players, trained by
the trainer in the order of `players()`: "d" minimizes L_D (plus gamma * GP or gamma / 2 * R1), then
"g" minimizes L_G; with n_critic = k, "g" steps only on every k-th trainer step (so `--train.steps`
counts discriminator steps). Losses, penalties and DiffAugment live in losses.py; networks in
nets.py and stylegan.py; the divergence watchdog in watch.py (the mode-coverage probe it reads is
attached by the training layer, genlab/training/callbacks.py); the k-means clusters of
self-conditioning (`clusters`) in clusters.py.

The style generator (arch "style") conditions through its mapping network w = f(z, y), so every
option works with it; in training it mixes styles (with probability mixing_prob the layers from a
random crossover on take the w of a second z) and tracks the running mean w_avg of w, which the
truncation trick w' = w_avg + psi (w - w_avg) pulls towards at sampling.

Every player has its own Adam settings (`lr_d`, `lr_g`, `betas`; DCGAN's lr 2e-4, beta1 0.5 by
default); they replace `--train.lr` and `--train.betas` for GANs. For an EMA of the generator's
weights use `--train.ema-decay 0.999`: sampling then uses the averaged generator.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, ClassVar

import torch
from torch import nn

from genlab.data.base import Batch, DataSpec
from genlab.models.base import GenerativeModel, Player, Samples
from genlab.models.gan.clusters import ClusterMap
from genlab.models.gan.config import (
    CGANConfig,
    DCGANConfig,
    GANConfig,
    StyleGANConfig,
    WGANGPConfig,
    check_gan_config,
)
from genlab.models.gan.losses import (
    LOSSES,
    d_loss,
    d_means,
    diff_augment,
    g_loss,
    gradient_penalty,
    parse_policy,
    r1_penalty,
)
from genlab.models.gan.nets import conv_discriminator, conv_generator, mlp_discriminator, mlp_generator
from genlab.models.gan.stylegan import NOISE_MODES, NoiseMode, StyleGenerator
from genlab.models.gan.watch import GANWatchdog

PLAYERS = ("d", "g")


def mode_seeking_ratio(x1: torch.Tensor, x2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """mean |x1 - x2| / mean |z1 - z2| over the batch (Mao et al. 2019, eq. 3): how far two latents'
    images are apart per unit of latent distance."""
    return (x1 - x2).abs().mean() / (z1 - z2).abs().mean()


@contextlib.contextmanager
def frozen(module: nn.Module):
    """Record no gradients for `module`'s parameters inside the block (the generator's pass through D)."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


class GAN(GenerativeModel):
    """A two-player GAN; the family's defaults pick the networks and the loss."""

    family: ClassVar[str] = "gan"
    Config: ClassVar[type] = GANConfig

    def __init__(self, config: GANConfig, spec: DataSpec):
        super().__init__(config, spec)
        num_classes = self.num_classes
        check_gan_config(config, num_classes)
        self.policy = parse_policy(config.diffaug)
        self.cluster_map = ClusterMap(config.clusters, self.shape) if config.clusters else None
        k = num_classes if config.conditional else config.clusters
        self.G = self.build_generator(k)
        self.D = self.build_discriminator(k)

    def build_generator(self, k: int) -> nn.Module:
        """G for k classes (or clusters; 0 = unconditional), by `arch`."""
        c = self.config
        if c.arch == "mlp":
            return mlp_generator(self.shape, c.latent_dim, c.g_hidden, k, c.embed_dim)
        if c.arch == "style":
            return StyleGenerator(self.shape, c.latent_dim, c.w_dim, c.mapping_layers, tuple(c.g_channels), k,
                                  c.embed_dim)
        return conv_generator(self.shape, c.latent_dim, c.channels, c.g_norm, k, c.embed_dim)

    def build_discriminator(self, k: int) -> nn.Module:
        """D for k classes (or clusters): MLP for arch "mlp", DCGAN's for "conv" and "style"."""
        c = self.config
        bias = c.loss != "wgan"  # L_D of WGAN is blind to a constant offset: its gradient would be 0
        shape = (self.shape[0] * c.pack, *self.shape[1:])  # D's input: `pack` images along channels
        if c.arch == "mlp":
            return mlp_discriminator(shape, c.d_hidden, k, c.spectral_norm, bias, c.mbstd)
        return conv_discriminator(shape, c.channels, c.d_norm, k, c.spectral_norm, bias, c.mbstd)

    # --- the trainer's hooks ---------------------------------------------------------------------
    def prepare(self, data) -> None:
        """Fit the clusters of the training images (self-conditioning; nothing to do otherwise)."""
        if self.cluster_map is not None:
            self.cluster_map.fit(data.images(), seed=0)

    def players(self) -> list[Player]:
        """D, then G, each with its own Adam; n_critic D steps per G step ("g" steps on every n_critic-th)."""
        c = self.config
        trainable = lambda net: [p for p in net.parameters() if p.requires_grad]  # noqa: E731
        return [Player("d", trainable(self.D), {"lr": c.lr_d, "betas": tuple(c.betas)}),
                Player("g", trainable(self.G), {"lr": c.lr_g, "betas": tuple(c.betas)}, every=c.n_critic)]

    def compile_obstacle(self) -> str | None:
        """gp and r1 differentiate D's gradient (a double backward), which torch.compile cannot train."""
        c = self.config
        on = [f"--{name} {value:g}" for name, value in (("gp", c.gp), ("r1", c.r1)) if value > 0]
        if not on:
            return None
        return (f"its gradient penalty ({', '.join(on)}) differentiates the discriminator's gradient, a double "
                "backward that torch.compile does not support; train without --train.compile, or set "
                f"{' '.join(o.split()[0] + ' 0' for o in on)}")

    def progress_keys(self) -> list[str]:
        keys = ["d/loss", "g/loss", "d/d_real", "d/d_fake"]
        if self.config.loss == "wgan":
            keys.append("d/wasserstein")
        return keys + ["d/grad_norm", "g/grad_norm", "coverage", "coverage_kl"]

    def train_callbacks(self) -> list:
        """The divergence watchdog; it reads the mode-coverage keys that the training layer's coverage
        probe (asked for by coverage_every > 0) adds to the record before it."""
        return [GANWatchdog(self.config, self.family)]

    # --- the two players -------------------------------------------------------------------------
    def latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), (n, latent_dim)."""
        return torch.randn(n, self.config.latent_dim, generator=generator, device=self.device)

    def latent_given(self, n: int, y: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
        """Latents for n samples of the conditions y; with self-conditioning, z_1 lies in y's cluster band."""
        z = self.latent(n, generator)
        if self.cluster_map is not None and y is not None:
            z[:, 0] = self.cluster_map.latent_for(y, generator).to(z.dtype)
        return z

    def fake(self, z: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
        """G's training images in [-1, 1], (n, c, h, w), for latents z (n, latent_dim) and conditions y; the
        style generator mixes styles and updates the running mean of w (in training mode)."""
        if not self.has_styles:
            return self.G(z, y)
        w = self.G.mapping(z, y)  # (n, w_dim)
        if self.training:
            with torch.no_grad():
                self.G.w_avg.lerp_(w.detach().float().mean(0), 1.0 - self.config.w_avg_beta)
        ws = self.broadcast(w)
        mix = torch.rand((), generator=generator, device=self.device)
        if self.num_ws > 1 and float(mix) < self.config.mixing_prob:  # style mixing, one crossover per batch
            cut = int(torch.randint(1, self.num_ws, (), generator=generator, device=self.device))
            w2 = self.broadcast(self.G.mapping(self.latent_given(z.shape[0], y, generator), y))
            ws = torch.cat([ws[:, :cut], w2[:, cut:]], dim=1)
        return self.G.synthesis(ws, "random", generator)

    def augment(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return diff_augment(x, self.policy, generator) if self.policy else x

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(b, c, h, w) -> (b // m, m * c, h, w): consecutive groups of m = config.pack samples, stacked
        along channels for D (PacGAN); the last b % m samples are left out."""
        m = self.config.pack
        if m == 1:
            return x
        b = x.shape[0] - x.shape[0] % m
        if b == 0:
            raise ValueError(f"pack={m} needs batches of at least {m} images, got {x.shape[0]}")
        return x[:b].reshape(b // m, m * x.shape[1], *x.shape[2:])

    def discriminator_losses(self, real: torch.Tensor, y: torch.Tensor | None,
                             generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """L_D (+ penalties) on a real batch (b, c, h, w) in [-1, 1] and as many fakes."""
        c = self.config
        with torch.no_grad():
            fake = self.fake(self.latent_given(real.shape[0], y, generator), y, generator)
        real_in, fake_in = self.pack(self.augment(real, generator)), self.pack(self.augment(fake, generator))
        # lazy regularization: the penalties on every reg_every-th trainer step (D steps on every one)
        lazy = self.step % c.reg_every == 0
        gp_w, r1_w = (c.gp * c.reg_every, c.r1 * c.reg_every) if lazy else (0.0, 0.0)
        penalties = gp_w > 0 or r1_w > 0
        # the penalties differentiate D w.r.t. its input, also when evaluated under no_grad
        with torch.enable_grad() if penalties else contextlib.nullcontext():
            if r1_w > 0:
                real_in = real_in.detach().requires_grad_(True)
            f_r, f_f = self.D(real_in, y), self.D(fake_in, y)
            loss = d_loss(c.loss, f_r, f_f)
            out = d_means(c.loss, f_r, f_f)
            if gp_w > 0:
                eps = torch.rand(real_in.shape[0], generator=generator, device=real.device)
                gp = gradient_penalty(lambda t: self.D(t, y), real_in, fake_in, eps)
                loss = loss + gp_w * gp
                out["gp"] = gp.detach()
            if r1_w > 0:
                r1 = r1_penalty(f_r, real_in)
                loss = loss + 0.5 * r1_w * r1
                out["r1"] = r1.detach()
        return {"loss": loss, **out}

    def top_k_fraction(self) -> float:
        """The fraction of fakes G learns from at the current trainer step (1 -> top_k, linearly)."""
        c = self.config
        ramp = min(1.0, self.step / c.top_k_ramp) if c.top_k_ramp > 0 else 1.0
        return 1.0 - (1.0 - c.top_k) * ramp

    def top_k(self, f_fake: torch.Tensor) -> torch.Tensor:
        """The scores (b,) of the fakes D rates most real, ceil(fraction * b) of them (all when top_k = 1)."""
        if self.config.top_k >= 1.0:
            return f_fake
        k = max(1, math.ceil(self.top_k_fraction() * f_fake.shape[0]))
        return f_fake.topk(k).values if k < f_fake.shape[0] else f_fake

    def generator_losses(self, real: torch.Tensor, y: torch.Tensor | None,
                         generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """L_G for as many fresh samples as real images (b, c, h, w) in [-1, 1] (which only feature
        matching looks at); D's weights get no gradient."""
        c = self.config
        n = real.shape[0]
        half = n // 2
        if c.mode_seeking > 0 and half > 0 and y is not None:  # pairs (i, i + half) share a label
            y = torch.cat([y[:half], y[:half], y[2 * half:]])
        z = self.latent_given(n, y, generator)
        fake = self.fake(z, y, generator)  # the style generator's mixing draws the fine layers' w of both
        with frozen(self.D):
            phi_f = self.D.features(self.pack(self.augment(fake, generator)))
            f_f = self.D.score(phi_f, y)
        out = {"loss": g_loss(c.loss, self.top_k(f_f))}
        if c.feature_matching > 0:
            with torch.no_grad():
                phi_r = self.D.features(self.pack(self.augment(real, generator)))
            fm = (phi_f.float().mean(0) - phi_r.float().mean(0)).square().mean()
            out["loss"] = out["loss"] + c.feature_matching * fm
            out["feature_matching"] = fm.detach()
        if c.mode_seeking > 0 and half > 0:
            ratio = mode_seeking_ratio(fake[:half], fake[half:2 * half], z[:half], z[half:2 * half])
            out["loss"] = out["loss"] + c.mode_seeking / (ratio + 1e-5)
            out["ms_ratio"] = ratio.detach()
        return out

    def training_losses(self, batch: Batch, *, generator: torch.Generator | None = None,
                        player: str | None = None) -> dict[str, torch.Tensor]:
        """One player's losses ("d" or "g"); with player=None, both summed (one simultaneous step of each
        player's own gradient, for a single optimizer over all parameters)."""
        if player not in (None, *PLAYERS):
            raise ValueError(f"unknown player {player!r}; valid: d, g")
        x, y = batch.x, batch.y
        if self.cluster_map is not None:
            y = self.cluster_map.assign(x)  # the pseudo-labels of self-conditioning
        else:
            y = y if self.conditional else None
        real = x * 2.0 - 1.0
        if player == "d":
            return self.discriminator_losses(real, y, generator)
        if player == "g":
            return self.generator_losses(real, y, generator)
        d = self.discriminator_losses(real, y, generator)
        g = self.generator_losses(real, y, generator)
        rest = {k: v for k, v in d.items() if k != "loss"}
        return {"loss": d["loss"] + g["loss"], "d_loss": d["loss"].detach(), "g_loss": g["loss"].detach(), **rest}

    # --- sampling --------------------------------------------------------------------------------
    def condition(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
        """G's condition for latents z (n, latent_dim): the checked labels of a conditional model, the
        cluster of z_1 with self-conditioning, else None."""
        if self.cluster_map is not None:
            return self.cluster_map.of_latent(z[:, 0])
        return self.check_labels(labels, z.shape[0]) if self.conditional else None

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, *, truncation: float = 1.0,
                 noise: NoiseMode = "random", generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [0, 1], (n, c, h, w), for latents z (n, latent_dim).

        Args:
            labels: (n,) classes of a conditional model (ignored otherwise).
            truncation: psi in (0, 1]: z-space generators use psi z (z_1 left alone under self-conditioning,
                so no sample changes cluster); the style generator w_avg + psi (w - w_avg).
            noise, generator: the style generator's per-pixel noise ("random", "shared", "none").
        """
        y = self.condition(z, labels)
        if self.has_styles:
            w = self.truncate(self.G.mapping(z, y), truncation)
            return self.synthesize(self.broadcast(w), noise=noise, generator=generator)
        if truncation != 1.0:
            z = z * truncation if self.cluster_map is None else torch.cat([z[:, :1], z[:, 1:] * truncation], 1)
        return ((self.G(z, y).float() + 1.0) / 2.0).clamp(0.0, 1.0)

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None,
               truncation: float | None = None, noise: bool | None = None) -> Samples:
        """n images (n, c, h, w) in [0, 1] with their labels. A conditional model draws every class in
        turn when `cond` is None. `truncation` psi in (0, 1] (default: the config's) pulls z (the style
        generator: w) towards its mean (psi = 1: off), trading diversity for typicality; the style generator draws
        its per-pixel noise unless `noise` is False (default: the config's sample_noise)."""
        psi = self.config.truncation if truncation is None else truncation
        if not 0.0 < psi <= 1.0:
            raise ValueError(f"truncation must be in (0, 1], got {psi}")
        labels = self.labels_for(n, cond)
        if noise is False and not self.has_styles:
            raise ValueError(f"noise=False turns off the style generator's per-pixel noise; this {self.family} "
                             "model has none: leave it out")
        mode = "random" if (self.config.sample_noise if noise is None else noise) else "none"
        return Samples(self.generate(self.latent(n, generator), labels, truncation=psi, noise=mode,
                                     generator=generator), labels)

    # --- the style generator's latents (arch "style") --------------------------------------------
    @property
    def has_styles(self) -> bool:
        """Whether G is the style generator, with per-layer styles ws (n, num_ws, w_dim)."""
        return self.config.arch == "style"

    def style_generator(self) -> StyleGenerator:
        if not self.has_styles:
            raise ValueError(f"per-layer styles need the style generator (arch='style', the stylegan family); "
                             f"this {self.family} model has arch={self.config.arch!r}")
        return self.G

    @property
    def num_ws(self) -> int:
        """How many layers take a style."""
        return self.style_generator().num_ws

    def mapping(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """w = f(z, y), (n, w_dim), for latents z (n, latent_dim); y from labels as in generate()."""
        return self.style_generator().mapping(z, self.condition(z, labels))

    def truncate(self, w: torch.Tensor, psi: float) -> torch.Tensor:
        """w_avg + psi (w - w_avg) (the truncation trick; psi = 1 leaves w unchanged)."""
        return self.style_generator().w_avg.to(w.dtype).lerp(w, psi) if psi != 1.0 else w

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """(n, w_dim) -> (n, num_ws, w_dim): the same style for every layer."""
        return w[:, None].expand(-1, self.num_ws, -1)

    def synthesize(self, ws: torch.Tensor, *, noise: NoiseMode = "random",
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Images in [0, 1], (n, c, h, w), from per-layer styles ws (n, num_ws, w_dim)."""
        if noise not in NOISE_MODES:
            raise ValueError(f"unknown noise mode {noise!r}; valid: {', '.join(NOISE_MODES)}")
        return ((self.style_generator().synthesis(ws, noise, generator).float() + 1.0) / 2.0).clamp(0.0, 1.0)


class DCGAN(GAN):
    """DCGAN: strided convolutions, batch norm, ReLU in G, LeakyReLU in D, tanh output."""

    family: ClassVar[str] = "dcgan"
    Config: ClassVar[type] = DCGANConfig


class CGAN(GAN):
    """Class-conditional GAN: label embedding concatenated to z in G, projection discriminator."""

    family: ClassVar[str] = "cgan"
    Config: ClassVar[type] = CGANConfig


class WGANGP(GAN):
    """WGAN-GP: Wasserstein critic with a gradient penalty and n_critic critic steps per G step."""

    family: ClassVar[str] = "wgan-gp"
    Config: ClassVar[type] = WGANGPConfig


class StyleGAN(GAN):
    """StyleGAN-style generator (mapping network, constant input, modulated convolutions, noise, style
    mixing, truncation) with the GAN families' discriminator: the GAN with arch "style"."""

    family: ClassVar[str] = "stylegan"
    Config: ClassVar[type] = StyleGANConfig


__all__ = ["CGAN", "DCGAN", "GAN", "LOSSES", "WGANGP", "CGANConfig", "DCGANConfig", "GANConfig", "StyleGAN",
           "StyleGANConfig", "WGANGPConfig"]
