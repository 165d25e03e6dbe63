"""Codes of many images through the "latent" capability (encode/decode), in batches: what search and
latent arithmetic share. z = encode(x) is the family's code (a VAE's posterior mean, PCA's projection)."""

from __future__ import annotations

import torch

from genlab.models.base import Latent


def require_latent(model: torch.nn.Module, what: str, hint: str = "") -> None:
    """ValueError naming the families that would work when `model` cannot `what` by its latent codes: it needs
    encode/decode, unconditional (a conditional model's code depends on a label that a query has not got), unless its
    codes ignore the label (a class prior on shared codes: label_free_codes)."""
    from genlab.models import families_with

    family = getattr(model, "family", type(model).__name__)
    if not isinstance(model, Latent):
        raise ValueError(f"{what} needs a model with a latent space (encode/decode); a {family} model has none. "
                         f"Families that have one: {', '.join(families_with('latent'))}{hint}")
    if getattr(model, "conditional", False) and not getattr(model, "label_free_codes", False):
        raise ValueError(f"{what} needs an unconditional model: this {family} model's codes depend on the class "
                         "label; train one with --no-conditional (the cpu preset's flow is conditional on labelled "
                         "data)")


def check_images(x: torch.Tensor, shape: tuple[int, ...], name: str = "images") -> torch.Tensor:
    """x as a (n, c, h, w) float batch, or ValueError naming the shape that would work."""
    x = torch.as_tensor(x)
    if x.shape == torch.Size(shape):
        x = x.unsqueeze(0)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} must be of shape (n, {', '.join(map(str, shape))}) (the model's images), "
                         f"got {tuple(x.shape)}")
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def _batched(fn, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    outs = [fn(x[i:i + batch_size]).float() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(outs) if outs else torch.zeros(0)


@torch.no_grad()
def encode_images(model: torch.nn.Module, x: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """(n, c, h, w) images -> (n, d) codes (float32, the model's device), in batches, in eval mode."""
    require_latent(model, "encoding")
    x = check_images(x, tuple(model.shape))
    if x.shape[0] == 0:
        return torch.zeros(0, 0)
    device = next((t.device for t in [*model.parameters(), *model.buffers()]), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        z = _batched(lambda xb: model.encode(xb.to(device)).flatten(1), x, batch_size)
    finally:
        model.train(was_training)
    return z.reshape(x.shape[0], -1)


@torch.no_grad()
def decode_codes(model: torch.nn.Module, z: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """(n, d) codes -> (n, c, h, w) images in [0, 1], in batches, in eval mode."""
    require_latent(model, "decoding")
    was_training = model.training
    model.eval()
    try:
        x = _batched(model.decode, z.float(), batch_size)
    finally:
        model.train(was_training)
    return x.reshape(z.shape[0], *model.shape)


__all__ = ["check_images", "decode_codes", "encode_images", "require_latent"]
