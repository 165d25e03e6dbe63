"""The `ddpm` family: Gaussian diffusion in pixel space (Ho et al. 2020) with a U-Net, the cosine or
linear schedule, eps/x0/v targets, classifier-free guidance (Ho & Salimans 2022), fast samplers (DDIM,
DPM-Solver++(2M)), the variational bound in bits/dim, RePaint inpainting and SDEdit denoising.

Notation: images x in [0, 1] are mapped to x_0 = 2x - 1 in [-1, 1]; T training timesteps;
alpha_bar (T,) the schedule (schedules.py). The network f(x_t, t, y) is wrapped by a Denoiser
(denoiser.py), the loss is losses.denoising_loss and samplers are plain functions (samplers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec
from genlab.models.base import GenerativeModel, ProgressHook, Samples
from genlab.models.diffusion import losses, samplers
from genlab.models.diffusion.denoiser import Denoiser, Prediction
from genlab.models.diffusion.schedules import (
    Schedule,
    alpha_bar_from_betas,
    make_betas,
    sampling_timesteps,
)
from genlab.nn.bf16 import use_bf16
from genlab.nn.distributions import bits_per_dim

CPU_SAMPLE_INPUTS = 128  # network inputs per sampler run on a CPU by default (DiffusionModel.sample_batch)


@dataclass(frozen=True)
class DiffusionProcessConfig:
    """The diffusion process and the sampling defaults that every diffusion family shares.

    Args:
        timesteps: T, the number of diffusion steps.
        schedule: "cosine" (Nichol & Dhariwal 2021) or "linear" (Ho et al. 2020).
        prediction: the network's target: "v" (the default), "eps" or "x0". With the cosine schedule the
            signal-to-noise ratio of the last timesteps is near zero, where an eps-predicting network's
            x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar) amplifies its error by up to 1/sqrt(abar) = 2e4:
            the mean brightness of an image is then lost and samples get grey backgrounds
            (docs/DIFFUSION.md, "Grey backgrounds"). v gives x0 = sqrt(abar) x_t - sqrt(1 - abar) v, never
            amplified.
        conditional: class-conditional (needs labelled data), with classifier-free guidance.
        cond_drop: probability of replacing a label by the null label in training (classifier-free
            guidance needs > 0).
        sampler: default sampler: "ddpm" (ancestral), "ddim" or "dpmpp_2m" (DPM-Solver++(2M)).
        sample_steps: default number of sampler steps (network evaluations).
        guidance: default guidance scale w for conditional samples: 0 = unconditional, 1 = conditional,
            > 1 stronger.
    """

    timesteps: int = bounded(1000, ge=2)
    schedule: Schedule = "cosine"
    prediction: Prediction = "v"
    conditional: bool = False
    cond_drop: float = bounded(0.1, ge=0, lt=1)
    sampler: samplers.SamplerName = "dpmpp_2m"
    sample_steps: int = bounded(20, ge=1)
    guidance: float = bounded(2.0, ge=0)


@dataclass(frozen=True)
class DDPMConfig(DiffusionProcessConfig):
    """Options of `ddpm`.

    Args:
        preset: U-Net size: "auto" picks by image size ("28" for 28x28, "32" for 32x32, else "28"'s
            widths), "tiny" is for tests. channels / num_res_blocks / attention override it.
        channels: U-Net width per level (empty = the preset's).
        num_res_blocks: residual blocks per level (0 = the preset's).
        attention: levels with self-attention (None = the preset's).
        head_dim: channels per attention head (0 = the preset's).
        patch: fold patch x patch pixels into channels before the U-Net (1 = off).
        dropout: dropout in the residual blocks.
        (timesteps ... guidance: the diffusion process, see DiffusionProcessConfig.)
        clip_denoised: clamp the predicted x_0 to [-1, 1] while sampling.
    """

    preset: Literal["auto", "tiny", "28", "32"] = "auto"
    channels: tuple[int, ...] = ()
    num_res_blocks: int = 0
    attention: tuple[int, ...] | None = None
    head_dim: int = 0
    patch: int = bounded(1, ge=1)
    dropout: float = bounded(0.0, ge=0, lt=1)
    clip_denoised: bool = True


def unet_options(config: Any, shape: tuple[int, int, int]) -> dict[str, Any]:
    """U-Net constructor options from a config's preset and overrides."""
    from genlab.nn.unet import PRESETS

    preset = config.preset
    if preset == "auto":
        preset = "32" if shape[1] == 32 and shape[2] == 32 else "28"
    if preset not in PRESETS:
        raise ValueError(f"unknown U-Net preset {preset!r}; valid: ['auto', {', '.join(map(repr, PRESETS))}]")
    opts = dict(PRESETS[preset])
    if config.channels:
        opts["channels"] = tuple(config.channels)
    if config.num_res_blocks:
        opts["num_res_blocks"] = config.num_res_blocks
    if config.attention is not None:
        opts["attention_levels"] = tuple(config.attention)
    if config.head_dim:
        opts["head_dim"] = config.head_dim
    levels = len(opts["channels"])
    opts["attention_levels"] = tuple(a for a in opts["attention_levels"] if a < levels)
    return {**opts, "patch": config.patch, "dropout": config.dropout}


class DiffusionModel(GenerativeModel):
    """What pixel and latent diffusion share: the schedule, the loss, guidance and the samplers.

    Subclasses set `self.net` (f(x_t, t, y)), `self.x_shape` (the shape diffused) and implement
    `to_diffusion(x)` / `from_diffusion(x0)` between images in [0, 1] and the diffused space.
    """

    def _init_diffusion(self, config: Any, num_classes: int) -> None:
        if config.conditional and num_classes < 2:
            raise ValueError(f"a conditional {self.family} model needs labelled data with at least 2 classes; "
                             "train on a labelled dataset or drop --conditional")
        samplers.get_sampler(config.sampler)
        alpha_bar = alpha_bar_from_betas(make_betas(config.schedule, config.timesteps))
        self.register_buffer("alpha_bar", alpha_bar, persistent=False)  # float64, a function of the config

    @property
    def net_classes(self) -> int:
        return self.num_classes if self.config.conditional else 0

    # --- training -------------------------------------------------------------------------------
    def to_diffusion(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def from_diffusion(self, x0: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def drop_labels(self, y: torch.Tensor | None, generator: torch.Generator | None) -> torch.Tensor | None:
        """Labels with a fraction cond_drop replaced by the null label (classifier-free guidance)."""
        if not self.conditional or y is None:
            return None
        y = y.long()
        if self.config.cond_drop > 0:
            drop = torch.rand(y.shape, generator=generator, device=y.device) < self.config.cond_drop
            y = torch.where(drop, torch.full_like(y, self.num_classes), y)
        return y

    def training_losses(self, batch: Batch, *, generator=None, player=None):
        x, y = batch.x, batch.y
        x0 = self.to_diffusion(x, y)
        mse = losses.denoising_loss(self.net, x0, self.alpha_bar, prediction=self.config.prediction,
                                    y=self.drop_labels(y, generator), generator=generator)
        loss = mse.mean()
        return {"loss": loss, "mse": loss.detach()}

    # --- sampling -------------------------------------------------------------------------------
    @property
    def null_label(self) -> int | None:
        """The condition that means "none" for classifier-free guidance (the label num_classes; a text model's
        zero vector: 0), or None for a model trained without one."""
        return self.num_classes if self.conditional and self.config.cond_drop > 0 else None

    def guidance_scale(self, labels: torch.Tensor | None = None, guidance: float | None = None) -> float:
        """The classifier-free guidance scale w that sampling with `labels` uses: `guidance`, else the config's
        (1, plain conditional, for a model without a null label); 0 (the null label) for unconditional samples
        of a conditional model. A guidance the model cannot do is a one-line error."""
        null = self.null_label
        w = float(guidance) if guidance is not None else (self.config.guidance if null is not None else 1.0)
        if labels is not None and w != 1.0 and null is None:
            raise ValueError(f"guidance {w} needs a model trained with cond_drop > 0 (a null label); "
                             "use guidance=1 for this model")
        if labels is None and self.conditional:  # unconditional samples of a CFG model: the null label
            if null is None:
                raise ValueError(f"this {self.family} model is conditional without a null label: pass labels")
            return 0.0
        return w

    def denoiser(self, labels: torch.Tensor | None = None, guidance: float | None = None,
                 autocast: bool = False) -> Denoiser:
        """The network as a Denoiser, with classifier-free guidance for a conditional model."""
        w = self.guidance_scale(labels, guidance)
        clip = 1.0 if self.config.clip_denoised else 0.0
        return Denoiser(self._sampling_net, self.alpha_bar, prediction=self.config.prediction, labels=labels,
                        guidance=w, null_label=self.null_label, clip=clip, autocast=autocast)

    def _sampling_net(self, x_t, t, y):
        if y is None and self.conditional:
            y = torch.full((x_t.shape[0],), self.num_classes, dtype=torch.long, device=x_t.device)
        if self._channels_last and x_t.ndim == 4:
            x_t = x_t.contiguous(memory_format=torch.channels_last)
        return self.net(x_t, t, y)

    @property
    def _channels_last(self) -> bool:
        w = next((m.weight for m in self.net.modules() if isinstance(m, nn.Conv2d)), None)
        return w is not None and w.is_contiguous(memory_format=torch.channels_last) and w.shape[1] > 1

    def sample_batch(self, guided: bool) -> int:
        """Images per sampler run by default. On a CPU, 128 network inputs (64 images when classifier-free
        guidance doubles the batch): larger batches are slower there, not faster (at 28x28 the U-Net's biggest
        activations of 500 images doubled take 300 MB, and blocks above glibc's mmap threshold, 32 MB at most,
        are fresh pages at every allocation, zeroed by the kernel on first touch). 500 guided images, 20
        DPM-Solver++ steps, 2 threads, OMP_WAIT_POLICY=PASSIVE as the CLI sets it: 66.4 s in one batch of 500,
        43.6 s in batches of 64 (AMX Xeon; docs/DIFFUSION.md, "Speed"). Elsewhere (a GPU) 500 images."""
        if self.device.type != "cpu":
            return 500
        return CPU_SAMPLE_INPUTS // 2 if guided else CPU_SAMPLE_INPUTS

    def timesteps_for(self, steps: int | None, sampler: str, start: int | None = None) -> torch.Tensor:
        """Decreasing timesteps for `steps` network calls, from `start` (default T-1) towards 0."""
        T = self.config.timesteps
        if sampler == "ddpm" and steps is None and start is None:
            steps = T
        steps = self.config.sample_steps if steps is None else int(steps)
        return sampling_timesteps(T, steps, start=start)

    def run_sampler(self, x_T: torch.Tensor, timesteps: torch.Tensor, *, labels=None, sampler=None,
                    guidance=None, eta=None, generator=None, progress: ProgressHook | None = None,
                    callback=None, precision: Literal["fp32", "bf16", "auto"] = "fp32") -> torch.Tensor:
        """Denoise x_T (in the diffused space) along `timesteps` with the named sampler; the network under bf16
        autocast for precision "bf16" (or "auto" where the device runs bf16 natively), the sampler in fp32."""
        name = sampler or self.config.sampler
        fn = samplers.get_sampler(name)
        kwargs: dict[str, Any] = {}
        if eta is not None:
            if name != "ddim":
                raise ValueError(f"eta is an option of the ddim sampler, not {name!r}")
            kwargs["eta"] = float(eta)
        den = self.denoiser(labels, guidance, autocast=use_bf16(precision, x_T.device))
        return fn(den, x_T, timesteps, generator=generator, callback=callback, progress=progress, **kwargs)

    @torch.no_grad()
    def sample(self, n, *, cond=None, generator=None, sampler: str | None = None, steps: int | None = None,
               guidance: float | None = None, eta: float | None = None, batch_size: int | None = None,
               progress: ProgressHook | None = None, precision: Literal["fp32", "bf16", "auto"] = "fp32") -> Samples:
        """n images (n, c, h, w) in [0, 1], with the labels they were drawn for.

        Args:
            cond: (n,) classes (or one class) for a conditional model; None draws every class in turn.
                For samples that ignore the label, pass guidance=0.
            sampler: "ddpm", "ddim" or "dpmpp_2m" (default: the config's).
            steps: network evaluations (default: the config's; T for ddpm).
            guidance: classifier-free guidance scale w (0 = unconditional, 1 = conditional).
            eta: DDIM stochasticity (0 = deterministic, 1 = DDPM-like).
            batch_size: images per sampler run (default: `sample_batch`, 128 network inputs on a CPU, 500 images
                elsewhere). The starting noise is drawn for all n first, so a deterministic sampler gives the
                same images at any batch size.
            precision: "fp32" (default: the same samples from a seed on every machine), "bf16" (the network
                under bf16 autocast; 1.7x faster on a CPU with AVX-512 BF16 at the same FID, docs/DIFFUSION.md)
                or "auto" (bf16 where the device runs it natively).
            progress: a ProgressHook: ("batch", done, batches) around each sampler run, ("step", done,
                steps) inside it.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        labels = self.labels_for(n, cond)
        name = sampler or self.config.sampler
        samplers.get_sampler(name)  # a clear error for a bad name (or precision) before any work
        use_bf16(precision, self.device)
        ts = self.timesteps_for(steps, name)
        if batch_size is None:
            guided = labels is not None and self.guidance_scale(labels, guidance) not in (0.0, 1.0)
            batch_size = self.sample_batch(guided)
        elif batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        x_T = torch.randn((n, *self.x_shape), generator=generator, device=self.device)
        was_training = self.training
        self.eval()
        try:
            out, batches = [], -(-n // batch_size)
            if progress:
                progress("batch", 0, batches)
            for i in range(0, n, batch_size):
                y = None if labels is None else labels[i:i + batch_size]
                x0 = self.run_sampler(x_T[i:i + batch_size], ts, labels=y, sampler=name, guidance=guidance,
                                      eta=eta, generator=generator, progress=progress, precision=precision)
                out.append(self.from_diffusion(x0, y))
                if progress:
                    progress("batch", len(out), batches)
        finally:
            self.train(was_training)
        return Samples(torch.cat(out), labels)


class DDPM(DiffusionModel):
    """Pixel-space diffusion with a U-Net (Ho et al. 2020; Nichol & Dhariwal 2021)."""

    family: ClassVar[str] = "ddpm"
    Config: ClassVar[type] = DDPMConfig
    likelihood_kind: ClassVar[str] = "discrete"  # the bound is a probability mass over the 256 grey levels
    likelihood_exact: ClassVar[bool] = False
    likelihood_options: ClassVar[tuple[str, ...]] = ("k", "t_samples")

    def __init__(self, config: DDPMConfig, spec: DataSpec):
        super().__init__(config, spec)
        from genlab.nn.unet import UNet

        self._init_diffusion(config, self.num_classes)
        c = self.shape[0]
        if self.shape[1] % config.patch or self.shape[2] % config.patch:
            raise ValueError(f"patch {config.patch} must divide the image size {self.shape[1:]}")
        self.net = UNet(c, c, num_classes=self.net_classes, **unet_options(config, self.shape))
        self.x_shape = self.shape

    def to_diffusion(self, x, y=None):
        return x * 2.0 - 1.0

    def from_diffusion(self, x0, y=None):
        return ((x0.float() + 1.0) / 2.0).clamp(0.0, 1.0)

    # --- likelihood -----------------------------------------------------------------------------
    @torch.no_grad()
    def nll(self, x, y=None, *, generator=None, k: int = 1, t_samples: int = 100) -> torch.Tensor:
        """-log p(x) upper bound per image, (b,) nats: the variational bound (Ho et al. 2020) with a
        discretized decoder over 256 grey levels, averaged over k noise draws. t_samples = 0 sums every
        timestep exactly (T network calls per image); k > 0 samples that many stratified timesteps
        (an unbiased estimate; see losses.variational_bound). Divide by dims * ln 2 for bits/dim."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        x0 = (torch.round(x.float() * 255.0) / 255.0) * 2.0 - 1.0  # the 8-bit grid in [-1, 1]
        y = y.long() if (y is not None and self.conditional) else None
        was_training = self.training
        self.eval()
        try:
            total = sum(losses.variational_bound(self._sampling_net, x0, self.alpha_bar,
                                                 prediction=self.config.prediction, y=y, t_samples=t_samples,
                                                 generator=generator) for _ in range(k))
        finally:
            self.train(was_training)
        return total / k

    def bits_per_dim(self, x, y=None, **kwargs) -> torch.Tensor:
        """nll in bits per dimension, (b,)."""
        return bits_per_dim(self.nll(x, y, **kwargs), x[0].numel())

    # --- editing --------------------------------------------------------------------------------
    @torch.no_grad()
    def inpaint(self, x, mask, *, cond=None, generator=None, steps: int = 50, jump_length: int = 5,
                resample: int = 5, guidance: float | None = None,
                progress: ProgressHook | None = None) -> torch.Tensor:
        """Fill in the masked pixels of x by RePaint (Lugmayr et al. 2022); the others are kept exactly.

        Args:
            x: (b, c, h, w) images in [0, 1].
            mask: (b or 1, 1 or c, h, w), 1 (or True) where to generate, 0 where to keep x.
            cond: labels for a conditional model (None: unconditional, through the null label).
            steps: timesteps of the chain; each is visited `resample` times (jumps of jump_length).
        Returns:
            (b, c, h, w) in [0, 1], equal to x wherever mask is 0.
        """
        x, mask = self._check_image(x, "x"), torch.as_tensor(mask, device=self.device).float()
        if mask.ndim == 2:
            mask = mask[None, None]
        try:
            mask = mask.expand_as(x)
        except RuntimeError:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit images {tuple(x.shape)}") from None
        if ((mask != 0) & (mask != 1)).any():
            raise ValueError("mask must hold only 0 (keep) and 1 (fill in)")
        labels = None if cond is None else self.labels_for(x.shape[0], cond)  # None: the null label
        ts = sampling_timesteps(self.config.timesteps, steps)
        x_T = torch.randn(x.shape, generator=generator, device=self.device)
        self.eval()
        out = samplers.sample_repaint(self.denoiser(labels, guidance), x_T, ts, known=self.to_diffusion(x),
                                      mask=mask, jump_length=jump_length, resample=resample, generator=generator,
                                      progress=progress)
        return torch.where(mask.bool(), self.from_diffusion(out), x)

    @torch.no_grad()
    def denoise(self, x, *, noise_std: float | None = None, strength: float | None = None, cond=None, generator=None,
                sampler: str | None = None, steps: int | None = None, guidance: float | None = None,
                progress: ProgressHook | None = None) -> torch.Tensor:
        """SDEdit (Meng et al. 2022): put x at a diffusion time t0 and run the reverse process from there.

        With `noise_std` (x = clean + N(0, noise_std^2) in [0, 1] units) t0 is the timestep whose noise
        level matches and x is only rescaled; otherwise t0 = strength * (T-1) and fresh noise is added
        (strength near 0 keeps x, near 1 ignores it; default 0.5).
        """
        strength = 0.5 if strength is None else strength
        x = self._check_image(x, "x")
        T, ab = self.config.timesteps, self.alpha_bar
        x0 = self.to_diffusion(x)
        if noise_std is not None:
            if noise_std <= 0:
                raise ValueError(f"noise_std must be > 0, got {noise_std}")
            target = 1.0 / (1.0 + 4.0 * noise_std ** 2)  # x_0 + 2 sigma n = x_t / sqrt(abar): abar = 1/(1+4 sigma^2)
            t0 = int((ab - target).abs().argmin())
            x_t = float(ab[t0]) ** 0.5 * x0
        else:
            if not 0.0 < strength <= 1.0:
                raise ValueError(f"strength must be in (0, 1], got {strength}")
            t0 = max(0, round(strength * (T - 1)))
            x_t = samplers.noise_to(x0, float(ab[t0]), generator)
        name = sampler or self.config.sampler
        steps = steps if steps is not None else max(1, round(self.config.sample_steps * (t0 + 1) / T))
        ts = self.timesteps_for(min(steps, t0 + 1), name, start=t0)
        labels = None if cond is None else self.labels_for(x.shape[0], cond)  # None: the null label
        self.eval()
        out = self.run_sampler(x_t, ts, labels=labels, sampler=name, guidance=guidance, generator=generator,
                               progress=progress)
        return self.from_diffusion(out)

    def _check_image(self, x, name: str) -> torch.Tensor:
        x = torch.as_tensor(x, device=self.device).float()
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"{name} must be images of shape (b, {', '.join(map(str, self.shape))}), "
                             f"got {tuple(x.shape)}")
        return x


__all__ = ["DDPM", "DDPMConfig", "DiffusionModel", "unet_options"]
