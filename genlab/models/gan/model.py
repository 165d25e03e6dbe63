"""Generative adversarial networks: `gan` (MLP, Goodfellow et al. 2014), `dcgan` (Radford et al. 2016),
`cgan` (class-conditional: Mirza & Osindero 2014, projection D of Miyato & Koyama 2018) and `wgan-gp`
(Gulrajani et al. 2017). One model class; the families differ only in their default options.

Notation: G maps z ~ N(0, I) (and a label y) to an image in [-1, 1]; D maps an image to a score f.
Training images in [0, 1] are mapped to [-1, 1] (x * 2 - 1). The model has two players, trained by
the trainer in the order of `players()`: "d" minimizes L_D (plus gamma * GP or gamma / 2 * R1), then
"g" minimizes L_G; with n_critic = k, "g" steps only on every k-th trainer step (so `--train.steps`
counts discriminator steps). Losses, penalties and DiffAugment live in losses.py; networks in
nets.py; diagnostics (mode coverage, divergence watchdog) in watch.py; the k-means clusters
of self-conditioning (`clusters`) in clusters.py.

Every player has its own Adam settings (`lr_d`, `lr_g`, `betas`; DCGAN's lr 2e-4, beta1 0.5 by
default); they replace `--train.lr` and `--train.betas` for GANs. For an EMA of the generator's
weights use `--train.ema-decay 0.999`: sampling then uses the averaged generator.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from genlab.data.base import Batch, DataSpec
from genlab.models.base import GenerativeModel, Player, Samples
from genlab.models.gan.clusters import ClusterMap
from genlab.models.gan.losses import (
    LOSSES,
    Loss,
    check_loss,
    d_loss,
    d_means,
    diff_augment,
    g_loss,
    gradient_penalty,
    parse_policy,
    r1_penalty,
)
from genlab.models.gan.nets import (
    NORMS,
    Norm,
    conv_discriminator,
    conv_generator,
    mlp_discriminator,
    mlp_generator,
)

Watchdog = Literal["off", "warn", "rollback"]
WATCHDOGS = ("off", "warn", "rollback")
PLAYERS = ("d", "g")


@dataclass(frozen=True)
class GANConfig:
    """Options of `gan`, the classic MLP GAN (100-d z -> 128 -> 256 -> 784 tanh; D 784 -> 128 -> 64 -> 1).

    Args:
        arch: "mlp" (g_hidden, d_hidden) or "conv" (DCGAN: channels, g_norm, d_norm).
        latent_dim: size of z.
        g_hidden: MLP generator hidden sizes.
        d_hidden: MLP discriminator hidden sizes.
        channels: conv channels per stride-2 layer, high to low resolution (D order; G mirrors it).
        g_norm: normalization in the conv generator.
        d_norm: normalization in the conv discriminator ("none" is needed for gp and r1).
        loss: "ns" non-saturating, "minimax" (saturating), "hinge", or "wgan" (use with gp > 0).
        spectral_norm: spectral normalization on every discriminator layer.
        mbstd: minibatch standard deviation feature in D over groups of this many samples (0 = off).
        pack: D judges this many samples at once, stacked along channels (PacGAN, Lin et al. 2018): a
            pack of same-mode fakes is easy to tell from a pack of varied reals, which penalizes mode
            collapse and imbalance (1 = off; unconditional models only).
        gp: weight of the WGAN-GP gradient penalty (Gulrajani et al.: 10; 0 = off).
        r1: gamma of the R1 penalty on real images (0 = off).
        reg_every: compute gp and r1 only on every reg_every-th discriminator step, weighted by reg_every
            (lazy regularization, Karras et al. 2020): the penalties' double backward is about half of a
            penalized D step, so this buys more steps per CPU-second (1 = every step).
        n_critic: discriminator steps per generator step.
        diffaug: DiffAugment ops for D's inputs, comma-separated: color, translation, cutout ("" = off).
        mode_seeking: weight of the mode-seeking term (Mao et al. 2019) in G's loss, lambda / (d_x / d_z):
            d_x and d_z are the mean absolute differences between two samples of the same class and
            between their latents; it punishes a G that ignores z (0 = off).
        feature_matching: weight of the feature-matching term in G's loss (Salimans et al. 2016): the
            mean squared difference between the batch means of D's last-layer features phi on real
            images and on G's samples. It asks G to match the real batch's statistics, not just fool D
            sample by sample, so a G that over-draws some classes and under-draws others pays for it
            (0 = off).
        top_k: the fraction of each batch's fakes that G learns from: those D rates most real (top-k
            training, Sinha et al. 2020); the fraction falls linearly from 1 to top_k over the first
            top_k_ramp trainer steps, as D's early scores say little (1 = off: every fake counts).
        top_k_ramp: trainer steps over which the top-k fraction falls from 1 to top_k.
        lr_d: discriminator Adam learning rate.
        lr_g: generator Adam learning rate.
        betas: Adam (beta1, beta2) for both players.
        conditional: class-conditional G (label embedding) and projection D (needs labelled data).
        clusters: self-conditioning (Liu et al. 2020; clusters.py): before training, k-means splits the
            training images (their top 32 principal components) into this many clusters; G and D are
            conditioned on the cluster as a cgan is on the class, and a sample's cluster is read off its
            first latent coordinate with the cluster's share of the data, so the model stays unconditional
            (no labels needed) but cannot drift far from the data's mode proportions (0 = off).
        embed_dim: size of the generator's label embedding.
        watchdog: on divergence or mode collapse: "warn", "rollback" (to the last healthy weights, with
            half the learning rates), or "off".
        patience: unhealthy checks in a row before the watchdog acts.
        coverage_every: steps between mode-coverage checks with the genlab classifier (0 = off).
        coverage_samples: samples per coverage check.
    """

    arch: Literal["mlp", "conv"] = "mlp"
    latent_dim: int = 100
    g_hidden: tuple[int, ...] = (128, 256)
    d_hidden: tuple[int, ...] = (128, 64)
    channels: tuple[int, ...] = (64, 128)
    g_norm: Norm = "batch"
    d_norm: Norm = "batch"
    loss: Loss = "ns"
    spectral_norm: bool = False
    mbstd: int = 0
    pack: int = 1
    gp: float = 0.0
    r1: float = 0.0
    reg_every: int = 1
    n_critic: int = 1
    diffaug: str = ""
    mode_seeking: float = 0.0
    feature_matching: float = 0.0
    top_k: float = 1.0
    top_k_ramp: int = 2000
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    conditional: bool = False
    clusters: int = 0
    embed_dim: int = 32
    watchdog: Watchdog = "warn"
    patience: int = 3
    coverage_every: int = 500
    coverage_samples: int = 1000


@dataclass(frozen=True)
class DCGANConfig(GANConfig):
    """Options of `dcgan` (Radford et al. 2016): strided convolutions, batch norm, Adam 2e-4 / beta1 0.5."""

    arch: Literal["mlp", "conv"] = "conv"


@dataclass(frozen=True)
class CGANConfig(GANConfig):
    """Options of `cgan`: a class-conditional DCGAN with a projection discriminator, and the mode-seeking
    term on by default (without it, G learned to ignore z and drew one image per class on MNIST). Its
    weight trades class fidelity for variety: on MNIST at 10 CPU-minutes, 0.25 / 0.35 / 0.5 / 1 gave
    97.7 / 95.7 / 94.8 / 93.7% of samples classified as asked, and recall 0.16 / 0.39 / 0.56 / 0.65
    (docs/GANS.md); 0.35 is the largest weight tried that keeps 95%, so the most variety at that fidelity."""

    arch: Literal["mlp", "conv"] = "conv"
    conditional: bool = True
    mode_seeking: float = 0.35


@dataclass(frozen=True)
class WGANGPConfig(GANConfig):
    """Options of `wgan-gp` (Gulrajani et al. 2017): critic without batch norm, lambda = 10, 5 critic
    steps per generator step, Adam 1e-4, betas (0.5, 0.9)."""

    arch: Literal["mlp", "conv"] = "conv"
    d_norm: Norm = "none"
    loss: Loss = "wgan"
    gp: float = 10.0
    n_critic: int = 5
    lr_d: float = 1e-4
    lr_g: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)


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


def check_gan_config(c: GANConfig, shape: tuple[int, int, int], num_classes: int) -> None:
    """ValueError naming the problem for any bad option."""
    check_loss(c.loss)
    parse_policy(c.diffaug)
    if c.arch not in ("mlp", "conv"):
        raise ValueError(f"unknown arch {c.arch!r}; valid: mlp, conv")
    for name in ("g_norm", "d_norm"):
        if getattr(c, name) not in NORMS:
            raise ValueError(f"unknown {name} {getattr(c, name)!r}; valid: {', '.join(NORMS)}")
    if c.watchdog not in WATCHDOGS:
        raise ValueError(f"unknown watchdog {c.watchdog!r}; valid: {', '.join(WATCHDOGS)}")
    for name in ("latent_dim", "n_critic", "reg_every", "pack", "patience", "embed_dim", "coverage_samples"):
        if getattr(c, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(c, name)}")
    if not 0.0 < c.top_k <= 1.0:
        raise ValueError(f"top_k is the fraction of fakes G learns from, in (0, 1]; got {c.top_k}")
    if c.conditional and c.clusters:
        raise ValueError("clusters (self-conditioning) is for unconditional models; a conditional GAN already "
                         "conditions on the labels: set clusters=0")
    if c.clusters == 1:
        raise ValueError("clusters=1 conditions on nothing: use clusters >= 2, or 0 for off")
    for name in ("gp", "r1", "coverage_every", "mbstd", "mode_seeking", "top_k_ramp",
                 "feature_matching", "clusters"):
        if getattr(c, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(c, name)}")
    if c.lr_d <= 0 or c.lr_g <= 0:
        raise ValueError(f"lr_d and lr_g must be > 0, got {c.lr_d}, {c.lr_g}")
    if (c.gp > 0 or c.r1 > 0) and c.arch == "conv" and c.d_norm == "batch":
        raise ValueError("gp and r1 penalize per-image input gradients, which batch norm in the discriminator "
                         "couples across the batch: set d_norm='none' (--d-norm none)")
    if c.conditional and c.pack > 1:
        raise ValueError("pack > 1 (PacGAN) needs an unconditional model: a pack mixes samples of different "
                         "classes, which the projection discriminator cannot score; set pack=1")
    if c.conditional and num_classes < 2:
        raise ValueError("a conditional GAN needs labelled data with at least 2 classes; train on a labelled "
                         "dataset or set conditional=False")
    if c.arch == "conv" and not c.channels:
        raise ValueError("channels must list at least one conv layer width")


class GAN(GenerativeModel):
    """A two-player GAN; the family's defaults pick the networks and the loss."""

    family: ClassVar[str] = "gan"
    Config: ClassVar[type] = GANConfig

    def __init__(self, config: GANConfig, spec: DataSpec):
        super().__init__(config, spec)
        num_classes = self.num_classes
        check_gan_config(config, self.shape, num_classes)
        self.policy = parse_policy(config.diffaug)
        self.cluster_map = ClusterMap(config.clusters, self.shape) if config.clusters else None
        k = num_classes if config.conditional else config.clusters
        self.G = self.build_generator(k)
        self.D = self.build_discriminator(k)

    def build_generator(self, k: int) -> nn.Module:
        c = self.config
        if c.arch == "mlp":
            return mlp_generator(self.shape, c.latent_dim, c.g_hidden, k, c.embed_dim)
        return conv_generator(self.shape, c.latent_dim, c.channels, c.g_norm, k, c.embed_dim)

    def build_discriminator(self, k: int) -> nn.Module:
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

    def progress_keys(self) -> list[str]:
        keys = ["d/loss", "g/loss", "d/d_real", "d/d_fake"]
        if self.config.loss == "wgan":
            keys.append("d/wasserstein")
        return keys + ["d/grad_norm", "g/grad_norm", "coverage", "coverage_kl"]

    def train_callbacks(self) -> list:
        from genlab.models.gan.watch import GANMonitor

        return [GANMonitor(self.config, self.family)]

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

    def fake(self, n: int, y: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor:
        """n generated training images in [-1, 1], (n, c, h, w)."""
        return self.G(self.latent_given(n, y, generator), y)

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
            fake = self.fake(real.shape[0], y, generator)
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
        if c.mode_seeking > 0 and half > 0:  # pairs (i, i + half) share a label: compare their images
            if y is not None:
                y = torch.cat([y[:half], y[:half], y[2 * half:]])
            z = self.latent_given(n, y, generator)
            fake = self.G(z, y)
        else:  # fake(), which a family may override (stylegan: style mixing, the running mean of w)
            fake = self.fake(n, y, generator)
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
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images in [0, 1], (n, c, h, w), for latents z (n, latent_dim)."""
        labels = self.check_labels(labels, z.shape[0]) if self.conditional else None
        if self.cluster_map is not None:
            labels = self.cluster_map.of_latent(z[:, 0])
        return ((self.G(z, labels).float() + 1.0) / 2.0).clamp(0.0, 1.0)

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None,
               truncation: float = 1.0) -> Samples:
        """n images (n, c, h, w) in [0, 1] with their labels. A conditional model draws every class in
        turn when `cond` is None. `truncation` psi in (0, 1] scales z towards its mean (psi = 1: off),
        trading diversity for typicality."""
        if not 0.0 < truncation <= 1.0:
            raise ValueError(f"truncation must be in (0, 1], got {truncation}")
        labels = self.labels_for(n, cond)
        z = self.latent(n, generator)
        if self.cluster_map is None:
            z = z * truncation
        else:  # truncation must not move a sample to another cluster: z_1 is left alone
            z = torch.cat([z[:, :1], z[:, 1:] * truncation], dim=1)
        return Samples(self.generate(z, labels), labels)


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


__all__ = ["CGAN", "DCGAN", "GAN", "LOSSES", "WGANGP", "CGANConfig", "DCGANConfig", "GANConfig", "WGANGPConfig"]
