"""Can these features rank generative models on this data? Two reference image sets, scored by FID against the
real images with the same feature network:

- noise: every pixel drawn on its own from a Gaussian with the real images' per-pixel mean and standard
  deviation, clipped to [0, 1] (a sample of the diagonal Gaussian model: the data's brightness everywhere,
  no strokes, no shapes);
- blurred: the real images themselves through a 3x3 box blur (all of the data's structure, a little soft).

Features fit to rank samples give the noise a far larger FID than the blurred images. On MNIST genlab's
classifier features do (noise 257, blurred 18, measured on 2,000 test images); on scikit-learn's 8x8 digits
they do not (noise 50, blurred 57): a model that draws recognisable but soft digits scores WORSE than noise, so
FID and KID cannot rank models there. `fid_check` measures this once per feature network and data, and the
reports withhold FID and KID (and say why) where the noise is not at least `MARGIN` times further away than
the blurred images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

MARGIN = 2.0  # noise must be at least this many times further (in FID) than the blurred real images
CHECK_IMAGES = 1000  # real images the check uses (the first of the protocol's real subset)
_CACHE: dict[tuple, dict[str, Any]] = {}


def noise_like(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pixel-wise independent Gaussian noise with the per-pixel mean and std of images x (n, c, h, w) in [0, 1]."""
    mean, std = x.mean(0), x.std(0)
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    return (mean + std * z).clamp(0.0, 1.0)


def blurred(x: torch.Tensor) -> torch.Tensor:
    """Images x through a 3x3 box blur (edges padded by replication)."""
    c = x.shape[1]
    kernel = torch.full((c, 1, 3, 3), 1.0 / 9.0, dtype=x.dtype)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)


def fid_check(extractor: Any, dataset: str, real_images: torch.Tensor | Callable[[], torch.Tensor], *,
              key: tuple = ()) -> dict[str, Any]:
    """{"noise_fid", "blurred_fid", "reliable", "note", "images"}: the FIDs of the two references against
    `real_images` (at most CHECK_IMAGES of them; or a function loading them, called only when the answer is
    not cached) with `extractor`'s features; `reliable` when noise_fid >= MARGIN * blurred_fid. Cached in
    memory under `key` (the network, data and split)."""
    from genlab.eval.metrics import fid

    if key and key in _CACHE:
        return _CACHE[key]
    x = (real_images() if callable(real_images) else real_images)[:CHECK_IMAGES].float()
    real = extractor.features(x)
    noise = fid(real, extractor.features(noise_like(x, torch.Generator().manual_seed(0))))
    blur = fid(real, extractor.features(blurred(x)))
    reliable = bool(noise >= MARGIN * blur)
    note = (f"pixel noise scores FID {noise:.2f} and blurred real images {blur:.2f} with {extractor.name} features"
            + ("" if reliable else f": these features cannot tell noise from {dataset} images (noise is not "
               f"{MARGIN:g}x further away than blurred data), so FID and KID are withheld; compare precision, "
               "recall, class accuracy or a likelihood instead"))
    out = {"noise_fid": float(noise), "blurred_fid": float(blur), "reliable": reliable, "note": note,
           "images": len(x)}
    if key:
        _CACHE[key] = out
    return out


__all__ = ["CHECK_IMAGES", "MARGIN", "blurred", "fid_check", "noise_like"]
