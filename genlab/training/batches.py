"""Deterministic mini-batches: the batch of step s is a pure function of (seed, s, rank).

Each epoch is a fresh permutation of the data's items (images; start offsets of token blocks) drawn
from a generator seeded by (seed, epoch); the global batch of `batch_size * world_size` indices is cut
into one slice per process. Because nothing depends on history, resuming at step s gives the same
batches as an uninterrupted run, with no loader state. What a batch holds is up to the data kind
(`genlab.data.base`): the sampler only picks indices.
"""

from __future__ import annotations

import torch

from genlab.data.base import Batch, Data, DataError


class BatchSampler:
    """Yields the `Batch` of a step on `device`, for any data kind."""

    def __init__(self, data: Data, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu", binarize: str = "none", block_size: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if binarize not in ("none", "dynamic", "static"):
            raise ValueError(f"unknown binarize {binarize!r}; valid: none, dynamic, static")
        n = data.items(block_size)
        self.global_batch = batch_size * world_size
        if len(data) == 0:
            raise DataError(f"the dataset {data.name!r} is empty (0 examples); check the files it was read from")
        if n == 0 and data.kind == "tokens":
            raise DataError(f"the dataset {data.name!r} holds {len(data)} tokens, too few for one block of "
                            f"{block_size + 1}; use more text or a shorter context")
        if n < self.global_batch:
            what = "token blocks" if data.kind == "tokens" else "examples"
            raise ValueError(f"the dataset has {n} {what}, fewer than one global batch of {self.global_batch} "
                             f"(batch_size {batch_size} x {world_size} processes); lower --train.batch-size "
                             "or use more data")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.per_epoch = n // self.global_batch  # drop the ragged tail so every step is full
        self.device = torch.device(device)
        self.data = data.to(self.device)  # uint8 images and int64 tokens stay small on the device
        self.binarize, self.block_size = binarize, block_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=g).to(self.device)
            self._epoch = epoch
        return self._perm

    def indices(self, step: int) -> torch.Tensor:
        """This process's item indices at `step`."""
        epoch, i = divmod(step, self.per_epoch)
        start = i * self.global_batch + self.rank * self.batch_size
        return self.permutation(epoch)[start:start + self.batch_size]

    def batch(self, step: int, generator: torch.Generator | None = None) -> Batch:
        return self.data.batch(self.indices(step), generator=generator, binarize=self.binarize,
                               block_size=self.block_size)
