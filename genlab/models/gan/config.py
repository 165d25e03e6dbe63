"""Options of the GAN families: one `GANConfig`, and per family a subclass that only changes defaults.

`arch` picks the generator and, with it, the discriminator: "mlp" (MLP G and D), "conv" (DCGAN G and
D) or "style" (the style-based generator of stylegan.py with the DCGAN discriminator). Every other
option works with every arch; an arch ignores the sizes of the others (`g_hidden` only shapes the
MLP G, `g_channels` only the style G, and so on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlab.config import bounded
from genlab.models.gan.losses import Loss, parse_policy
from genlab.models.gan.nets import Norm

Arch = Literal["mlp", "conv", "style"]
ARCHS = ("mlp", "conv", "style")
Watchdog = Literal["off", "warn", "rollback"]
WATCHDOGS = ("off", "warn", "rollback")


@dataclass(frozen=True)
class GANConfig:
    """Options of `gan`, the classic MLP GAN (100-d z -> 128 -> 256 -> 784 tanh; D 784 -> 128 -> 64 -> 1).

    Args:
        arch: the generator, and with it the discriminator: "mlp" (g_hidden, d_hidden), "conv" (DCGAN:
            channels, g_norm, d_norm) or "style" (StyleGAN2-style G: w_dim, mapping_layers, g_channels,
            mixing_prob, w_avg_beta; the DCGAN discriminator: channels, d_norm).
        latent_dim: size of z.
        g_hidden: MLP generator hidden sizes.
        d_hidden: MLP discriminator hidden sizes.
        channels: conv channels per stride-2 layer, high to low resolution (D order; the conv G mirrors it).
        g_norm: normalization in the conv generator.
        d_norm: normalization in the conv discriminator ("none" is needed for gp and r1).
        w_dim: size of the style generator's style vector w.
        mapping_layers: layers of the style generator's mapping MLP (z, y) -> w.
        g_channels: style generator channels per resolution, low to high (28x28: 7, 14, 28; 32x32: 4..32).
        mixing_prob: probability of style mixing per training batch (style generator).
        w_avg_beta: decay of the running mean of w that the truncation trick pulls towards (style generator).
        truncation: the psi that sample() uses when not given one, in (0, 1]: the truncation trick pulls z
            (the style generator: w) towards its mean, trading variety for typical, cleaner samples
            (1 = off; BigGAN and StyleGAN show pictures at 0.5-0.7).
        sample_noise: whether sample() draws the style generator's per-pixel noise (False: zero noise inputs, the
            image its styles alone give: less grain); training always draws it. The style generator only.
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
        embed_dim: size of the generator's label embedding (concatenated to z; the style generator's
            mapping network takes it as StyleGAN2-ADA takes its condition).
        watchdog: on divergence or mode collapse: "warn", "rollback" (to the last healthy weights, with
            half the learning rates), or "off".
        patience: unhealthy checks in a row before the watchdog acts.
        coverage_every: steps between mode-coverage checks with the genlab classifier (0 = off); the
            training layer attaches the check (genlab/training/callbacks.py).
        coverage_samples: samples per coverage check.
    """

    arch: Arch = "mlp"
    latent_dim: int = bounded(100, ge=1)
    g_hidden: tuple[int, ...] = bounded((128, 256), ge=1)
    d_hidden: tuple[int, ...] = bounded((128, 64), ge=1)
    channels: tuple[int, ...] = bounded((64, 128), ge=1)
    g_norm: Norm = "batch"
    d_norm: Norm = "batch"
    w_dim: int = bounded(64, ge=1)
    mapping_layers: int = bounded(3, ge=1)
    g_channels: tuple[int, ...] = bounded((64, 32, 16), ge=1)
    mixing_prob: float = bounded(0.5, ge=0, le=1)
    w_avg_beta: float = bounded(0.995, ge=0, lt=1)
    truncation: float = bounded(1.0, gt=0, le=1)
    sample_noise: bool = True
    loss: Loss = "ns"
    spectral_norm: bool = False
    mbstd: int = bounded(0, ge=0)
    pack: int = bounded(1, ge=1)
    gp: float = bounded(0.0, ge=0)
    r1: float = bounded(0.0, ge=0)
    reg_every: int = bounded(1, ge=1)
    n_critic: int = bounded(1, ge=1)
    diffaug: str = ""
    mode_seeking: float = bounded(0.0, ge=0)
    feature_matching: float = bounded(0.0, ge=0)
    top_k: float = bounded(1.0, gt=0, le=1)
    top_k_ramp: int = bounded(2000, ge=0)
    lr_d: float = bounded(2e-4, gt=0)
    lr_g: float = bounded(2e-4, gt=0)
    betas: tuple[float, float] = bounded((0.5, 0.999), ge=0, lt=1)
    conditional: bool = False
    clusters: int = bounded(0, ge=0)
    embed_dim: int = bounded(32, ge=1)
    watchdog: Watchdog = "warn"
    patience: int = bounded(3, ge=1)
    coverage_every: int = bounded(500, ge=0)
    coverage_samples: int = bounded(1000, ge=1)


@dataclass(frozen=True)
class DCGANConfig(GANConfig):
    """Options of `dcgan` (Radford et al. 2016): strided convolutions, batch norm, Adam 2e-4 / beta1 0.5."""

    arch: Arch = "conv"


@dataclass(frozen=True)
class CGANConfig(GANConfig):
    """Options of `cgan`: a class-conditional DCGAN with a projection discriminator, and the mode-seeking
    term on by default (without it, G learned to ignore z and drew one image per class on MNIST). Its
    weight trades class fidelity for variety: on MNIST at 10 CPU-minutes, 0.25 / 0.35 / 0.5 / 1 gave
    97.7 / 95.7 / 94.8 / 93.7% of samples classified as asked, and recall 0.16 / 0.39 / 0.56 / 0.65
    (docs/GANS.md); 0.35 is the largest weight tried that keeps 95%, so the most variety at that fidelity."""

    arch: Arch = "conv"
    conditional: bool = True
    mode_seeking: float = 0.35


@dataclass(frozen=True)
class WGANGPConfig(GANConfig):
    """Options of `wgan-gp` (Gulrajani et al. 2017): critic without batch norm, lambda = 10, 5 critic
    steps per generator step, Adam 1e-4, betas (0.5, 0.9)."""

    arch: Arch = "conv"
    d_norm: Norm = "none"
    loss: Loss = "wgan"
    gp: float = 10.0
    n_critic: int = 5
    lr_d: float = 1e-4
    lr_g: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)


@dataclass(frozen=True)
class StyleGANConfig(GANConfig):
    """Options of `stylegan` (Karras et al. 2019, 2020): the style generator, a DCGAN discriminator without
    batch norm, the non-saturating loss with an R1 penalty (gamma 1), z and w of 64 dimensions.

    Before the style generator became an `arch`, this family's `arch` named only its discriminator, and
    runs saved then have arch "conv" in config.json: here "conv" is read as "style" (what those runs
    trained). arch "mlp" (an MLP discriminator under the style generator) is refused: it is gone."""

    arch: Arch = "style"
    latent_dim: int = 64
    channels: tuple[int, ...] = (32, 64)
    d_norm: Norm = "none"
    r1: float = 1.0

    def __post_init__(self):
        if self.arch == "conv":
            object.__setattr__(self, "arch", "style")
        elif self.arch == "mlp":
            raise ValueError("arch='mlp' does not combine with the stylegan family: arch picks the generator, and "
                             "this family is the style generator (with a conv discriminator); use arch='style', or "
                             "the gan family for an MLP GAN")


def check_gan_config(c: GANConfig, num_classes: int) -> None:
    """ValueError naming the problem for any bad option."""
    parse_policy(c.diffaug)  # a comma-separated list of DiffAugment ops; the rest the validator checked
    if c.conditional and c.clusters:
        raise ValueError("clusters (self-conditioning) is for unconditional models; a conditional GAN already "
                         "conditions on the labels: set clusters=0")
    if c.clusters == 1:
        raise ValueError("clusters=1 conditions on nothing: use clusters >= 2, or 0 for off")
    if (c.gp > 0 or c.r1 > 0) and c.arch != "mlp" and c.d_norm == "batch":
        raise ValueError("gp and r1 penalize per-image input gradients, which batch norm in the discriminator "
                         "couples across the batch: set d_norm='none' (--d-norm none)")
    if c.conditional and c.pack > 1:
        raise ValueError("pack > 1 (PacGAN) needs an unconditional model: a pack mixes samples of different "
                         "classes, which the projection discriminator cannot score; set pack=1")
    if c.conditional and num_classes < 2:
        raise ValueError("a conditional GAN needs labelled data with at least 2 classes; train on a labelled "
                         "dataset, or an unconditional GAN (dcgan: cgan's networks without labels; or "
                         "conditional=False)")
    if c.arch != "mlp" and not c.channels:
        raise ValueError("channels must list at least one conv layer width")
    if not c.sample_noise and c.arch != "style":
        raise ValueError(f"sample_noise=False turns off the style generator's per-pixel noise; arch={c.arch!r} has "
                         "none: leave sample_noise on (or use the stylegan family)")
    if c.arch == "style" and not c.g_channels:
        raise ValueError("g_channels must list at least one width (one per resolution of the style generator)")
