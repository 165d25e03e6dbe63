"""Test helpers for diffusion: a tiny trained-for-one-step autoencoder run that `ldm` can load."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import torch

_RUN: Path | None = None


def tiny_autoencoder_run() -> str:
    """The folder of a tiny `ae` run on 8x8 single-channel images with 4 classes (made once per process)."""
    global _RUN
    if _RUN is None:
        from genlab.config import DataConfig, RunConfig, TrainConfig
        from genlab.data.base import ImageData
        from genlab.training.trainer import train

        g = torch.Generator().manual_seed(0)
        x = (torch.rand(32, 1, 8, 8, generator=g) * 255).round().to(torch.uint8)
        y = torch.arange(32) % 4
        data = ImageData(x, y, "tiny", "train", ("0", "1", "2", "3"), "synthetic")
        root = Path(tempfile.mkdtemp(prefix="genlab-tiny-ae-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        config = RunConfig("ae", {"arch": "mlp", "hidden": (16,), "latent_dim": 4}, DataConfig("tiny"),
                           TrainConfig(steps=1, batch_size=16, progress=False, device="cpu"))
        train(config, root / "ae", data=data)
        _RUN = root / "ae"
    return str(_RUN)
