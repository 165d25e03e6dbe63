"""Translate and upscale images with a model of image pairs (pix2pix, cyclegan, sr, srgan): written against the
image-pair data kind and the `sample(cond=sources)` capability, never per family.

- `translate(model, x)`: source images (b, c', h', w') -> the model's translations (cyclegan: `direction`
  "ab" or "ba").
- `upscale(model, x)`: low-res images -> high-res; only models whose targets are larger than their sources
  (super-resolution), and of any size, since those networks are convolutional.
- `read_image(path, model, ...)`: a PNG/JPEG as the (1, c', h', w') source the model takes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genlab.apps.inpaint import load_image
from genlab.models import require


def check_pairs_model(model: Any, what: str) -> None:
    """ValueError unless `model` samples translations of image pairs."""
    if model.spec.kind != "image-pair":
        from genlab.models import FAMILIES

        pairs = sorted(k for k, v in FAMILIES.items() if "image-pair" in v.data_kinds)
        it = "generates images from nothing" if model.spec.kind == "image" else f"models {model.spec.kind} data"
        raise ValueError(f"a {model.family} model {it}; to {what} train one of: {', '.join(pairs)}")
    require(model, "sample", what)


def scale_of(model: Any) -> int:
    """Target side / source side of the model's pairs (1 for translation at one size)."""
    return model.spec.shape[-1] // model.spec.source_shape[-1]


@torch.no_grad()
def translate(model: Any, x: torch.Tensor, *, direction: str | None = None) -> torch.Tensor:
    """Translations (b, c, h, w) in [0, 1] of the sources x (b, c', h', w') in [0, 1].

    Args:
        direction: cyclegan only: "ab" (A -> B, the default) or "ba".
    """
    check_pairs_model(model, "translate images")
    options = {} if direction is None else {"direction": direction}
    try:
        return model.sample(len(x), cond=x.to(model.device), **options).x.float().clamp(0, 1)
    except TypeError:
        if options:
            raise ValueError(f"a {model.family} model translates one way only; --direction is for cyclegan") from None
        raise


@torch.no_grad()
def upscale(model: Any, x: torch.Tensor) -> torch.Tensor:
    """x (b, c, h, w) in [0, 1] upscaled by the model's factor s: (b, c, s h, s w)."""
    check_pairs_model(model, "upscale images")
    if scale_of(model) < 2:
        raise ValueError(f"a {model.family} model translates at one size ({model.spec.source_shape[-1]} px); "
                         "upscale needs a super-resolution run (sr or srgan on sr2:DATASET or sr4:DATASET)")
    return translate(model, x)


def read_image(path: str | Path, model: Any, *, any_size: bool = False) -> torch.Tensor:
    """The image at `path` as a (1, c', h', w') source for `model`, converted to its channels; an image of
    another size than the model's sources is a one-line ValueError unless `any_size` (super-resolution)."""
    from genlab.data.folder import open_image

    c, h, w = model.spec.source_shape
    if any_size and Path(path).exists():
        with open_image(Path(path)) as im:
            w, h = im.size
    return load_image(path, (c, h, w), resize=False)


__all__ = ["check_pairs_model", "read_image", "scale_of", "translate", "upscale"]
