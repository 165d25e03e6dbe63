"""Inpainting for any model with the "inpaint" capability (today: `ddpm`, by RePaint resampling, and
`pixelcnn`, exactly, for masks that hide the lower part of an image).

Mask convention: 1 (white in a mask image) marks the pixels to fill in, 0 (black) the pixels to keep.
The result equals the input exactly wherever the mask is 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genlab.models.base import Inpaint

MASK_NAMES = ("left", "right", "top", "bottom", "center", "noise")


def inpaint_families() -> list[str]:
    from genlab.models import families_with

    return families_with("inpaint")


def named_mask(name: str, shape: tuple[int, int, int], generator: torch.Generator | None = None) -> torch.Tensor:
    """A built-in (1, 1, h, w) mask: "left"/"right"/"top"/"bottom" half, a "center" square of half the
    size, or "noise" (half the pixels at random)."""
    _, h, w = shape
    m = torch.zeros(1, 1, h, w)
    if name == "left":
        m[..., : w // 2] = 1
    elif name == "right":
        m[..., w // 2:] = 1
    elif name == "top":
        m[..., : h // 2, :] = 1
    elif name == "bottom":
        m[..., h // 2:, :] = 1
    elif name == "center":
        m[..., h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2] = 1
    elif name == "noise":
        m = (torch.rand(1, 1, h, w, generator=generator) < 0.5).float()
    else:
        raise ValueError(f"unknown mask {name!r}; valid: a PNG path or one of {list(MASK_NAMES)}")
    return m


def load_image(path: str | Path, shape: tuple[int, int, int], *, resize: bool = True) -> torch.Tensor:
    """A PNG/JPEG/BMP/WebP as (1, c, h, w) floats in [0, 1], converted to the model's channels and resized to
    (h, w) (with resize=False, an image of another size is a ValueError). Read as `folder:` data is
    (genlab.data.folder: only those formats, no decompression bombs, 16-bit greyscale scaled); an unreadable
    file is a DataError naming it."""
    from PIL import Image

    from genlab.data.base import DataError
    from genlab.data.common import one_line
    from genlab.data.folder import open_image, to_8bit

    c, h, w = shape
    path = Path(path)
    if not path.exists():
        raise ValueError(f"image {str(path)!r} does not exist")
    with open_image(path) as opened:
        try:
            img = to_8bit(opened, path).convert("L" if c == 1 else "RGB")
        except DataError:
            raise
        except Exception as e:  # a damaged file fails only when its data is decoded
            raise DataError(f"{path}: cannot decode image ({one_line(e)})") from None
    if img.size != (w, h) and not resize:
        raise ValueError(f"{path} is {img.size[0]}x{img.size[1]}; this model takes {w}x{h} images only: resize or "
                         f"crop it to {w}x{h} first")
    if img.size != (w, h):
        img = img.resize((w, h), Image.BILINEAR)
    import numpy as np

    x = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()) / 255.0
    return x.view(h, w, c).permute(2, 0, 1).unsqueeze(0)


def load_mask(spec: str, shape: tuple[int, int, int], generator: torch.Generator | None = None) -> torch.Tensor:
    """(1, 1, h, w) mask from a built-in name or an image file (white, > 0.5, = fill in)."""
    if spec in MASK_NAMES:
        return named_mask(spec, shape, generator)
    if not Path(spec).exists():
        raise ValueError(f"mask {spec!r} is neither an image file nor one of {list(MASK_NAMES)}")
    gray = load_image(spec, (1, *shape[1:]))
    return (gray > 0.5).float()


def inpaint(model: torch.nn.Module, x: torch.Tensor, mask: torch.Tensor, *, cond: Any = None,
            generator: torch.Generator | None = None, **options: Any) -> torch.Tensor:
    """Fill in the masked pixels of x with `model` ("inpaint" capability).

    Args:
        x: (b, c, h, w) in [0, 1] (or one (c, h, w) image).
        mask: broadcastable to x; 1 = fill in, 0 = keep.
        cond: (b,) classes for a conditional model (None: unconditional).
        options: the family's inpainting options (ddpm: steps, jump_length, resample, guidance;
            pixelcnn: temperature).
    Returns:
        (b, c, h, w) in [0, 1], equal to x where mask is 0.
    """
    if not isinstance(model, Inpaint):
        raise ValueError(f"{type(model).__name__} cannot inpaint; families that can: {', '.join(inpaint_families())}")
    return model.inpaint(x, mask, cond=cond, generator=generator, **options)


__all__ = ["MASK_NAMES", "inpaint", "inpaint_families", "load_image", "load_mask", "named_mask"]
