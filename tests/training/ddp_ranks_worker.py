"""Run by test_distributed.py under torchrun: trains a tiny FAMILY for STEPS steps (batch 8 per process) and
saves this process's weights to OUT/rank<RANK>.pt, so that the test can compare the processes' models."""

from __future__ import annotations

import os
import sys

import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.training.trainer import Trainer
from tests.conftest import TINY, tiny_images

if __name__ == "__main__":
    out, family, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    config = RunConfig(family, dict(TINY[family]), DataConfig("tiny"),
                       TrainConfig(steps=steps, batch_size=8, lr=1e-3, device="cpu", precision="fp32", progress=False))
    trainer = Trainer(config, tiny_images(64))
    for _ in range(steps):
        trainer.train_step()
    torch.save(trainer.model.state_dict(), os.path.join(out, f"rank{os.environ['RANK']}.pt"))
