"""Deterministic mini-batches: the batch of step s is a pure function of (seed, s, rank).

Each epoch is a fresh permutation drawn from a generator seeded by (seed, epoch); the global batch of
`batch_size * world_size` indices is cut into one slice per process. Because nothing depends on
history, resuming at step s gives the same batches as an uninterrupted run, with no loader state.
"""

from __future__ import annotations

import torch

from genlab.data.base import ImageData
from genlab.nn import distributions


class BatchSampler:
    """Yields (x, y) for a step on `device`: x float32 (b, c, h, w) in [0, 1], y int64 (b,) or None."""

    def __init__(self, data: ImageData, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu", binarize: str = "none"):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n = len(data)
        self.global_batch = batch_size * world_size
        if n < self.global_batch:
            raise ValueError(f"the dataset has {n} images, fewer than one global batch of {self.global_batch} "
                             f"(batch_size {batch_size} x {world_size} processes); lower --train.batch-size")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.per_epoch = n // self.global_batch  # drop the ragged tail so every step is full
        self.device = torch.device(device)
        self.x = data.x.to(self.device)  # uint8 stays small on the device
        self.y = None if data.y is None else data.y.to(self.device)
        if binarize not in ("none", "dynamic", "static"):
            raise ValueError(f"unknown binarize {binarize!r}; valid: none, dynamic, static")
        self.binarize = binarize
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=g).to(self.device)
            self._epoch = epoch
        return self._perm

    def batch(self, step: int, generator: torch.Generator | None = None):
        epoch, i = divmod(step, self.per_epoch)
        start = i * self.global_batch + self.rank * self.batch_size
        idx = self.permutation(epoch)[start:start + self.batch_size]
        x = distributions.binarize(self.x[idx].float().div_(255.0), self.binarize, generator)
        return x, (None if self.y is None else self.y[idx])
