"""The `t2i` family: pixel-space diffusion (the `ddpm` family's U-Net, schedule, loss and samplers)
conditioned on a caption through a trained genlab `clip` run's text encoder, with classifier-free
guidance on the caption (Ho & Salimans 2022; the pooled-text conditioning of GLIDE/unCLIP, Nichol et
al. 2022, Ramesh et al. 2022, at toy scale).

Notation: caption tokens -> c = clip.embed_text(tokens) (b, D), unit norm, frozen; the U-Net's time
embedding gets + W c (genlab.nn.embeddings.TimeEmbedding, cond_dim = D). The null condition is the zero
vector (never a caption's embedding): training replaces a fraction cond_drop of the captions by it, and
guidance mixes eps_w = eps(x_t, 0) + w (eps(x_t, c) - eps(x_t, 0)) through the one Denoiser of every
diffusion family, so w = 0 is the unconditional model and w = 1 the conditional one.

The clip model is frozen but part of this model, as an ldm's autoencoder is: its family, options and
data are stored in the config (`text_encoder_config`, filled in from `--text-encoder RUN` when training
starts) and its weights in this model's checkpoints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from genlab.config import from_dict, validate
from genlab.data.base import Batch, DataSpec
from genlab.models.base import Embed, ProgressHook, Samples, family_of
from genlab.models.diffusion import losses, samplers
from genlab.models.diffusion.model import DDPM, DDPMConfig, unet_options
from genlab.models.diffusion.schedules import alpha_bar_from_betas, make_betas


@dataclass(frozen=True)
class T2IConfig(DDPMConfig):
    """Options of `t2i`: those of `ddpm` (its `conditional`, on class labels, does not apply: the condition
    is always the caption), and

    Args:
        text_encoder: the run folder of a trained `clip` on the same image-text data; copied into this run
            when training starts.
        text_encoder_config: filled in by genlab from `text_encoder` (the clip's family, options and data,
            as JSON); leave it empty.
    """

    guidance: float = 3.0
    text_encoder: str = ""
    text_encoder_config: str = ""


def build_text_encoder(record: str, spec: DataSpec) -> nn.Module:
    """The frozen clip model described by `record` (weights loaded later), checked against `spec`."""
    if not record:
        raise ValueError("t2i needs a trained text encoder: pass --text-encoder RUN (a clip run on the same data)")
    try:
        d = json.loads(record)
        cls = family_of(d["family"])
        clip = cls(validate(from_dict(cls.Config, d["model"])), DataSpec.from_json(d["data"]))
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"t2i: text_encoder_config does not describe a clip model ({e}); "
                         "pass --text-encoder RUN and let genlab fill it in") from None
    if not isinstance(clip, Embed):
        raise ValueError(f"a {clip.family} model does not embed text; pass a clip run as --text-encoder")
    if clip.spec.vocab != spec.vocab:
        raise ValueError("the text encoder was trained with another caption vocabulary than this data's; "
                         "train the clip run on the same image-text dataset")
    clip.eval()
    for p in clip.parameters():
        p.requires_grad_(False)
    return clip


class T2I(DDPM):
    """Text-to-image diffusion: ddpm with its condition a frozen clip text embedding of the caption."""

    family: ClassVar[str] = "t2i"
    Config: ClassVar[type] = T2IConfig
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image-text"})
    pretrained: ClassVar[dict[str, str]] = {"text_encoder": "clip"}

    def __init__(self, config: T2IConfig, spec: DataSpec):
        super(DDPM, self).__init__(config, spec)  # GenerativeModel: a caption, not a class, is the condition
        from genlab.nn.unet import UNet

        if config.conditional:
            raise ValueError("t2i is conditioned on captions, not class labels: drop --conditional")
        samplers.get_sampler(config.sampler)
        self.register_buffer("alpha_bar", alpha_bar_from_betas(make_betas(config.schedule, config.timesteps)),
                             persistent=False)
        self.clip = build_text_encoder(config.text_encoder_config, spec)
        c = self.shape[0]
        if self.shape[1] % config.patch or self.shape[2] % config.patch:
            raise ValueError(f"patch {config.patch} must divide the image size {self.shape[1:]}")
        opts = unet_options(config, self.shape)
        # The condition is added to the time embedding, which a residual block adds per channel before a
        # GroupNorm: with one channel per group (the 28 preset's 32 groups at width 32) the norm subtracts
        # it again and the caption never reaches the network. Keep >= 2 channels in every group.
        opts["groups"] = max(1, min(opts.get("groups", 32), min(opts["channels"]) // 2))
        self.net = UNet(c, c, cond_dim=self.clip.config.embed_dim, **opts)
        self.x_shape = self.shape

    def train(self, mode: bool = True):  # the text encoder stays in eval mode (no dropout)
        super().train(mode)
        self.clip.eval()
        return self

    @property
    def conditional(self) -> bool:
        """False: no class labels (genlab's `conditional`); the caption is the condition."""
        return False

    @property
    def null_label(self) -> float | None:
        return 0.0 if self.config.cond_drop > 0 else None  # the zero vector

    # --- conditions -----------------------------------------------------------------------------
    @torch.no_grad()
    def text_condition(self, tokens: torch.Tensor) -> torch.Tensor:
        """(b, L) caption ids -> (b, D) unit-norm clip text embeddings."""
        return self.clip.embed_text(tokens.to(self.device)).float()

    def labels_for(self, n: int, cond: Any = None) -> torch.Tensor | None:
        """(n, D) condition vectors for `cond`: a prompt (str, for all n), n prompts, or (n, L) caption ids;
        None (unconditional samples, through the null condition)."""
        if cond is None:
            return None
        if isinstance(cond, str):
            cond = [cond]
        if isinstance(cond, (list, tuple)):
            vectors = self.text_condition(self.clip.tokenize(list(cond)))
        else:
            ids = torch.as_tensor(cond, device=self.device)
            if ids.ndim != 2 or ids.dtype != torch.long:
                raise ValueError(f"cond must be a prompt, a list of prompts or (n, L) int64 caption ids, got "
                                 f"{tuple(ids.shape)} {ids.dtype}")
            vectors = self.text_condition(ids)
        if vectors.shape[0] == 1 and n > 1:
            vectors = vectors.expand(n, -1).clone()
        if vectors.shape[0] != n:
            raise ValueError(f"give one prompt or {n} prompts, got {vectors.shape[0]}")
        return vectors

    def drop_labels(self, c: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor | None:
        """Condition vectors with a fraction cond_drop replaced by the null (zero) vector."""
        if c is None or self.config.cond_drop <= 0:
            return c
        keep = torch.rand(c.shape[0], generator=generator, device=c.device) >= self.config.cond_drop
        return c * keep[:, None].to(c.dtype)

    def _sampling_net(self, x_t, t, y):
        if y is None:
            y = torch.zeros(x_t.shape[0], self.clip.config.embed_dim, device=x_t.device)
        if self._channels_last and x_t.ndim == 4:
            x_t = x_t.contiguous(memory_format=torch.channels_last)
        return self.net(x_t, t, y)

    # --- training and sampling ------------------------------------------------------------------
    def training_losses(self, batch: Batch, *, generator=None, player=None):
        if batch.text is None:
            raise ValueError("t2i trains on image-text batches (batch.text): choose an image-text dataset such "
                             "as mnist-captions")
        c = self.drop_labels(self.text_condition(batch.text), generator)
        mse = losses.denoising_loss(self.net, self.to_diffusion(batch.x), self.alpha_bar,
                                    prediction=self.config.prediction, y=c, generator=generator)
        loss = mse.mean()
        return {"loss": loss, "mse": loss.detach()}

    @torch.no_grad()
    def nll(self, x, y=None, *, generator=None, k: int = 1, t_samples: int = 100) -> torch.Tensor:
        """The unconditional (null caption) variational bound, (b,) nats (see ddpm)."""
        return super().nll(x, None, generator=generator, k=k, t_samples=t_samples)

    @torch.no_grad()
    def sample(self, n, *, cond=None, generator=None, sampler: str | None = None, steps: int | None = None,
               guidance: float | None = None, eta: float | None = None, batch_size: int | None = None,
               progress: ProgressHook | None = None, precision: Literal["fp32", "bf16", "auto"] = "fp32") -> Samples:
        """n images for `cond` (a prompt, n prompts or (n, L) caption ids; None: unconditional);
        guidance w: 0 unconditional, 1 conditional, > 1 stronger (default: the config's). Other options as
        for `ddpm`."""
        out = super().sample(n, cond=cond, generator=generator, sampler=sampler, steps=steps, guidance=guidance,
                             eta=eta, batch_size=batch_size, progress=progress, precision=precision)
        return Samples(out.x, None)


__all__ = ["T2I", "T2IConfig", "build_text_encoder"]
