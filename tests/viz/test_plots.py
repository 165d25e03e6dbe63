"""Plots come back as PNG bytes and leave no pyplot state behind."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import torch

from genlab.viz.plots import latent_map, loss_curves, loss_keys

PNG = b"\x89PNG\r\n\x1a\n"


def size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    return Image.open(io.BytesIO(png)).size


def test_loss_curves_one_panel_per_loss():
    history = [{"step": s, "loss": 1.0 / s, "recon": 0.5 / s, "kl": 0.1, "lr": 1e-3, "img_per_s": 9.0,
                "time": 1e9} for s in range(1, 40)]
    assert loss_keys(history) == ["loss", "recon", "kl"]
    pyplot = sys.modules.get("matplotlib.pyplot")
    open_before = pyplot.get_fignums() if pyplot else []
    png = loss_curves(history)
    assert png.startswith(PNG)
    one = loss_curves(history, keys=["loss"])
    assert size(png)[0] > size(one)[0]  # three panels side by side are wider than one
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert (pyplot.get_fignums() if pyplot else []) == open_before  # no figure left open in pyplot


def test_loss_curves_needs_records():
    with pytest.raises(ValueError, match="empty"):
        loss_curves([])


def test_latent_map_with_and_without_labels():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 10
    codes = torch.randn(300, 8, generator=g) + labels[:, None].float()  # (300, 8)
    assert latent_map(codes, labels, classes=[str(i) for i in range(10)]).startswith(PNG)
    assert latent_map(np.random.default_rng(0).normal(size=(50, 3))).startswith(PNG)
    assert latent_map(torch.randn(40, 1, generator=g), torch.arange(40) % 40).startswith(PNG)  # colorbar, 1-D
    with pytest.raises(ValueError, match="labels"):
        latent_map(codes, labels[:10])
