"""The `ldm` family: latent diffusion (Rombach et al. 2022) in the code space of a trained genlab
autoencoder or VAE run (`--autoencoder RUN`), decoded back to images.

Notation: z = E(x) the code (a VAE's posterior mean mu); z_0 = (z - m) / s standardized per dimension
with the mean m and std s of the first training batch (Rombach et al. scale by one std from the first
batch; these are kept in the checkpoint); diffusion runs on z_0 exactly as in `ddpm`; a sample is
D(s * z_0 + m). Vector codes (b, d) use a residual MLP denoiser; spatial codes (b, c, h, w) a U-Net.

The autoencoder is frozen (not trained) but is part of this model: its family and options are stored in
the ldm's config (`autoencoder_config`, filled in from the `--autoencoder RUN` folder when training
starts) and its weights in the ldm's checkpoints, so an ldm run survives moving or deleting the
autoencoder's folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import bounded, from_dict, validate
from genlab.data.base import DataSpec
from genlab.models.base import Latent, ProgressHook, Samples, family_of
from genlab.models.diffusion.model import DiffusionModel, DiffusionProcessConfig
from genlab.nn.embeddings import TimeEmbedding


@dataclass(frozen=True)
class LDMConfig(DiffusionProcessConfig):
    """Options of `ldm`.

    Args:
        autoencoder: the run folder of a trained `ae`, `dae` or `vae` (anything with the "latent"
            capability) on the same data; its model is copied into this run when training starts.
        autoencoder_config: filled in by genlab from `autoencoder` (the autoencoder's family, options and
            data, as JSON); leave it empty.
        hidden: width of the MLP denoiser (vector codes).
        depth: residual blocks of the MLP denoiser.
        channels: U-Net widths (spatial codes).
        dropout: dropout in the denoiser's blocks.
        (timesteps ... guidance: the diffusion process, see DiffusionProcessConfig.)
        clip_denoised: clamp the predicted z_0 to [-clip_value, clip_value] while sampling.
        clip_value: the clamp for clip_denoised (standardized codes).
    """

    autoencoder: str = ""
    autoencoder_config: str = ""
    hidden: int = bounded(512, ge=1)
    depth: int = bounded(4, ge=1)
    channels: tuple[int, ...] = (64, 128)
    dropout: float = 0.0
    clip_denoised: bool = False
    clip_value: float = 5.0


class LatentMLP(nn.Module):
    """Residual MLP f(z_t, t, y) for vector codes: h += W2 SiLU(W1 LN(h) + emb) per block."""

    def __init__(self, dim: int, hidden: int, depth: int, num_classes: int = 0, dropout: float = 0.0):
        super().__init__()
        self.time = TimeEmbedding(hidden, hidden, num_classes)
        self.inp = nn.Linear(dim, hidden)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(depth))
        self.lin1 = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.emb = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.lin2 = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, dim)

    def forward(self, z: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z (b, dim), t (b,), y (b,) or None -> (b, dim)."""
        emb = F.silu(self.time(t, y))
        h = self.inp(z)
        for norm, lin1, e, lin2 in zip(self.norms, self.lin1, self.emb, self.lin2):
            h = h + lin2(self.dropout(F.silu(lin1(norm(h)) + e(emb))))
        return self.out(F.silu(self.out_norm(h)))


def build_autoencoder(record: str, spec: DataSpec) -> nn.Module:
    """The frozen autoencoder described by `record` (weights loaded later), checked against `spec`."""
    if not record:
        raise ValueError("ldm needs a trained autoencoder: pass --autoencoder RUN (a run folder of ae, dae or vae)")
    try:
        d = json.loads(record)
        cls = family_of(d["family"])
        ae = cls(validate(from_dict(cls.Config, d["model"])), DataSpec.from_json(d["data"]))
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"ldm: autoencoder_config does not describe an autoencoder ({e}); "
                         "pass --autoencoder RUN and let genlab fill it in") from None
    if not isinstance(ae, Latent):
        raise ValueError(f"a {ae.family} model has no latent space (encode/decode); use an ae, dae or vae run")
    if tuple(ae.shape) != tuple(spec.shape):
        raise ValueError(f"the autoencoder is for images {tuple(ae.shape)}, the data here are {tuple(spec.shape)}")
    ae.eval()
    for p in ae.parameters():
        p.requires_grad_(False)
    return ae


