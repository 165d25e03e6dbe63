"""Fitted tiny classical models and dequantized test pixels for the exact checks."""

from __future__ import annotations

import torch

from genlab.models import build_model
from genlab.nn.distributions import dequantize
from tests.conftest import tiny_images


def fitted(family: str, n: int = 64, seed: int = 0, data=None, **options):
    """A `family` model with `options`, fitted on n tiny 8x8 images (or `data`) with a seeded generator."""
    data = data if data is not None else tiny_images(n)
    model = build_model(family, options, spec=data.spec)
    model.fit(data, generator=torch.Generator().manual_seed(seed))
    return model.eval()


def dequantized(n: int = 10, seed: int = 5) -> torch.Tensor:
    """(n, 1, 8, 8) float64 dequantized 8-bit test images, (k + u) / 256."""
    return dequantize(tiny_images(n, seed=seed).x, torch.Generator().manual_seed(seed)).double()


def one_line_error(excinfo) -> str:
    """The error's message, checked to be one line."""
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    return msg
