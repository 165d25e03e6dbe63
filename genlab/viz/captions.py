"""Image grids with a short caption under every image (what a classifier says, a distance, a scale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

CAPTION_HEIGHT = 12  # pixels of one line of PIL's built-in bitmap font, with a margin


def _cell(image: np.ndarray, caption: str, width: int, lines: int = 1) -> np.ndarray:
    """One (h + lines * CAPTION_HEIGHT, width, 3) cell: the image centred above its caption, one line per
    "\n"-separated part (each cut to fit)."""
    from PIL import Image, ImageDraw

    h, w, _ = image.shape
    cell = Image.new("RGB", (width, h + lines * CAPTION_HEIGHT), "white")
    cell.paste(Image.fromarray(image), ((width - w) // 2, 0))
    draw = ImageDraw.Draw(cell)
    for i, text in enumerate(caption.split("\n")[:lines]):
        while text and draw.textlength(text) > width - 2:
            text = text[:-1]
        draw.text(((width - draw.textlength(text)) // 2, h + 1 + i * CAPTION_HEIGHT), text, fill="black")
    return np.asarray(cell)


def captioned_grid(images: torch.Tensor, captions: list[str], nrow: int | None = None, scale: int = 2,
                   pad: int = 2) -> np.ndarray:
    """(H, W, 3) uint8: (n, c, h, w) images in [0, 1] scaled `scale` times, each with its caption below,
    `nrow` per row; cells are at least wide enough for 9 characters. A caption with "\n" in it takes several
    lines (every cell then has room for the most lines)."""
    from genlab.viz.grid import make_grid, to_uint8

    if len(captions) != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {len(captions)} captions")
    arr = to_uint8(images)
    if arr.shape[3] == 1:
        arr = np.repeat(arr, 3, axis=3)
    arr = arr.repeat(scale, axis=1).repeat(scale, axis=2)
    n, _, w, _ = arr.shape
    lines = max((c.count("\n") + 1 for c in captions), default=1)
    cells = np.stack([_cell(arr[i], captions[i], max(w, 6 * 9), lines) for i in range(n)])  # (n, h', w', 3)
    return make_grid(torch.from_numpy(cells).permute(0, 3, 1, 2).float() / 255.0, nrow, pad=pad)


def save_captioned_grid(images: torch.Tensor, captions: list[str], path: str | Path, nrow: int | None = None,
                        scale: int = 2) -> Path:
    """Write `captioned_grid` as a PNG atomically; returns the path."""
    from genlab.io import atomic_write_bytes
    from genlab.viz.grid import png_bytes

    path = Path(path)
    atomic_write_bytes(path, png_bytes(captioned_grid(images, captions, nrow, scale)))
    return path


def prompt_rows(rows: list[tuple[str, torch.Tensor]], scale: int = 2, text_width: int = 240,
                pad: int = 2) -> np.ndarray:
    """(H, W, 3) uint8: one row per (prompt, images (m, c, h, w) in [0, 1]), the prompt written on the left
    (cut to fit text_width pixels), the images in a line to its right (text-to-image results)."""
    from PIL import Image, ImageDraw

    from genlab.viz.grid import make_grid

    strips = [make_grid(x, x.shape[0], pad=pad, scale=scale) for _, x in rows]
    strips = [np.repeat(s, 3, axis=2) if s.shape[2] == 1 else s for s in strips]
    width = text_width + max(s.shape[1] for s in strips)
    out = Image.new("RGB", (width, sum(s.shape[0] for s in strips)), "white")
    draw, y = ImageDraw.Draw(out), 0
    for (prompt, _), strip in zip(rows, strips):
        text = prompt
        while text and draw.textlength(text) > text_width - 6:
            text = text[:-1]
        draw.text((4, y + strip.shape[0] // 2 - 5), text, fill="black")
        out.paste(Image.fromarray(strip), (text_width, y))
        y += strip.shape[0]
    return np.asarray(out)


def save_prompt_rows(rows: list[tuple[str, torch.Tensor]], path: str | Path, scale: int = 2) -> Path:
    """Write `prompt_rows` as a PNG atomically; returns the path."""
    from genlab.io import atomic_write_bytes
    from genlab.viz.grid import png_bytes

    path = Path(path)
    atomic_write_bytes(path, png_bytes(prompt_rows(rows, scale)))
    return path


__all__ = ["CAPTION_HEIGHT", "captioned_grid", "prompt_rows", "save_captioned_grid", "save_prompt_rows"]
