"""Image grids with a short caption under every image (what a classifier says, a distance, a scale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

CAPTION_HEIGHT = 12  # pixels of one line of PIL's built-in bitmap font, with a margin


def _cell(image: np.ndarray, caption: str, width: int) -> np.ndarray:
    """One (h + CAPTION_HEIGHT, width, 3) cell: the image centred above its caption (cut to fit)."""
    from PIL import Image, ImageDraw

    h, w, _ = image.shape
    cell = Image.new("RGB", (width, h + CAPTION_HEIGHT), "white")
    cell.paste(Image.fromarray(image), ((width - w) // 2, 0))
    draw = ImageDraw.Draw(cell)
    text = caption
    while text and draw.textlength(text) > width - 2:
        text = text[:-1]
    draw.text(((width - draw.textlength(text)) // 2, h + 1), text, fill="black")
    return np.asarray(cell)


def captioned_grid(images: torch.Tensor, captions: list[str], nrow: int | None = None, scale: int = 2,
                   pad: int = 2) -> np.ndarray:
    """(H, W, 3) uint8: (n, c, h, w) images in [0, 1] scaled `scale` times, each with its caption below,
    `nrow` per row; cells are at least wide enough for 9 characters."""
    from genlab.viz.grid import make_grid, to_uint8

    if len(captions) != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {len(captions)} captions")
    arr = to_uint8(images)
    if arr.shape[3] == 1:
        arr = np.repeat(arr, 3, axis=3)
    arr = arr.repeat(scale, axis=1).repeat(scale, axis=2)
    n, _, w, _ = arr.shape
    cells = np.stack([_cell(arr[i], captions[i], max(w, 6 * 9)) for i in range(n)])  # (n, h', w', 3)
    return make_grid(torch.from_numpy(cells).permute(0, 3, 1, 2).float() / 255.0, nrow, pad=pad)


def save_captioned_grid(images: torch.Tensor, captions: list[str], path: str | Path, nrow: int | None = None,
                        scale: int = 2) -> Path:
    """Write `captioned_grid` as a PNG atomically; returns the path."""
    from genlab.io import atomic_write_bytes
    from genlab.viz.grid import png_bytes

    path = Path(path)
    atomic_write_bytes(path, png_bytes(captioned_grid(images, captions, nrow, scale)))
    return path


__all__ = ["CAPTION_HEIGHT", "captioned_grid", "save_captioned_grid"]
