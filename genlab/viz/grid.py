"""Image grids as uint8 arrays and PNG files."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(n, c, h, w) floats in [0, 1] -> (n, h, w, c) uint8."""
    x = images.detach().float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def make_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile (n, c, h, w) images in [0, 1] into one (H, W, 3) uint8 array, `nrow` images per row."""
    arr = to_uint8(images)
    n, h, w, c = arr.shape
    if c == 1:
        arr = np.repeat(arr, 3, axis=3)
    elif c != 3:
        raise ValueError(f"make_grid needs 1 or 3 channels, got {c}")
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = arr[i]
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    return grid


def png_bytes(grid: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    return buf.getvalue()


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None, scale: int = 1) -> Path:
    """Write a PNG grid of `images` atomically; returns the path."""
    from genlab.io import atomic_write_bytes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, png_bytes(make_grid(images, nrow, scale=scale)))
    return path
