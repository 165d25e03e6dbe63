"""Run by test_kill.py: trains a tiny VAE, checkpointing every step, until killed (or resumed)."""

from __future__ import annotations

import sys

import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import train
from tests.conftest import TINY, tiny_images

if __name__ == "__main__":
    torch.set_num_threads(1)
    config = RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny"),
                       TrainConfig(steps=100000, batch_size=8, checkpoint_every=1, progress=False, log_every=1))
    train(config, sys.argv[1], data=tiny_images(64), resume=sys.argv[2] == "resume")
