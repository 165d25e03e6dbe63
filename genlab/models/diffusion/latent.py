"""The `ldm` family: latent diffusion (Rombach et al. 2022) in the code space of a trained genlab
autoencoder or VAE run (`--autoencoder RUN`), decoded back to images.

Notation: z = E(x) the code (a VAE's posterior mean mu); z_0 = (z - m) / s standardized per dimension
with the mean m and std s of the first training batch (Rombach et al. scale by one std from the first
batch; these are kept in the checkpoint); diffusion runs on z_0 exactly as in `ddpm`; a sample is
D(s * z_0 + m). Vector codes (b, d) use a residual MLP denoiser; spatial codes (b, c, h, w) a U-Net.

The autoencoder is frozen and not part of this model's parameters or checkpoint: it is loaded from its
run folder whenever the ldm is built, so that run must stay where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.diffusion.model import DiffusionModel, DiffusionProcessConfig
from genlab.nn.embeddings import TimeEmbedding


@dataclass(frozen=True)
class LDMConfig(DiffusionProcessConfig):
    """Options of `ldm`.

    Args:
        autoencoder: the run folder of a trained `ae`, `dae` or `vae` (anything with the "latent"
            capability) on the same data.
        hidden: width of the MLP denoiser (vector codes).
        depth: residual blocks of the MLP denoiser.
        channels: U-Net widths (spatial codes).
        dropout: dropout in the denoiser's blocks.
        (timesteps ... guidance: the diffusion process, see DiffusionProcessConfig.)
        clip_denoised: clamp the predicted z_0 to [-clip_value, clip_value] while sampling.
        clip_value: the clamp for clip_denoised (standardized codes).
    """

    autoencoder: str = ""
    hidden: int = 512
    depth: int = 4
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


def load_autoencoder(path: str, shape: tuple[int, int, int]) -> nn.Module:
    """The frozen model of a trained run with the "latent" capability, checked against `shape`."""
    from genlab.runs import load_run

    if not path:
        raise ValueError("ldm needs a trained autoencoder: pass --autoencoder RUN (a run folder of ae, dae or vae)")
    if not Path(path).exists():
        raise ValueError(f"autoencoder run {path!r} does not exist; train one first, e.g. "
                         f"`genlab train vae --data mnist` and pass --autoencoder runs/vae-mnist")
    run = load_run(path)
    ae = run.model
    if "latent" not in ae.capabilities:
        raise ValueError(f"the {run.config.family} run {path} has no latent space (encode/decode); "
                         "use an ae, dae or vae run")
    if tuple(ae.shape) != tuple(shape):
        raise ValueError(f"the autoencoder run {path} is for images {tuple(ae.shape)}, "
                         f"the data here are {tuple(shape)}")
    ae.eval()
    for p in ae.parameters():
        p.requires_grad_(False)
    return ae


class LDM(DiffusionModel):
    """Latent diffusion (Rombach et al. 2022) over a frozen genlab autoencoder's codes."""

    family: ClassVar[str] = "ldm"
    Config: ClassVar[type] = LDMConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"conditional"})

    def __init__(self, config: LDMConfig, shape: tuple[int, int, int], num_classes: int = 0):
        super().__init__(config, shape, num_classes)
        self._init_diffusion(config, num_classes)
        ae = load_autoencoder(config.autoencoder, self.shape)
        self.__dict__["_ae"] = ae  # frozen and outside the module tree: not trained, not in the checkpoint
        self.ae_conditional = bool(getattr(ae, "conditional", False))
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
        return self.__dict__["_ae"]

    def _apply(self, fn, recurse=True):  # .to(device), .float() etc. also move the hidden autoencoder
        super()._apply(fn, recurse)
        self.__dict__["_ae"]._apply(fn)
        return self

    def _encode(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        from genlab.apps.interpolate import encode_mean

        with torch.no_grad():
            return encode_mean(self.autoencoder, x.float(), y if self.ae_conditional else None).float()

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
    def sample(self, n, *, labels=None, generator=None, sampler: str | None = None, steps: int | None = None,
               guidance: float | None = None, eta: float | None = None, batch_size: int = 500,
               progress: bool = False):
        """n images (n, c, h, w) in [0, 1]; options as for `ddpm`."""
        if self.ae_conditional and labels is None:
            raise ValueError("this ldm's autoencoder is conditional: pass labels to sample")
        return super().sample(n, labels=labels, generator=generator, sampler=sampler, steps=steps, guidance=guidance,
                              eta=eta, batch_size=batch_size, progress=progress)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["latent_shape"] = list(self.x_shape)
        return d


__all__ = ["LDM", "LDMConfig", "LatentMLP", "load_autoencoder"]
