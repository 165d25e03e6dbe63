"""`pix2pix`: paired image-to-image translation with a conditional GAN (Isola et al. 2017, "Image-to-Image
Translation with Conditional Adversarial Networks").

Notation: s the source image, x the target, G(s) the translation; D(s, x) a PatchGAN scoring every
patch of the pair (source and image concatenated), gan/nets.py patch_discriminator.
    L_D = the GAN loss of D on (s, x) (real) and (s, G(s)) (fake), averaged over patches
    L_G = L_adv(D(s, G(s))) + lambda |G(s) - x|_1          (eq. 4; lambda = 100)
G is genlab's diffusion U-Net at a fixed timestep (translation/nets.py UNetTranslator). Unlike the paper,
G has no dropout noise at test time: translations are deterministic. With `augment`, both images of a
pair get the same random flip and shift each step (genlab/data/pairs.py augment_pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec
from genlab.data.pairs import augment_pairs
from genlab.models.base import GenerativeModel, Player, Samples
from genlab.models.gan.losses import Loss, d_loss, d_means, g_loss
from genlab.models.gan.model import frozen
from genlab.models.gan.nets import patch_discriminator
from genlab.models.translation.common import as_source, check_pair_spec
from genlab.models.translation.losses import patch_scores
from genlab.models.translation.nets import UNetTranslator


@dataclass(frozen=True)
class Pix2PixConfig:
    """Options of `pix2pix`.

    Args:
        channels: U-Net widths per level (the generator).
        num_res_blocks: residual blocks per U-Net level.
        attention_levels: U-Net levels with self-attention.
        dropout: dropout in the U-Net's residual blocks (training only).
        d_channels: widths of the PatchGAN's stride-2 convolutions.
        loss: the GAN loss (gan/losses.py).
        l1_weight: lambda, the weight of |G(s) - x|_1.
        lr_d, lr_g: Adam learning rates of D and G; betas: of both.
        augment: the same random flip and shift of source and target each step.
    """

    channels: tuple[int, ...] = bounded((32, 64, 64), ge=1)
    num_res_blocks: int = bounded(1, ge=1)
    attention_levels: tuple[int, ...] = ()
    dropout: float = bounded(0.0, ge=0, lt=1)
    d_channels: tuple[int, ...] = bounded((32, 64), ge=1)
    loss: Loss = "ns"
    l1_weight: float = bounded(100.0, ge=0)
    lr_d: float = bounded(2e-4, gt=0)
    lr_g: float = bounded(2e-4, gt=0)
    betas: tuple[float, float] = bounded((0.5, 0.999), ge=0, lt=1)
    augment: bool = False


def unet_translator(config: Any, c_in: int, spec: DataSpec) -> UNetTranslator:
    return UNetTranslator(c_in, spec.shape[0], tuple(spec.shape[1:]), tuple(config.channels),
                          config.num_res_blocks, tuple(config.attention_levels), config.dropout)


class Pix2Pix(GenerativeModel):
    """Paired translation source -> target; `sample(n, cond=sources)` translates."""

    family: ClassVar[str] = "pix2pix"
    Config: ClassVar[type] = Pix2PixConfig
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image-pair"})

    def __init__(self, config: Pix2PixConfig, spec: DataSpec):
        super().__init__(config, spec)
        check_pair_spec(self.family, spec)
        c_src = spec.source_shape[0]
        self.G = unet_translator(config, c_src, spec)
        self.D = patch_discriminator(c_src + spec.shape[0], tuple(config.d_channels))

    def players(self) -> list[Player]:
        c = self.config
        return [Player("d", list(self.D.parameters()), {"lr": c.lr_d, "betas": tuple(c.betas)}),
                Player("g", list(self.G.parameters()), {"lr": c.lr_g, "betas": tuple(c.betas)})]

    def translate(self, source: torch.Tensor) -> torch.Tensor:
        """(b, c', h', w') sources in [0, 1] -> (b, c, h, w) translations in [0, 1]."""
        return self.G(source)

    def score(self, source: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """D's patch scores of (source, image) pairs, flattened: (b h'' w'',)."""
        s = F.interpolate(source, size=x.shape[-2:], mode="bilinear") if source.shape[-2:] != x.shape[-2:] else source
        return patch_scores(self.D, torch.cat([s, x], 1) * 2 - 1)

    def training_losses(self, batch: Batch, *, generator: torch.Generator | None = None,
                        player: str | None = None) -> dict[str, torch.Tensor]:
        c = self.config
        source, x = batch.source, batch.x
        if c.augment:
            source, x = augment_pairs(source, x, generator)
        out: dict[str, torch.Tensor] = {}
        if player in (None, "d"):
            with torch.no_grad():
                fake = self.translate(source)
            f_real, f_fake = self.score(source, x), self.score(source, fake)
            d = {"loss": d_loss(c.loss, f_real, f_fake), **d_means(c.loss, f_real, f_fake)}
            if player == "d":
                return d
            out["d_loss"] = d["loss"]
        fake = self.translate(source)
        with frozen(self.D):
            adv = g_loss(c.loss, self.score(source, fake))
        l1 = F.l1_loss(fake.float(), x.float())
        loss = adv + c.l1_weight * l1
        if player is None:
            loss = loss + out["d_loss"]
        return {"loss": loss, "adversarial": adv.detach(), "l1": l1.detach(),
                **{k: v.detach() for k, v in out.items()}}

    def progress_keys(self) -> list[str]:
        return ["d/loss", "g/l1", "g/adversarial", "d/d_real", "d/d_fake"]

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None) -> Samples:
        """Translate the sources `cond` (n, c', h', w') in [0, 1]."""
        return Samples(self.translate(as_source(self, cond, n)))


__all__ = ["Pix2Pix", "Pix2PixConfig", "unet_translator"]
