"""Super-resolution: `sr` (SRResNet/ESPCN-style, PSNR-oriented: Ledig et al. 2017, Shi et al. 2016) and
`srgan` (its GAN variant: SRGAN, Ledig et al. 2017; ESRGAN, Wang et al. 2018).

Notation: x_lr (b, c, h, w) the low-res source, x (b, c, s h, s w) the high-res target, x_hat = G(x_lr).
    sr      L_G = |x_hat - x|_1 (or squared)
    srgan   L_G = w_pix |x_hat - x| + w_phi E(phi(x_hat) - phi(x))^2 + w_adv L_adv(D(x_hat))
            L_D = the GAN loss of D on x (real) and x_hat (fake), D a DCGAN discriminator (gan/nets.py)
phi is genlab's own classifier of `feature_net` (its first conv blocks; no pretrained VGG exists here),
attached by the training layer (genlab/training/callbacks.py: attach_feature_net), since a model never
imports evaluation code. The scale s is read from the data: target side / source side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec
from genlab.models.base import GenerativeModel, Player, Samples
from genlab.models.gan.losses import Loss, d_loss, d_means, g_loss
from genlab.models.gan.model import frozen
from genlab.models.gan.nets import conv_discriminator
from genlab.models.translation.common import as_source, check_pair_spec
from genlab.models.translation.losses import feature_loss
from genlab.models.translation.nets import SRResNet


@dataclass(frozen=True)
class SRConfig:
    """Options of `sr` (and `srgan`, which changes the defaults of the loss weights).

    Args:
        width: feature channels of the residual network.
        blocks: residual blocks.
        pixel_loss: "l1" or "mse" between output and target.
        pixel_weight: weight of the pixel loss.
        feature_weight: weight of the feature loss on genlab's classifier (0 = none).
        feature_net: the dataset whose genlab classifier gives the features (mnist, fashion-mnist, digits).
        adversarial_weight: weight of the generator's GAN loss (0 = no discriminator: the PSNR model).
        d_channels: widths of the discriminator's stride-2 convolutions.
        loss: the GAN loss (gan/losses.py).
        lr_d: the discriminator's Adam learning rate (the generator uses --train.lr).
        betas: Adam's betas of both players when adversarial.
    """

    width: int = bounded(32, ge=1)
    blocks: int = bounded(4, ge=0)
    pixel_loss: Literal["l1", "mse"] = "l1"
    pixel_weight: float = bounded(1.0, ge=0)
    feature_weight: float = bounded(0.0, ge=0)
    feature_net: str = "mnist"
    adversarial_weight: float = bounded(0.0, ge=0)
    d_channels: tuple[int, ...] = bounded((32, 64), ge=1)
    loss: Loss = "ns"
    lr_d: float = bounded(1e-4, gt=0)
    betas: tuple[float, float] = bounded((0.9, 0.999), ge=0, lt=1)


@dataclass(frozen=True)
class SRGANConfig(SRConfig):
    """`srgan`: `sr` with a feature loss and a discriminator (SRGAN/ESRGAN-style weights)."""

    feature_weight: float = bounded(1.0, ge=0)
    adversarial_weight: float = bounded(1e-2, ge=0)


class SR(GenerativeModel):
    """Single-image super-resolution; `sample(n, cond=low_res)` upscales."""

    family: ClassVar[str] = "sr"
    Config: ClassVar[type] = SRConfig
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image-pair"})

    def __init__(self, config: SRConfig, spec: DataSpec):
        super().__init__(config, spec)
        self.scale = check_pair_spec(self.family, spec, scaled=True)
        c = spec.shape[0]
        self.G = SRResNet(c, self.scale, config.width, config.blocks)
        self.D = conv_discriminator(spec.shape, config.d_channels) if self.adversarial else None
        self._phi: tuple[Callable[[torch.Tensor], torch.Tensor], ...] = ()

    @property
    def adversarial(self) -> bool:
        return self.config.adversarial_weight > 0

    def use_features(self, phi: Callable[[torch.Tensor], torch.Tensor] | None) -> None:
        """Set the fixed feature network phi: images (b, c, h, w) in [0, 1] -> features (kept out of the
        model's parameters and checkpoints: it is genlab's classifier, attached by the training layer)."""
        self._phi = () if phi is None else (phi,)

    def players(self) -> list[Player]:
        if not self.adversarial:
            return super().players()
        betas = tuple(self.config.betas)
        return [Player("d", list(self.D.parameters()), {"lr": self.config.lr_d, "betas": betas}),
                Player("g", list(self.G.parameters()), {"betas": betas})]

    def upscale(self, x_lr: torch.Tensor) -> torch.Tensor:
        """(b, c, h, w) in [0, 1] -> (b, c, s h, s w), unclamped (the loss sees the raw output)."""
        return self.G(x_lr)

    def pixel(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        fn = F.l1_loss if self.config.pixel_loss == "l1" else F.mse_loss
        return fn(x_hat.float(), x.float())

    def generator_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        c = self.config
        x_hat = self.upscale(batch.source)
        out = {"pixel": self.pixel(x_hat, batch.x)}
        loss = c.pixel_weight * out["pixel"]
        if c.feature_weight > 0:
            if not self._phi:
                raise ValueError(f"the {self.family} feature loss needs genlab's {c.feature_net} classifier: train "
                                 "through genlab.train (which attaches it) or call model.use_features(phi); or "
                                 "set feature_weight 0")
            out["feature"] = feature_loss(self._phi[0], x_hat.clamp(0, 1), batch.x)
            loss = loss + c.feature_weight * out["feature"]
        if self.adversarial:
            with frozen(self.D):
                out["adversarial"] = g_loss(c.loss, self.D(x_hat * 2 - 1))
            loss = loss + c.adversarial_weight * out["adversarial"]
        out["psnr"] = -10 * torch.log10(F.mse_loss(x_hat.detach().float().clamp(0, 1), batch.x.float()) + 1e-10)
        return {"loss": loss, **{k: v.detach() for k, v in out.items()}}

    def discriminator_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            fake = self.upscale(batch.source)
        f_real, f_fake = self.D(batch.x * 2 - 1), self.D(fake * 2 - 1)
        return {"loss": d_loss(self.config.loss, f_real, f_fake), **d_means(self.config.loss, f_real, f_fake)}

    def training_losses(self, batch: Batch, *, generator: torch.Generator | None = None,
                        player: str | None = None) -> dict[str, torch.Tensor]:
        if player == "d":
            return self.discriminator_losses(batch)
        g = self.generator_losses(batch)
        if player == "g" or not self.adversarial:
            return g
        d = self.discriminator_losses(batch)
        return {**g, "loss": g["loss"] + d["loss"], "d_loss": d["loss"].detach()}

    def progress_keys(self) -> list[str]:
        return ["g/psnr", "g/pixel", "d/loss"] if self.adversarial else ["psnr", "pixel"]

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None) -> Samples:
        """Upscale the low-res images `cond` (n, c, h, w) in [0, 1] (any h, w: the network is convolutional)."""
        x_lr = as_source(self, cond, n, any_size=True)
        return Samples(self.upscale(x_lr).clamp(0, 1))


class SRGAN(SR):
    family: ClassVar[str] = "srgan"
    Config: ClassVar[type] = SRGANConfig


__all__ = ["SR", "SRGAN", "SRConfig", "SRGANConfig"]
