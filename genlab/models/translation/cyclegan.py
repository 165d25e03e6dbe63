"""`cyclegan`: unpaired translation between two domains with cycle consistency (Zhu et al. 2017,
"Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks").

Notation: a, b batches of domains A (the data's sources) and B (its targets), unaligned; G: A -> B and
F: B -> A two U-Net translators (translation/nets.py); D_B scores images of B, D_A images of A, both
PatchGANs (gan/nets.py).
    L_D = GAN loss of D_B on b vs G(a) + GAN loss of D_A on a vs F(b)
    L_G = L_adv(D_B(G(a))) + L_adv(D_A(F(b))) + lambda_cyc L_cyc + lambda_id L_id   (eq. 3; sec. 5.2)
L_cyc and L_id are in translation/losses.py (lambda_cyc = 10, lambda_id = 0.5 lambda_cyc as in the paper).
The players are "d" (both discriminators) and "g" (both generators).
`sample(n, cond=a)` translates A -> B; `sample(..., direction="ba")` translates B -> A.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec
from genlab.models.base import GenerativeModel, Player, Samples
from genlab.models.gan.losses import Loss, d_loss, g_loss
from genlab.models.gan.model import frozen
from genlab.models.gan.nets import patch_discriminator
from genlab.models.translation.common import as_source, check_pair_spec
from genlab.models.translation.losses import cycle_loss, identity_loss, patch_scores
from genlab.models.translation.pix2pix import unet_translator

Direction = Literal["ab", "ba"]


@dataclass(frozen=True)
class CycleGANConfig:
    """Options of `cyclegan`.

    Args:
        channels, num_res_blocks, attention_levels, dropout: each generator's U-Net (as pix2pix).
        d_channels: widths of each PatchGAN's stride-2 convolutions.
        loss: the GAN loss (gan/losses.py).
        cycle_weight: lambda_cyc.
        identity_weight: lambda_id (0 = off).
        lr_d, lr_g, betas: the players' Adam settings.
    """

    channels: tuple[int, ...] = bounded((32, 64, 64), ge=1)
    num_res_blocks: int = bounded(1, ge=1)
    attention_levels: tuple[int, ...] = ()
    dropout: float = bounded(0.0, ge=0, lt=1)
    d_channels: tuple[int, ...] = bounded((32, 64), ge=1)
    loss: Loss = "ns"
    cycle_weight: float = bounded(10.0, ge=0)
    identity_weight: float = bounded(5.0, ge=0)
    lr_d: float = bounded(2e-4, gt=0)
    lr_g: float = bounded(2e-4, gt=0)
    betas: tuple[float, float] = bounded((0.5, 0.999), ge=0, lt=1)


class CycleGAN(GenerativeModel):
    """Two domains of one image shape (the pairs' sources = A, targets = B, unaligned)."""

    family: ClassVar[str] = "cyclegan"
    Config: ClassVar[type] = CycleGANConfig
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image-pair"})

    def __init__(self, config: CycleGANConfig, spec: DataSpec):
        super().__init__(config, spec)
        check_pair_spec(self.family, spec, same=True)
        c = spec.shape[0]
        self.G = unet_translator(config, c, spec)  # A -> B
        self.F = unet_translator(config, c, spec)  # B -> A
        self.D_A = patch_discriminator(c, tuple(config.d_channels))
        self.D_B = patch_discriminator(c, tuple(config.d_channels))

    def players(self) -> list[Player]:
        c = self.config
        return [Player("d", [*self.D_A.parameters(), *self.D_B.parameters()], {"lr": c.lr_d, "betas": tuple(c.betas)}),
                Player("g", [*self.G.parameters(), *self.F.parameters()], {"lr": c.lr_g, "betas": tuple(c.betas)})]

    def discriminator_losses(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = self.config.loss
        with torch.no_grad():
            fake_b, fake_a = self.G(a), self.F(b)
        d_b = d_loss(loss, patch_scores(self.D_B, b * 2 - 1), patch_scores(self.D_B, fake_b * 2 - 1))
        d_a = d_loss(loss, patch_scores(self.D_A, a * 2 - 1), patch_scores(self.D_A, fake_a * 2 - 1))
        return {"loss": d_a + d_b, "d_a": d_a.detach(), "d_b": d_b.detach()}

    def generator_losses(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        fake_b, fake_a = self.G(a), self.F(b)
        with frozen(self.D_A), frozen(self.D_B):
            adv = g_loss(c.loss, patch_scores(self.D_B, fake_b * 2 - 1)) + \
                g_loss(c.loss, patch_scores(self.D_A, fake_a * 2 - 1))
        cyc = cycle_loss(self.G, self.F, a, b, fake_b=fake_b, fake_a=fake_a)
        loss = adv + c.cycle_weight * cyc
        out = {"adversarial": adv.detach(), "cycle": cyc.detach()}
        if c.identity_weight > 0:
            idt = identity_loss(self.G, self.F, a, b)
            loss = loss + c.identity_weight * idt
            out["identity"] = idt.detach()
        return {"loss": loss, **out}

    def training_losses(self, batch: Batch, *, generator: torch.Generator | None = None,
                        player: str | None = None) -> dict[str, torch.Tensor]:
        a, b = batch.source, batch.x
        if player == "d":
            return self.discriminator_losses(a, b)
        g = self.generator_losses(a, b)
        if player == "g":
            return g
        d = self.discriminator_losses(a, b)
        return {**g, "loss": g["loss"] + d["loss"], "d_loss": d["loss"].detach()}

    def progress_keys(self) -> list[str]:
        return ["d/loss", "g/adversarial", "g/cycle", "g/identity"]

    def translate(self, x: torch.Tensor, direction: Direction = "ab") -> torch.Tensor:
        """A -> B (G) or B -> A (F), (b, c, h, w) in [0, 1]."""
        if direction not in ("ab", "ba"):
            raise ValueError(f"unknown direction {direction!r}; valid: ab (A -> B), ba (B -> A)")
        return (self.G if direction == "ab" else self.F)(x)

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None,
               direction: Direction = "ab") -> Samples:
        """Translate the images `cond` (n, c, h, w) of domain A to B (direction "ab") or of B to A ("ba")."""
        return Samples(self.translate(as_source(self, cond, n), direction))


__all__ = ["CycleGAN", "CycleGANConfig"]
