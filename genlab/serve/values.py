"""The values a request carries and an answer returns: images as PNG data URLs both ways, integers and texts
checked against their bounds (ValueError with a one-line message naming the value: the app answers 400)."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

import torch

MAX_PROMPT = 1000  # characters of a text prompt
MAX_IMAGE_BYTES = 2 << 20  # one uploaded PNG (a data URL), before decoding


def png_data_url(x: torch.Tensor) -> str:
    """One image (c, h, w) in [0, 1] as a PNG data URL (8-bit; greyscale for one channel)."""
    from PIL import Image

    from genlab.viz.grid import to_uint8

    arr = to_uint8(x[None].clamp(0, 1))[0]  # (h, w, c) uint8
    img = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr[..., :3])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def read_png(url: Any, shape: tuple[int, int, int], what: str) -> torch.Tensor:
    """A PNG data URL of exactly the model's size as (1, c, h, w) floats in [0, 1] (c = 1: greyscale,
    3: RGB; alpha is dropped); ValueError naming `what` otherwise."""
    from PIL import Image

    c, h, w = shape
    prefix = "data:image/png;base64,"
    if not isinstance(url, str) or not url.startswith(prefix):
        raise ValueError(f"{what} must be a PNG data URL (data:image/png;base64,...)")
    if len(url) > MAX_IMAGE_BYTES * 4 // 3 + len(prefix) + 4:
        raise ValueError(f"{what} is larger than {MAX_IMAGE_BYTES} bytes")
    try:
        raw = base64.b64decode(url[len(prefix):], validate=True)
        with Image.open(io.BytesIO(raw)) as img:
            if img.format != "PNG" or img.size != (w, h):
                raise ValueError(f"{what} must be a {w}x{h} PNG (the model's size), got {img.format} {img.size}")
            img = img.convert("L" if c == 1 else "RGB")
            data = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    except (binascii.Error, OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"{what} is not a readable PNG ({e})") from None
    return data.view(h, w, c).permute(2, 0, 1).unsqueeze(0).float() / 255.0


def integer(body: dict[str, Any], key: str, default: int | None, lo: int, hi: int) -> int | None:
    """body[key] as an int in [lo, hi] (default when absent or null); ValueError naming the key."""
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ValueError(f"{key} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{key} must be in [{lo}, {hi}], got {value!r}")
    return int(value)


def text(value: Any, what: str, example: str) -> str:
    """A non-empty text of at most MAX_PROMPT characters, runs of white space as one space; ValueError
    naming `what` and giving `example` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty text, {example}")
    if len(value) > MAX_PROMPT:
        raise ValueError(f"{what} is {len(value)} characters; at most {MAX_PROMPT}")
    return " ".join(value.split())


__all__ = ["MAX_IMAGE_BYTES", "MAX_PROMPT", "integer", "png_data_url", "read_png", "text"]
