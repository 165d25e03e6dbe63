"""Checks shared by the translation families: what pair shapes a family takes, and the source images
that `sample(cond=...)` translates."""

from __future__ import annotations

from typing import Any

import torch

from genlab.data.base import DataSpec


def check_pair_spec(family: str, spec: DataSpec, *, scaled: bool = False, same: bool = False) -> int:
    """The scale factor target side / source side of `spec`; ValueError (one line) when `scaled` asks for
    an integer factor > 1 with equal channels, or `same` for equal shapes."""
    src, tgt = spec.source_shape, spec.shape
    if src is None:
        raise ValueError(f"a {family} model needs the source image shape of its pairs (DataSpec.source_shape)")
    if same and tuple(src) != tuple(tgt):
        raise ValueError(f"a {family} model translates between domains of one image shape, got sources "
                         f"{tuple(src)} and targets {tuple(tgt)}; resize one of the datasets")
    if not scaled:
        return 1
    s = tgt[1] // src[1]
    if src[0] != tgt[0] or s < 2 or (src[1] * s, src[2] * s) != tuple(tgt[1:]):
        raise ValueError(f"a {family} model upscales by an integer factor >= 2 with the channels kept, got "
                         f"sources {tuple(src)} and targets {tuple(tgt)}; train it on sr2:DATASET or sr4:DATASET")
    return s


def as_source(model: Any, cond: Any, n: int, *, any_size: bool = False,
              shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """`cond` as (n, c, h, w) float source images on the model's device; ValueError naming what is wrong.

    Args:
        shape: the (c, h, w) expected (default: the data's source shape); `any_size` accepts any h, w.
    """
    expected = tuple(shape or model.spec.source_shape)
    if cond is None:
        raise ValueError(f"a {model.family} model translates source images: pass cond=(n, {expected[0]}, "
                         f"{expected[1]}, {expected[2]}) images in [0, 1]")
    x = torch.as_tensor(cond, device=model.device).float()
    if x.ndim == 3:
        x = x[None]
    ok = x.ndim == 4 and x.shape[1] == expected[0] and (any_size or tuple(x.shape[2:]) == expected[1:])
    if not ok:
        raise ValueError(f"a {model.family} model translates (n, {', '.join(map(str, expected))}) images, got "
                         f"{tuple(x.shape)}")
    if x.shape[0] < n:
        raise ValueError(f"asked for {n} translations of {x.shape[0]} source images; pass one source per output")
    return x[:n]


__all__ = ["as_source", "check_pair_spec"]
