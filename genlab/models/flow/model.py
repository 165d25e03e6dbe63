"""The `flow` family: a multi-scale normalizing flow for images in the style of Glow (Kingma & Dhariwal
2018) and RealNVP (Dinh et al. 2017), with uniform or variational dequantization (Flow++, Ho et al. 2019).

Notation: pixels y in [0, 1]^D (dequantized 8-bit data); v = Logit(y); f the flow, z = f(v) the
latent, standard normal. Change of variables:
    log p(y) = log N(z; 0, I) + log|det dz/dv| + log|det dv/dy|
and each layer adds its log-determinant (layers.py). Per level l = 1..L: squeeze (c, h, w) ->
(4c, h/2, w/2); K steps of ActNorm -> invertible 1x1 conv -> affine coupling; then, except at the last
level, a GaussianSplit factors half the channels out under a learned prior conditioned on the other half
(Glow's split2d). The last level's output is under N(0, I). `encode` concatenates all factored-out parts.

Units: `nll(y)` returns -log p(y) in nats of the density on [0, 1]^D at the (dequantized) y it is given,
the "continuous" convention of genlab.eval.likelihood, which adds D log 256 to get a bound on the 8-bit
NLL. With variational dequantization `nll` takes the 8-bit level k = floor(256 y) and returns one sample of
-log p((k + u) / 256) + log q(u|k), u ~ q(u|k): with D log 256 added, an upper bound on -log P(k); with
`k_samples` = S > 1 draws u_1..u_S it returns the importance-weighted bound -log (1/S) sum_s p((k + u_s) / 256)
/ q(u_s|k), tighter as S grows (as IWAE, Burda et al. 2016; the `k` of genlab.eval.likelihood).
`training_losses` reports bits/dim of that discrete bound: (nll + D log 256) / (D ln 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec
from genlab.models.base import GenerativeModel, Samples
from genlab.models.flow.dequantize import VariationalDequantizer
from genlab.models.flow.layers import ClassPrior, FlowStep, GaussianSplit, Logit, squeeze, unsqueeze
from genlab.nn.distributions import LOG_2PI, bits_per_dim, dequantize, discrete_nats_from_density

PRESETS: dict[str, dict[str, int]] = {
    "default": {"levels": 2, "steps_per_level": 8, "hidden": 64, "dequant_hidden": 32},
    "tiny": {"levels": 2, "steps_per_level": 2, "hidden": 8, "dequant_hidden": 8},
}


@dataclass(frozen=True)
class FlowConfig:
    """Options of `flow`.

    Args:
        preset: sizes: "default" (2 levels of 8 steps, 64 hidden channels) or "tiny" (for tests).
        levels: scales L; height and width must be divisible by 2 ** L (0 = the preset's).
        steps_per_level: flow steps K per level (0 = the preset's).
        hidden: channels of each coupling network (0 = the preset's).
        dequantization: "uniform" (u ~ U[0, 1)^D, Theis et al. 2016) or "variational" (a learned
            conditional flow q(u|x), Flow++); both give an upper bound on the 8-bit NLL.
        dequant_steps: couplings of the variational dequantizer's flow.
        dequant_hidden: channels of the variational dequantizer's networks (0 = the preset's).
        logit_alpha: a in the logit transform v = logit(a + (1 - 2a) y) (RealNVP); 0 = no logit, v = y - 1/2.
        temperature: default sampling temperature T: z ~ N(0, T^2 I) (Glow uses 0.7 for its pictures).
        zero_init: start the last conv of every coupling and prior network at zero, so each step starts
            as ActNorm + 1x1 conv (Glow); False keeps PyTorch's default initialization.
        conditional: a learned Gaussian per class on the top level's latent (Glow's class-conditional prior):
            p(x | y), sampling by class (`--label`); needs labelled data.
        log_scale_bound: c in the soft bound c tanh(. / c) on every coupling's log-scale (kept in (-c, 0])
            and every split prior's log-standard-deviation (in (-c, c)); 0 = unbounded, as in Glow. Without
            it a flow that trains well can give one unusual test image an astronomical NLL (docs/FLOWS.md).
            Runs saved before the option existed load with 0, the function they were trained as.
    """

    SAVED_BEFORE: ClassVar[dict[str, Any]] = {"log_scale_bound": 0.0}  # options a run saved earlier lacks

    preset: Literal["default", "tiny"] = "default"
    levels: int = bounded(0, ge=0)
    steps_per_level: int = bounded(0, ge=0)
    hidden: int = bounded(0, ge=0)
    dequantization: Literal["uniform", "variational"] = "uniform"
    dequant_steps: int = bounded(2, ge=0)
    dequant_hidden: int = bounded(0, ge=0)
    logit_alpha: float = bounded(0.05, ge=0, lt=0.5)
    temperature: float = bounded(1.0, ge=0)
    zero_init: bool = True
    log_scale_bound: float = bounded(6.0, ge=0)
    conditional: bool = False

    def sizes(self) -> dict[str, int]:
        """levels, steps_per_level, hidden and dequant_hidden: the preset's, with the options that are set."""
        return {k: getattr(self, k) or v for k, v in PRESETS[self.preset].items()}


def check_invertible(shape: tuple[int, int, int], levels: int) -> None:
    """ValueError (one line) unless every squeeze of a `levels`-level flow halves (h, w) exactly."""
    _, h, w = shape
    f = 2 ** levels
    if h % f or w % f:
        most = 0
        while h % 2 ** (most + 1) == 0 and w % 2 ** (most + 1) == 0:
            most += 1
        fix = f"use levels <= {most}" if most else "pad or resize the images to an even size"
        raise ValueError(f"a flow with {levels} levels squeezes the image {levels} times, so height and width "
                         f"must be divisible by {f}, got {h}x{w}; {fix}")


class Level(nn.Module):
    """One scale: K flow steps on the squeezed input, then (except at the top) a GaussianSplit."""

    def __init__(self, channels: int, steps: int, hidden: int, split: bool, zero_init: bool,
                 log_scale_bound: float = 0.0):
        super().__init__()
        self.steps = nn.ModuleList(FlowStep(channels, hidden, zero_init, log_scale_bound) for _ in range(steps))
        self.split = GaussianSplit(channels, zero_init, log_scale_bound) if split else None


class Flow(GenerativeModel):
    """Multi-scale Glow-style flow: exact log-likelihood, exact encode/decode, temperature sampling."""

    family: ClassVar[str] = "flow"
    Config: ClassVar[type] = FlowConfig
    likelihood_kind: ClassVar[str] = "continuous"  # a density of dequantized pixels on [0, 1]^D

    def __init__(self, config: FlowConfig, spec: DataSpec):
        super().__init__(config, spec)
        s = config.sizes()
        check_invertible(self.shape, s["levels"])
        c, h, w = self.shape
        self.logit = Logit(config.logit_alpha)
        self.levels = nn.ModuleList()
        self.latent_shapes: list[tuple[int, int, int]] = []  # what each level factors out, (c, h, w)
        for level in range(s["levels"]):
            c, h, w = 4 * c, h // 2, w // 2
            top = level == s["levels"] - 1
            self.levels.append(Level(c, s["steps_per_level"], s["hidden"], not top, config.zero_init,
                                     config.log_scale_bound))
            kept = c if top else c // 2
            self.latent_shapes.append((c - kept if not top else c, h, w))
            c = c if top else kept
        if config.conditional and self.num_classes < 2:
            raise ValueError("a conditional flow needs labelled data with at least 2 classes; train on a labelled "
                             "dataset or drop --conditional")
        self.class_prior = (ClassPrior(self.num_classes, self.latent_shapes[-1], config.log_scale_bound)
                            if config.conditional else None)
        self.dequantizer = (VariationalDequantizer(self.shape[0], s["dequant_hidden"], config.dequant_steps,
                                                   config.zero_init)
                            if config.dequantization == "variational" else None)

    @property
    def likelihood_exact(self) -> bool:
        """Uniform dequantization: the exact density of y; variational: a bound (one or S samples)."""
        return self.dequantizer is None

    @property
    def likelihood_dequantization(self) -> str:
        """How nll dequantizes the 8-bit pixels: "uniform" or "variational" (the config's choice)."""
        return self.config.dequantization

    @property
    def likelihood_options(self) -> tuple[str, ...]:
        """("k",) with variational dequantization: importance samples of u; none with uniform (exact)."""
        return () if self.dequantizer is None else ("k",)

    @property
    def dims(self) -> int:
        return math.prod(self.shape)

    # --- the bijection y <-> z ----------------------------------------------------------------
    def forward_flow(self, y: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixels y (b, c, h, w) in [0, 1] -> (z (b, D) flat latent, log|det dz/dy| (b,)), in the weights' dtype;
        a conditional flow whitens the top level's latent by the prior of each image's class (labels (b,))."""
        x, logdet = self.logit(y.to(self.levels[0].steps[0].conv.log_s.dtype))
        zs = []
        for level in self.levels:
            x = squeeze(x)
            for step in level.steps:
                x, ld = step(x)
                logdet = logdet + ld
            if level.split is not None:
                x, ld = level.split(x)
                logdet = logdet + ld
                x, z = x.chunk(2, dim=1)  # keep the first half, factor out the whitened second half
                zs.append(z.flatten(1))
        if self.class_prior is not None:
            x, ld = self.class_prior(x, labels)
            logdet = logdet + ld
        zs.append(x.flatten(1))
        return torch.cat(zs, dim=1), logdet

    def inverse_flow(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Flat latents z (b, D) -> pixels y (b, c, h, w) (not clamped); labels (b,) for a conditional flow."""
        parts = z.split([math.prod(s) for s in self.latent_shapes], dim=1)
        x = None
        for level, part, shape in zip(reversed(self.levels), reversed(parts), reversed(self.latent_shapes)):
            part = part.reshape(-1, *shape)
            if x is None and self.class_prior is not None:
                part = self.class_prior.inverse(part, labels)
            x = part if x is None else level.split.inverse(torch.cat([x, part], dim=1))
            for step in reversed(level.steps):
                x = step.inverse(x)
            x = unsqueeze(x)
        return self.logit.inverse(x)

    def log_density(self, y: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """log p(y) (b,) nats of the density on [0, 1]^D (log p(y | labels) for a conditional flow)."""
        z, logdet = self.forward_flow(y, labels)
        return (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(1) + logdet

    # --- the contract -------------------------------------------------------------------------
    def nll(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
            generator: torch.Generator | None = None, k: int = 1) -> torch.Tensor:
        """(b,) nats: -log p(x) of dequantized pixels x in [0, 1]^D (uniform), or with variational
        dequantization the bound -log (1/k) sum_s p((l + u_s) / 256) / q(u_s|l), u_s ~ q(u|l), l = floor(256 x)
        the 8-bit level (k = 1: one sample of -log p + log q; see the module docstring). A conditional flow
        gives -log p(x | y) and needs the labels y."""
        y = self.check_labels(y, x.shape[0])
        if self.dequantizer is None:
            return -self.log_density(x, y)
        if k < 1:
            raise ValueError(f"k (importance samples) must be >= 1, got {k}")
        level = (x * 256.0).floor().clamp(0.0, 255.0)  # the 8-bit level of x = (l + u) / 256 or of x = l / 255
        log_w = []
        for _ in range(k):
            u, log_q = self.dequantizer(level / 255.0, generator)
            log_w.append(self.log_density((level + u) / 256.0, y) - log_q)
        if k == 1:
            return -log_w[0]
        return -(torch.logsumexp(torch.stack(log_w), 0) - math.log(k))

    def bits_per_dim(self, nll: torch.Tensor) -> torch.Tensor:
        """Density nats (b,) -> bits/dim of the bound on the 8-bit NLL: (nll + D log 256) / (D ln 2)."""
        return bits_per_dim(discrete_nats_from_density(nll, self.dims), self.dims)

    def training_losses(self, batch: Batch, *, generator=None, player=None) -> dict[str, torch.Tensor]:
        """{"loss": mean bits/dim of the dequantized bound (what is minimized), "bpd": the same, detached}."""
        y = dequantize(batch.x, generator).to(batch.x.dtype)  # the variational dequantizer reads k back from y
        bpd = self.bits_per_dim(self.nll(y, batch.y if self.conditional else None, generator=generator)).mean()
        return {"loss": bpd, "bpd": bpd.detach()}

    @torch.no_grad()
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images x (b, c, h, w) in [0, 1] -> z = f(x) (b, D), all factored-out parts concatenated (given the
        labels y of a conditional flow)."""
        return self.forward_flow(x, self.check_labels(y, x.shape[0]))[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z (b, D) -> images f^-1(z) (b, c, h, w), clamped to [0, 1] (exact inside it; labels y of a conditional
        flow)."""
        return self.inverse_flow(z, self.check_labels(y, z.shape[0])).clamp(0.0, 1.0)

    @torch.no_grad()
    def sample(self, n: int, *, cond=None, generator: torch.Generator | None = None,
               temperature: float | None = None) -> Samples:
        """n images f^-1(z), z ~ N(0, T^2 I); T = `temperature` or the config's (T = 0: the decoded zero latent);
        a conditional flow draws for `cond` (labels; None: every class in turn)."""
        t = self.config.temperature if temperature is None else float(temperature)
        if not (t >= 0 and math.isfinite(t)):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
        labels = self.labels_for(n, cond)
        z = torch.randn(n, self.dims, generator=generator, device=self.device) * t
        x = self.decode(z, labels)
        for _ in range(REDRAWS):  # a far-tail z can overflow f^-1 in float32 (an under-trained coupling's
            bad = ~torch.isfinite(x.flatten(1)).all(1)  # 1 / scale reaches e^88): draw those again
            if not bad.any():
                break
            z = torch.randn(int(bad.sum()), self.dims, generator=generator, device=self.device) * t
            x[bad] = self.decode(z, None if labels is None else labels[bad])
        else:
            if not torch.isfinite(x).all():
                raise ValueError(f"{int((~torch.isfinite(x.flatten(1)).all(1)).sum())} of {n} samples overflow "
                                 f"float32 after {REDRAWS} redraws: the flow is far from trained; train longer "
                                 "or sample at a lower temperature (e.g. --option temperature=0.7)")
        return Samples(x, labels)


REDRAWS = 10  # times Flow.sample draws again the samples whose inverse overflowed

__all__ = ["Flow", "FlowConfig", "PRESETS", "REDRAWS", "check_invertible"]