class LDM(DiffusionModel):
    """Latent diffusion (Rombach et al. 2022) over a frozen genlab autoencoder's codes."""

    family: ClassVar[str] = "ldm"
    Config: ClassVar[type] = LDMConfig
    pretrained: ClassVar[dict[str, str]] = {"autoencoder": "ae"}  # option naming a run -> submodule it fills

    def __init__(self, config: LDMConfig, spec: DataSpec):
        super().__init__(config, spec)
        self._init_diffusion(config, self.num_classes)
        self.ae = build_autoencoder(config.autoencoder_config, spec)  # frozen: requires_grad False
        self.ae_conditional = self.ae.conditional
        if self.ae_conditional and not config.conditional:
            raise ValueError("the autoencoder is conditional (its decoder needs labels): "
                             "train the ldm with --conditional")
        with torch.no_grad():
            z = self._encode(torch.zeros(2, *self.shape), torch.zeros(2, dtype=torch.long))
        self.x_shape = tuple(z.shape[1:])
        if len(self.x_shape) == 1:
            self.net = LatentMLP(self.x_shape[0], config.hidden, config.depth, self.net_classes, config.dropout)
        elif len(self.x_shape) == 3:
            from genlab.nn.unet import UNet

            c = self.x_shape[0]
            self.net = UNet(c, c, channels=tuple(config.channels), num_res_blocks=1,
                            attention_levels=(len(config.channels) - 1,), head_dim=32, groups=8,
                            num_classes=self.net_classes, dropout=config.dropout)
        else:
            raise ValueError(f"latent diffusion supports vector or (c, h, w) codes, got codes of shape {self.x_shape}")
        self.register_buffer("z_mean", torch.zeros(self.x_shape))
        self.register_buffer("z_std", torch.ones(self.x_shape))
        self.register_buffer("z_ready", torch.zeros((), dtype=torch.bool))

    @property
    def autoencoder(self) -> nn.Module:
        return self.ae

    def train(self, mode: bool = True):  # the autoencoder stays in eval mode (frozen batch norm, no dropout)
        super().train(mode)
        self.ae.eval()
        return self

    def _encode(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        with torch.no_grad():
            return self.ae.encode(x.float(), y if self.ae_conditional else None).float()

    def to_diffusion(self, x, y=None):
        z = self._encode(x, y)
        if self.training and not bool(self.z_ready):  # standardize with the first batch's statistics
            if z.shape[0] < 2:
                raise ValueError("the first ldm training batch must hold >= 2 images (for the code statistics)")
            self.z_mean.copy_(z.mean(0))
            self.z_std.copy_(z.std(0).clamp_min(1e-4))
            self.z_ready.fill_(True)
        return (z - self.z_mean) / self.z_std

    def from_diffusion(self, x0, y=None):
        z = x0.float() * self.z_std + self.z_mean
        if self.ae_conditional and y is None:
            raise ValueError("this ldm's autoencoder is conditional: pass labels to sample")
        with torch.no_grad():
            out = self.autoencoder.decode(z, y) if self.ae_conditional else self.autoencoder.decode(z)
        return out.float().clamp(0.0, 1.0)

    def denoiser(self, labels=None, guidance=None, autocast=False):
        d = super().denoiser(labels, guidance, autocast)
        d.clip = self.config.clip_value if self.config.clip_denoised else 0.0
        return d

    @torch.no_grad()
    def sample(self, n, *, cond=None, generator=None, sampler: str | None = None, steps: int | None = None,
               guidance: float | None = None, eta: float | None = None, batch_size: int | None = None,
               progress: ProgressHook | None = None, precision: Literal["fp32", "bf16", "auto"] = "fp32") -> Samples:
        """n images (n, c, h, w) in [0, 1] with their labels; options as for `ddpm`."""
        return super().sample(n, cond=cond, generator=generator, sampler=sampler, steps=steps, guidance=guidance,
                              eta=eta, batch_size=batch_size, progress=progress, precision=precision)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["latent_shape"] = list(self.x_shape)
        return d


__all__ = ["LDM", "LDMConfig", "LatentMLP", "build_autoencoder"]
