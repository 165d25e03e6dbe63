"""The in-memory image dataset every loader returns, and the error every loader raises."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


class DataError(ValueError):
    """A dataset could not be read: the message names the file and the problem, and how to fix it."""


@dataclass(frozen=True)
class ImageData:
    """Images stored as uint8 (n, c, h, w); `images()` gives float32 in `value_range` = [0, 1].

    Args:
        x: (n, c, h, w) uint8 pixels.
        y: (n,) int64 labels, or None for unlabelled data.
        name: dataset name as the user typed it (e.g. "mnist", "folder:/data/cats").
        split: "train" or "test".
        classes: class names indexed by label, or None.
        source: where the data was read from (a path or package), for `genlab datasets` and reports.
    """

    x: torch.Tensor
    y: torch.Tensor | None
    name: str
    split: str
    classes: tuple[str, ...] | None = None
    source: str = ""
    value_range: tuple[float, float] = field(default=(0.0, 1.0))

    def __post_init__(self) -> None:
        assert self.x.dtype == torch.uint8 and self.x.ndim == 4, (self.x.dtype, self.x.shape)
        if self.y is not None:
            assert self.y.dtype == torch.int64 and self.y.shape == (self.x.shape[0],), self.y.shape

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(c, h, w) of one image."""
        c, h, w = self.x.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        if self.classes is not None:
            return len(self.classes)
        if self.y is None:
            return 0
        return int(self.y.max().item()) + 1 if len(self.y) else 0

    def images(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Float32 images in [0, 1], (n, c, h, w); all of them, or those at `index`."""
        x = self.x if index is None else self.x[index]
        return x.float().div_(255.0)

    def labels(self, index: torch.Tensor | slice | None = None) -> torch.Tensor | None:
        if self.y is None:
            return None
        return self.y if index is None else self.y[index]

    def subset(self, n: int) -> ImageData:
        """The first n examples (deterministic), for quick runs and tests."""
        y = None if self.y is None else self.y[:n]
        return ImageData(self.x[:n], y, self.name, self.split, self.classes, self.source)
