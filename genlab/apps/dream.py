"""DeepDream: gradient ascent on the input of a classifier (Mordvintsev, Olah & Tyka 2015, "Inceptionism").

Notation: x (b, c, h, w) the image in [0, 1]; a(x) the objective, either the mean activation of a layer
(or of one of its channels / units) or a class logit f_k(x). The ascent maximises

    J(x) = a(S(x)) - lambda_tv TV(x),

with S a random translation by up to `jitter` pixels, redrawn every step (torch.roll), and TV the mean
absolute difference of neighbouring pixels (total variation, Mahendran & Vedaldi 2015). Each step moves by
the gradient normalised by its mean absolute value, x <- clip(x + lr g / mean|g|, 0, 1), each image by its
own mean (the original DeepDream step; a batch dreams as its images would one by one). It is projected
gradient ascent: the components of g that push a pixel already at 0 or 1 out of [0, 1] are dropped before
the normalisation (they could not move it, and would shrink the step of the pixels that can). It may then
blur what the octave has added so far (a Gaussian of std `blur` pixels, Yosinski et al. 2015): two
smoothness priors.

Octaves (multi-scale, coarse to fine): octave o of O moves the image only by upsampled (bilinear) detail
images of size (h, w) / scale^(O - 1 - o): each step is x <- clip(x + up(lr g_o / mean|g_o|), 0, 1), with
g_o = up^T g the full-size gradient pooled by up's adjoint. The classifier's dense layers take one image size
only, so rather than shrinking the image (the original recipe for fully convolutional nets) the coarse
octaves shrink what they may change: the first octaves draw coarse shapes, the last ones strokes and texture.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

Objective = Callable[[torch.Tensor], torch.Tensor]  # (b, c, h, w) -> (b,) scores to maximise


def dream_layers(net: nn.Module) -> dict[str, nn.Module]:
    """The layers a dream can target: every ReLU by its module path ("body.2", ...), and for genlab's
    classifier also conv1, conv2, ... (the ReLU of each conv block) and features (the penultimate layer)."""
    relus = {name: m for name, m in net.named_modules() if isinstance(m, nn.ReLU)}
    # genlab's classifier (genlab.eval.classifier.ClassifierNet, not imported: apps and eval sit side by side)
    # is a `body` of conv blocks and an `embed` head
    if not (isinstance(getattr(net, "body", None), nn.Module) and isinstance(getattr(net, "embed", None), nn.Module)):
        return relus
    convs = [m for name, m in relus.items() if name.startswith("body.")]
    named = {f"conv{i + 1}": m for i, m in enumerate(convs)}
    named["features"] = [m for name, m in relus.items() if name.startswith("embed.")][-1]
    return {**named, **relus}


def layer_objective(net: nn.Module, layer: str, channel: int | None = None) -> Objective:
    """a(x) = the mean activation of `layer` (one of `dream_layers(net)`), or of its channel / unit `channel`.

    Returns a function (b, c, h, w) -> (b,)."""
    layers = dream_layers(net)
    if layer not in layers:
        raise ValueError(f"unknown layer {layer!r}; valid: {', '.join(layers)}")
    module = layers[layer]

    def objective(x: torch.Tensor) -> torch.Tensor:
        seen: list[torch.Tensor] = []
        handle = module.register_forward_hook(lambda _m, _i, out: seen.append(out))
        try:
            net(x)
        finally:
            handle.remove()
        act = seen[-1]  # (b, C, h', w') or (b, C)
        if channel is not None:
            if not 0 <= channel < act.shape[1]:
                raise ValueError(f"layer {layer} has {act.shape[1]} channels; --channel must be in [0, {act.shape[1]})")
            act = act[:, channel]
        return act.flatten(1).mean(1)

    return objective


def class_objective(net: nn.Module, k: int) -> Objective:
    """a(x) = f_k(x), the logit of class k (the network's output)."""

    def objective(x: torch.Tensor) -> torch.Tensor:
        logits = net(x)  # (b, K)
        if not 0 <= k < logits.shape[1]:
            raise ValueError(f"the classifier has {logits.shape[1]} classes; the target class must be in "
                             f"[0, {logits.shape[1]})")
        return logits[:, k]

    return objective


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """(b,) mean absolute difference between vertically and horizontally neighbouring pixels."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    dw = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    return dh + dw


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of std `sigma` pixels (reflect padding), same shape; identity for sigma <= 0."""
    if sigma <= 0:
        return x
    radius = max(1, min(math.ceil(3 * sigma), min(x.shape[-2:]) - 1))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    out = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1),
                   groups=c)
    return F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1),
                    groups=c)


def octave_sizes(h: int, w: int, octaves: int, scale: float) -> list[tuple[int, int]]:
    """The detail sizes of the octaves, coarse to fine; the last is (h, w)."""
    return [(max(1, round(h / scale ** (octaves - 1 - o))), max(1, round(w / scale ** (octaves - 1 - o))))
            for o in range(octaves)]


