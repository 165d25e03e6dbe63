"""The `pixelcnn` family: a Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with
PixelCNN Decoders"), an exact autoregressive likelihood of images.

Notation: x (b, c, h, w) in [0, 1]; D = c h w; pixels in raster order (rows top to bottom, each left to
right; channels of one pixel in order), x_<j the values before position j:
    p(x | y) = prod_j p(x_j | x_<j, y),    -log p(x | y) = sum_j CE_j   (nats, exact)
with p(x_j | .) a 256-way softmax over the 8-bit levels (likelihood "categorical": a probability mass over
256 levels, likelihood kind "discrete"), a mixture of K logistics integrated over each level's bin (likelihood
"logistic", PixelCNN++ of Salimans et al. 2017: also a mass over the 256 levels, from 3K outputs instead of 256,
and neighbouring levels share what is learned about one) or a Bernoulli (likelihood "bernoulli", for binarized
data: kind "binary"). Training minimizes the mean of -log p(x) / D (nats per dimension; bits/dim = that / ln 2).
Sampling and inpainting draw the positions one by one in raster order (h w network steps per image).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec
from genlab.models.autoregressive.sampling import check_options, draw, one_thread
from genlab.models.base import GenerativeModel, ProgressHook, Samples
from genlab.models.pixelcnn.multiscale import CroppedSampler, MultiscalePixelCNN
from genlab.models.pixelcnn.net import GatedPixelCNN
from genlab.models.pixelcnn.sampler import CachedSampler
from genlab.nn.distributions import (
    bernoulli_log_likelihood,
    bits_per_dim,
    discretized_logistic_mixture_log_likelihood,
)

LEVELS = torch.linspace(-1.0, 1.0, 256)  # the 8-bit levels k / 255 as the network sees them, 2x - 1

PRESETS: dict[str, dict[str, int]] = {
    "base": {"layers": 8, "channels": 48},  # sized for 28x28 images and an hour of one CPU core
    "tiny": {"layers": 2, "channels": 8},    # tests
}


@dataclass(frozen=True)
class PixelCNNConfig:
    """Options of `pixelcnn`.

    Args:
        preset: sizes: "base" (8 gated layers, 48 channels) or "tiny" (2 layers, 8 channels, for tests).
        arch: "gated" (the Gated PixelCNN: vertical and horizontal stacks at full resolution, a cached sampler)
            or "multiscale" (PixelCNN++-style gated residual streams over `scales` 2x-subsampled scales, `blocks`
            per scale and pass, `channels` wide; `layers` and the kernels do not apply; an exact sampler that
            reruns part of the network for every pixel, about 100x slower than the gated one's cached sampler).
        layers: gated layers (0 = the preset's).
        channels: feature channels of each stack (0 = the preset's).
        kernel: kernel size of the gated layers after the first.
        first_kernel: kernel size of the first gated layer (its horizontal stack is mask A).
        likelihood: "categorical" (a 256-way softmax over the 8-bit levels), "logistic" (a discretized mixture
            of `mixtures` logistics over the 8-bit levels, PixelCNN++) or "bernoulli" (binary pixels: train with
            --binarize dynamic or static).
        mixtures: components of the "logistic" likelihood.
        blocks: gated residual blocks per stream, scale and pass of the "multiscale" network.
        scales: scales of the "multiscale" network (1 = no subsampling).
        conditional: add a learned class embedding to every gated layer or block (needs labelled data).
        cond_drop: probability of training an image without its label (the class embedding left out), so that
            one network is both p(x | y) and p(x): classifier-free guidance needs > 0.
        temperature: default sampling temperature (1 = the model; 0 = the most probable value each step).
        guidance: default guidance scale w of a conditional model's samples (Ho & Salimans 2022, on each
            pixel's log-probabilities): log p_u + w (log p_c - log p_u); 1 = the conditional model itself,
            0 = the unconditional one, > 1 stresses the class. Other than 1 needs cond_drop > 0.
    """

    preset: Literal["base", "tiny"] = "base"
    arch: Literal["gated", "multiscale"] = "gated"
    layers: int = bounded(0, ge=0)
    channels: int = bounded(0, ge=0)
    kernel: Literal[3, 5, 7] = 3
    first_kernel: Literal[3, 5, 7] = 7
    likelihood: Literal["categorical", "logistic", "bernoulli"] = "categorical"
    mixtures: int = bounded(5, ge=1)
    blocks: int = bounded(2, ge=1)
    scales: int = bounded(3, ge=1)
    conditional: bool = False
    cond_drop: float = bounded(0.0, ge=0, lt=1)
    temperature: float = bounded(1.0, ge=0)
    guidance: float = bounded(1.0, ge=0)

    def sizes(self) -> dict[str, int]:
        """layers and channels: the preset's, with the options that are set."""
        return {k: getattr(self, k) or v for k, v in PRESETS[self.preset].items()}


class PixelCNN(GenerativeModel):
    """Gated PixelCNN: exact per-image NLL, raster-order sampling, exact completion of an image's lower part."""

    family: ClassVar[str] = "pixelcnn"
    Config: ClassVar[type] = PixelCNNConfig
    likelihood_exact: ClassVar[bool] = True

    def __init__(self, config: PixelCNNConfig, spec: DataSpec):
        super().__init__(config, spec)  # refuses data that are not images, in one line
        if config.conditional and self.num_classes < 2:
            raise ValueError("a conditional pixelcnn needs labelled data with at least 2 classes; "
                             "train on a labelled dataset or drop --conditional")
        sizes = config.sizes()
        classes = self.num_classes if config.conditional else 0
        outputs = {"bernoulli": 1, "logistic": 3 * config.mixtures}.get(config.likelihood, 256)
        if config.arch == "multiscale":
            if config.layers or config.kernel != 3 or config.first_kernel != 7:
                raise ValueError("layers, kernel and first_kernel size the gated network; the multiscale one is "
                                 "sized by channels, blocks and scales: drop them or use arch=gated")
            self.net = MultiscalePixelCNN(self.shape[0], sizes["channels"], config.blocks, config.scales, classes,
                                          outputs)
        else:
            self.net = GatedPixelCNN(self.shape[0], sizes["channels"], sizes["layers"], config.kernel,
                                     config.first_kernel, classes, outputs)

    @property
    def likelihood_kind(self) -> str:
        """Categorical, logistic: a probability mass over the 256 levels ("discrete"); Bernoulli: of binary
        pixels."""
        return "binary" if self.config.likelihood == "bernoulli" else "discrete"

    # --- the likelihood -----------------------------------------------------------------------
    def _check_values(self, x: torch.Tensor) -> None:
        if self.config.likelihood == "bernoulli" and ((x != 0) & (x != 1)).any():
            raise ValueError("a pixelcnn with likelihood=bernoulli models binary pixels but got grey levels; "
                             "train with --binarize dynamic (or static), or use likelihood=categorical")

    def log_probs(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x_j | x_<j, y) of every position j, (b, c, h, w) nats.

        Args:
            x: (b, c, h, w) in [0, 1]: 8-bit levels k/255 (categorical) or 0/1 (bernoulli).
            y: (b,) labels of a conditional model, else None.
        """
        self._check_values(x)
        logits = self.net(2.0 * x - 1.0, y).float()  # (b, c, K, h, w)
        if self.config.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x.float(), logits[:, :, 0])
        levels = (x.float() * 255.0).round().clamp(0, 255)  # (b, c, h, w)
        if self.config.likelihood == "logistic":
            return discretized_logistic_mixture_log_likelihood(levels / 127.5 - 1.0, *self._mixture(logits, 2))
        return -F.cross_entropy(logits.transpose(1, 2), levels.long(), reduction="none")

    def _mixture(self, out: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The network's 3K outputs along `dim` -> (logit weights, means, log scales), each with K last."""
        return out.movedim(dim, -1).chunk(3, -1)

    @torch.no_grad()
    def nll(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
            generator: torch.Generator | None = None) -> torch.Tensor:
        """-log p(x | y) per image, (b,) nats: exact (the sum of the per-position cross-entropies)."""
        y = self.check_labels(y, x.shape[0])
        return -self.log_probs(x, y).flatten(1).sum(1)

    def training_losses(self, batch: Batch, *, generator=None, player=None) -> dict[str, torch.Tensor]:
        x, y = batch.x, (batch.y if self.conditional else None)
        if y is not None and self.config.cond_drop > 0:  # -1: this image trains the unconditional model
            drop = torch.rand(y.shape, generator=generator, device=y.device) < self.config.cond_drop
            y = torch.where(drop, torch.full_like(y, -1), y)
        nats = -self.log_probs(x, y).flatten(1).sum(1)  # (b,)
        dims = x[0].numel()
        return {"loss": nats.mean() / dims, "bits_per_dim": bits_per_dim(nats.mean().detach(), dims)}

    # --- sampling -----------------------------------------------------------------------------
    @torch.inference_mode()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None,
               temperature: float | None = None, guidance: float | None = None,
               progress: ProgressHook | None = None) -> Samples:
        """n images drawn position by position in raster order (h w network steps).

        Args:
            cond: labels of a conditional model (None: every class in turn).
            temperature: softmax temperature (default: the config's; 0 = the most probable value).
            guidance: classifier-free guidance scale w of a conditional model (default: the config's; 1 = off).
            progress: a ProgressHook, called ("pixel", done, h w) over the pixels.
        """
        labels = self.labels_for(n, cond)
        x = torch.zeros(n, *self.shape, device=self.device)
        return Samples(self._fill(x, torch.ones_like(x, dtype=torch.bool), labels, 0, temperature, generator,
                                  progress, guidance), labels)

    @torch.inference_mode()
    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, *, cond: Any = None,
                generator: torch.Generator | None = None, temperature: float | None = None,
                guidance: float | None = None, progress: ProgressHook | None = None) -> torch.Tensor:
        """Fill in x where mask is 1 by drawing from p(missing | known, y), exactly; the rest is kept.

        Exact only when every missing position comes after every known one in raster order (the lower part
        of an image, or the end of a row and everything below); any other mask is refused, because the
        model's conditionals p(x_j | x_<j) cannot condition on known values that come later.

        Args:
            x: (b, c, h, w) images in [0, 1] (or one (c, h, w) image).
            mask: broadcastable to x, 1 = fill in, 0 = keep.
            cond: labels of a conditional model (None: every class in turn).
            guidance: classifier-free guidance scale of a conditional model (default: the config's).
        Returns:
            (b, c, h, w) in [0, 1], equal to x wherever mask is 0.
        """
        x = torch.as_tensor(x, device=self.device).float()
        x = x[None] if x.ndim == 3 else x
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"images must be (b, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        mask = torch.as_tensor(mask, device=self.device).float()
        mask = mask[None, None] if mask.ndim == 2 else mask
        try:
            mask = mask.expand_as(x)
        except RuntimeError:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not fit images {tuple(x.shape)}") from None
        if ((mask != 0) & (mask != 1)).any():
            raise ValueError("mask must hold only 0 (keep) and 1 (fill in)")
        missing = mask.bool()
        start = self._check_raster_suffix(missing)
        labels = self.labels_for(x.shape[0], cond)
        out = self._fill(x.clone(), missing, labels, start, temperature, generator, progress, guidance)
        return torch.where(missing, out, x)

    def _check_raster_suffix(self, missing: torch.Tensor) -> int:
        """The first pixel to fill in (h w when none); ValueError when a missing position of an image comes
        before one of its known positions in raster order."""
        b, c, h, w = missing.shape
        order = missing.permute(0, 2, 3, 1).reshape(b, -1)  # (b, D) in raster order, channels innermost
        pos = torch.arange(order.shape[1], device=order.device)
        first_missing = torch.where(order, pos, order.shape[1]).min(1).values  # (b,)
        last_known = torch.where(~order, pos, -1).max(1).values
        bad = (last_known > first_missing).nonzero()
        if len(bad):
            i = int(bad[0])

            def where(j: int) -> str:
                (r, q), ch = divmod(j // c, w), j % c
                return f"(row {r}, column {q}{f', channel {ch}' if c > 1 else ''})"

            raise ValueError(f"a pixelcnn can fill in only positions that come after every known one in raster "
                             f"order (row by row, left to right), but image {i} hides {where(int(first_missing[i]))} "
                             f"and keeps {where(int(last_known[i]))} after it; use a mask that hides the lower "
                             "part of the image (e.g. --mask bottom)")
        return int(first_missing.min()) // c

    def _guidance(self, guidance: float | None, labels: torch.Tensor | None) -> float:
        """The guidance scale to sample with (1 when there are no labels); ValueError when it cannot be used."""
        w = self.config.guidance if guidance is None else float(guidance)
        if not w >= 0:
            raise ValueError(f"guidance must be >= 0 (1 = the conditional model, 0 = unconditional), got {w}")
        if labels is None or w == 1:
            return 1.0
        if self.config.cond_drop == 0:
            raise ValueError(f"guidance {w:g} needs a pixelcnn trained with cond_drop > 0 (e.g. --cond-drop 0.1), "
                             "which also learns the unconditional model; this one was not: use guidance 1")
        return w

    def _fill(self, x: torch.Tensor, fill: torch.Tensor, labels: torch.Tensor | None, start: int,
              temperature: float | None, generator: torch.Generator | None,
              progress: ProgressHook | None, guidance: float | None = None) -> torch.Tensor:
        """Draw the positions of x where `fill` is True, pixel by pixel from pixel index `start` in raster
        order; x (b, c, h, w) is changed in place and returned.

        The gated network's layer inputs are cached as they are computed (sampler.py), so each row costs one row
        of each vertical convolution and each pixel a few small matrix products per layer; the multiscale network
        reruns its raster stream on the corner of the image up to each pixel (multiscale.CroppedSampler). The
        logits equal those of the full network (tests/models/pixelcnn). On a CPU the loop runs on one thread:
        its operations are far too small to share, and waking a second thread for each would cost more than it
        does.

        With guidance w != 1 the cache holds each image twice, with its label and with none (-1), and each
        position is drawn from log p_u + w (log p_c - log p_u), then written to both copies."""
        tau = self.config.temperature if temperature is None else float(temperature)
        check_options(tau, 0, 1.0)
        scale = self._guidance(guidance, labels)  # w of the docstring
        (c, h, w) = self.shape
        pixels = range(start, h * w)
        if progress:
            progress("pixel", 0, len(pixels))
        if not pixels:
            return x
        b = x.shape[0]
        twice = scale != 1
        with one_thread(x.device):
            x_in = 2.0 * x - 1.0
            if twice:
                x_in, labels = torch.cat([x_in, x_in]), torch.cat([labels, torch.full_like(labels, -1)])
            cache = (CroppedSampler if self.config.arch == "multiscale" else CachedSampler)(self.net, x_in, labels)
            r0 = start // w
            for r in range(r0):  # the known rows above the first pixel to draw
                cache.start_row(r)
            for j in range(r0 * w, h * w):
                r, q = divmod(j, w)
                if q == 0:
                    cache.start_row(r)
                feats = cache.features(q)  # (b, f) (2b with guidance)
                if j < start:  # a known pixel of the first row: its features feed the next pixels only
                    continue
                for i in range(c):
                    logp = self._log_masses(cache.logits(feats, r, q)[:, i].float())
                    if twice:
                        cond, uncond = logp[:b].log_softmax(-1), logp[b:].log_softmax(-1)
                        logp = uncond + scale * (cond - uncond)
                    value = self._value(draw(logp, temperature=tau, generator=generator))
                    x[:, i, r, q] = torch.where(fill[:, i, r, q], value, x[:, i, r, q])
                    drawn = 2.0 * x[:, i, r, q] - 1.0
                    cache.set_pixel(r, q, i, torch.cat([drawn, drawn]) if twice else drawn)
                if progress:
                    progress("pixel", j - start + 1, len(pixels))
        return x

    def _log_masses(self, logits: torch.Tensor) -> torch.Tensor:
        """(b, K) outputs of the head -> (b, V) unnormalized log-probabilities of the V values a position takes:
        the 256 levels, or 0 / 1 of a Bernoulli (its softmax over (0, l) is Bernoulli(sigmoid(l)))."""
        if self.config.likelihood == "bernoulli":
            return torch.cat([torch.zeros_like(logits), logits], -1)
        if self.config.likelihood == "logistic":  # the mixture's mass on each of the 256 levels, (b, 256)
            return discretized_logistic_mixture_log_likelihood(
                LEVELS.to(logits.device).view(1, 256), *(p.unsqueeze(1) for p in self._mixture(logits, 1)))
        return logits

    def _value(self, index: torch.Tensor) -> torch.Tensor:
        """(b,) drawn value indices -> values in [0, 1]: a level k / 255, or a Bernoulli 0 / 1."""
        return index.float() if self.config.likelihood == "bernoulli" else index.float() / 255.0


__all__ = ["PRESETS", "PixelCNN", "PixelCNNConfig"]
