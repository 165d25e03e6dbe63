"""Latent interpolation between two images, for any model with the "latent" capability.

Notation: z_a = f(x_a), z_b = f(x_b) are the codes of the two images (for a VAE, the posterior
mean mu); z_t for t in [0, 1] is either the straight line (1 - t) z_a + t z_b ("linear") or the
great-circle arc of spherical linear interpolation ("slerp", Shoemake 1985),

    slerp(z_a, z_b; t) = sin((1 - t) Omega) / sin(Omega) z_a + sin(t Omega) / sin(Omega) z_b,
    cos(Omega) = <z_a, z_b> / (|z_a| |z_b|),

which, unlike the straight line, does not pass close to the origin: under a N(0, I) prior, typical
codes lie near a sphere, and slerp keeps the intermediate codes there (White 2016, "Sampling
generative networks"). The images are g(z_t), the decoder's mean.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

from genlab.models.base import Latent

Method = Literal["linear", "slerp"]
METHODS: tuple[str, ...] = get_args(Method)

# Below this sin(Omega) the two directions are (anti)parallel and slerp's weights are 0/0: use the line.
_PARALLEL_SIN = 1e-4


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """(1 - t) a + t b.

    Args:
        a, b: (..., d) vectors.
        t: a float, or a tensor broadcastable against (..., 1), e.g. (steps, 1) for a (d,) pair.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    return a + t * (b - a)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical linear interpolation along the last dim (Shoemake 1985), linear where a and b are parallel.

    For |a| = |b| every result has that same norm; for unequal norms the arc's radius changes smoothly
    from |a| to |b| (the weights are those of the unit vectors, applied to a and b themselves).

    Args:
        a, b: (..., d) vectors.
        t: a float, or a tensor broadcastable against (..., 1), e.g. (steps, 1) for a (d,) pair.

    Returns:
        the broadcast shape of a, b and t (with t's trailing 1 spread over d).
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    a_hat = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b_hat = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos_omega = (a_hat * b_hat).sum(-1, keepdim=True).clamp(-1.0, 1.0)  # (..., 1)
    omega = torch.arccos(cos_omega)
    sin_omega = torch.sin(omega)
    parallel = sin_omega.abs() < _PARALLEL_SIN
    safe_sin = torch.where(parallel, torch.ones_like(sin_omega), sin_omega)
    w_a = torch.sin((1.0 - t) * omega) / safe_sin
    w_b = torch.sin(t * omega) / safe_sin
    arc = w_a * a + w_b * b
    return torch.where(parallel, lerp(a, b, t), arc)


def latent_families() -> list[str]:
    """The model families that have the "latent" capability (encode/decode)."""
    from genlab.models import families_with

    return families_with("latent")


def _batch_of_one(x: torch.Tensor, shape: tuple[int, ...], name: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.shape == torch.Size(shape):
        x = x.unsqueeze(0)
    if x.shape != torch.Size((1, *shape)):
        raise ValueError(f"{name} must be one image of shape {tuple(shape)} (or (1, ...)), "
                         f"got {tuple(x.shape)}")
    return x


def _label(y: torch.Tensor | int | None, device: torch.device) -> torch.Tensor | None:
    return None if y is None else torch.as_tensor(y, device=device).long().reshape(1)


@torch.no_grad()
def interpolate(model: torch.nn.Module, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8, *,
                method: Method = "linear", y_a: torch.Tensor | int | None = None,
                y_b: torch.Tensor | int | None = None) -> torch.Tensor:
    """Decode `steps` evenly spaced points on the path from code(x_a) to code(x_b) (endpoints included).

    The first and last images are therefore the model's reconstructions of x_a and x_b. A conditional
    model decodes the first half of the path with y_a and the second half with y_b.

    Args:
        model: a model with the "latent" capability (encode/decode).
        x_a, x_b: one image each, (c, h, w) or (1, c, h, w), in the model's value range.
        steps: number of images, >= 2.
        method: "linear" or "slerp".
        y_a, y_b: class labels of x_a and x_b, needed by a conditional model (ignored otherwise).

    Returns:
        (steps, c, h, w) decoded images.
    """
    if not isinstance(model, Latent):
        raise ValueError(f"interpolation needs a model with the 'latent' capability (encode/decode); "
                         f"{type(model).__name__} lacks it. Families that have it: {latent_families()}")
    if method not in METHODS:
        raise ValueError(f"unknown interpolation method {method!r}; valid: {list(METHODS)}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (the two endpoints), got {steps}")
    shape = tuple(model.shape)
    device = next(model.parameters()).device
    x_a = _batch_of_one(x_a, shape, "x_a").to(device, torch.float32)
    x_b = _batch_of_one(x_b, shape, "x_b").to(device, torch.float32)
    conditional = model.conditional
    y_a, y_b = (_label(y_a, device), _label(y_b, device)) if conditional else (None, None)
    if conditional and (y_a is None or y_b is None):
        raise ValueError("this model is conditional: pass y_a and y_b, the class labels of x_a and x_b")

    was_training = model.training
    model.eval()
    try:
        z_a = model.encode(x_a, y_a).float()  # (1, ...)
        z_b = model.encode(x_b, y_b).float()
        code_shape = z_a.shape[1:]
        t = torch.linspace(0.0, 1.0, steps, device=device).unsqueeze(1)  # (steps, 1)
        path = slerp if method == "slerp" else lerp
        z_t = path(z_a.flatten(1), z_b.flatten(1), t)  # (steps, d)
        z_t = z_t.view(steps, *code_shape)
        if not conditional:
            return model.decode(z_t)
        y_t = torch.where(t.squeeze(1) < 0.5, y_a, y_b)  # (steps,)
        return model.decode(z_t, y_t)
    finally:
        model.train(was_training)


__all__ = ["METHODS", "Method", "interpolate", "latent_families", "lerp", "slerp"]
