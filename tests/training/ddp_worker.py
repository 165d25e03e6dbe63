"""Run by test_distributed.py under torchrun: trains a tiny AE in RUN_DIR with BATCH images per process
(for STEPS steps, default 6)."""

from __future__ import annotations

import sys

import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import train
from tests.conftest import TINY, tiny_images

if __name__ == "__main__":
    run_dir, batch = sys.argv[1], int(sys.argv[2])
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    torch.set_num_threads(1)
    config = RunConfig("ae", dict(TINY["ae"]), DataConfig("tiny"),
                       TrainConfig(steps=steps, batch_size=batch, lr=1e-2, device="cpu", progress=False, log_every=1))
    train(config, run_dir, data=tiny_images(64))