@dataclass
class Dream:
    """What `dream` returns.

    Attributes:
        x: (b, c, h, w) the final images.
        octaves: the images after each octave, coarse to fine (the last is x).
        objective: the mean a(x) over the batch before every step and at the end (unjittered).
        total: the same for J(x), the objective minus the TV penalty.
    """

    x: torch.Tensor
    octaves: list[torch.Tensor] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)


def _jitter(x: torch.Tensor, jitter: int, generator: torch.Generator | None) -> torch.Tensor:
    if jitter <= 0:
        return x
    dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def _scores(objective: Objective, x: torch.Tensor, tv: float) -> tuple[float, float]:
    with torch.no_grad():
        a = objective(x)
        return float(a.mean()), float((a - tv * total_variation(x)).mean())


def dream(objective: Objective, x: torch.Tensor, *, steps: int = 20, lr: float = 0.05, octaves: int = 3,
          octave_scale: float = 1.5, jitter: int = 2, tv: float = 0.0, blur_sigma: float = 0.0,
          generator: torch.Generator | None = None) -> Dream:
    """Gradient ascent of `objective` on the images x (DeepDream), coarse to fine over `octaves`.

    Args:
        objective: (b, c, h, w) -> (b,) scores (`layer_objective`, `class_objective`); its network in eval mode.
        x: (b, c, h, w) start images in [0, 1] (test images, or noise).
        steps: ascent steps per octave.
        lr: step size, in units of the gradient's mean absolute value.
        octaves: number of scales (1 = full resolution only).
        octave_scale: size ratio between neighbouring octaves (> 1).
        jitter: largest random translation, pixels (0 = none).
        tv: weight of the total variation penalty (0 = none).
        blur_sigma: blur what the octave has added after every step by a Gaussian of this std, pixels (0 = none).
        generator: draws the jitter.
    """
    if x.ndim != 4:
        raise ValueError(f"dream takes (b, c, h, w) images, got shape {tuple(x.shape)}")
    if steps < 0 or octaves < 1 or octave_scale <= 1 or lr <= 0 or jitter < 0 or tv < 0 or blur_sigma < 0:
        raise ValueError("dream needs steps >= 0, octaves >= 1, octave_scale > 1, lr > 0, and jitter, tv, "
                         "blur_sigma >= 0")
    h, w = x.shape[-2:]
    current = x.detach().float().clamp(0, 1)
    try:
        objective(current)
    except RuntimeError as e:  # a dense layer of another size: one line naming what would work
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"the network cannot take {tuple(x.shape[1:])} images ({first}); give images of the size "
                         "it was trained on") from None
    out = Dream(current)
    for size in octave_sizes(h, w, octaves, octave_scale):
        base = current  # the image this octave starts from; the blur prior smooths what the octave adds to it
        up = (lambda d: d) if size == (h, w) else (
            lambda d: F.interpolate(d, size=(h, w), mode="bilinear", align_corners=False))
        for _ in range(steps):
            a, total = _scores(objective, current, tv)
            out.objective.append(a)
            out.total.append(total)
            xs = current.clone().requires_grad_(True)
            j = (objective(_jitter(xs, jitter, generator)) - tv * total_variation(xs)).sum()
            (g,) = torch.autograd.grad(j, xs)
            g = torch.where(((current >= 1) & (g > 0)) | ((current <= 0) & (g < 0)), 0.0, g)  # can't move: drop
            d = torch.zeros(*x.shape[:2], *size, requires_grad=True)  # (b, c, h_o, w_o)
            (g,) = torch.autograd.grad((up(d) * g).sum(), d)  # up's adjoint: the gradient pooled to the octave
            with torch.no_grad():
                step = lr * g / g.abs().flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)  # per image
                current = (current + up(step)).clamp(0, 1)
                if blur_sigma > 0:
                    current = (base + blur(current - base, blur_sigma)).clamp(0, 1)
        out.octaves.append(current)
    out.x = current
    a, total = _scores(objective, current, tv)
    out.objective.append(a)
    out.total.append(total)
    return out


def noise_images(n: int, shape: tuple[int, int, int], generator: torch.Generator | None = None, *,
                 mean: float = 0.1, spread: float = 0.2) -> torch.Tensor:
    """(n, c, h, w) start images for a dream from nothing: uniform noise in mean +- spread / 2 (dark by default,
    as the backgrounds of MNIST-like data)."""
    return (mean + spread * (torch.rand(n, *shape, generator=generator) - 0.5)).clamp(0, 1)


__all__ = ["Dream", "Objective", "blur", "class_objective", "dream", "dream_layers", "layer_objective",
           "noise_images", "octave_sizes", "total_variation"]
