"""The one contract every model family implements (see shared ARCHITECTURE.md).

A model is an `nn.Module` that the trainer knows only through:
- `training_losses(x, y=None, *, generator=None) -> dict[str, Tensor]`: named finite scalars; the
  trainer minimizes `losses["loss"]` and logs the rest.
- `sample(n, *, labels=None, generator=None) -> Tensor`: (n, c, h, w) images in [0, 1].
- `players()`: which parameters each optimizer owns. One player by default; a GAN has two, and the
  trainer then calls `training_losses(..., player=name)` once per player per step.
- optional capabilities, declared in `capabilities`: "latent" (encode/decode), "reconstruct",
  "likelihood" (`nll_bound`), "conditional" (labels in sample and training), "inpaint"
  (`inpaint(x, mask, ...)`: fill in where mask is 1, keep the rest exactly) and "denoise"
  (`denoise(x, *, noise_std=None, strength=..., ...)`: SDEdit-style clean-up of a noisy image).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import nn

CAPABILITIES = frozenset({"latent", "reconstruct", "likelihood", "conditional", "inpaint", "denoise"})


class GenerativeModel(nn.Module):
    """Base class: stores the config and data shape, and gives defaults for the optional parts."""

    family: ClassVar[str] = ""
    Config: ClassVar[type] = object
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: Any, shape: tuple[int, int, int], num_classes: int = 0):
        super().__init__()
        self.config = config
        self.shape = tuple(int(s) for s in shape)
        self.num_classes = int(num_classes)
        self.step = 0  # set by the trainer through on_train_step (KL warm-up and the like)

    # --- the contract -------------------------------------------------------------------------
    def training_losses(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
                        generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample(self, n: int, *, labels: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def players(self) -> dict[str, list[nn.Parameter]]:
        """Optimizer name -> the parameters it owns. One optimizer over everything by default."""
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def optimizer_options(self) -> dict[str, dict[str, Any]]:
        """Per-player optimizer settings that replace the TrainConfig's, e.g. a GAN's
        {"d": {"lr": 2e-4, "betas": (0.5, 0.999)}, "g": {...}}. None by default."""
        return {}

    def active_players(self, step: int) -> list[str] | None:
        """The players that take an optimizer step at trainer step `step` (None = all), e.g. a WGAN's
        generator only every n_critic-th step. Every player's lr schedule still follows the trainer's step."""
        return None

    def progress_keys(self) -> list[str]:
        """Record keys to show in the progress bar (empty = the first few losses)."""
        return []

    def train_callbacks(self) -> list:
        """Functions f(trainer, record) the trainer calls after each log line (diagnostics, watchdogs).
        They may add keys to `record` before it is printed, or act on the trainer (e.g. roll back)."""
        return []

    def prepare(self, data) -> None:
        """Data-dependent set-up, called by the trainer once before the first step of a fresh run (not on
        resume: what it sets up is saved with the weights), e.g. a GAN's clusters of the training images."""

    def on_train_step(self, step: int, total_steps: int) -> None:
        """Called by the trainer before each step; models with schedules (KL warm-up) read it."""
        self.step = step

    # --- helpers for subclasses ---------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def conditional(self) -> bool:
        return "conditional" in self.capabilities and bool(getattr(self.config, "conditional", False))

    def check_labels(self, labels: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """Validate labels for a conditional model (None for an unconditional one)."""
        if not self.conditional:
            return None
        if labels is None:
            raise ValueError(f"this {self.family} model is conditional: pass labels=(n,) class indices "
                             f"in [0, {self.num_classes})")
        labels = torch.as_tensor(labels, device=self.device).long().reshape(-1)
        if labels.shape[0] != n or labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must be {n} class indices in [0, {self.num_classes}), got "
                             f"{labels.shape[0]} in [{int(labels.min())}, {int(labels.max())}]")
        return labels

    def one_hot(self, y: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        if y is None or not self.conditional:
            return None
        return nn.functional.one_hot(y, self.num_classes).to(dtype)

    def describe(self) -> dict[str, Any]:
        """Family, options, parameter count and capabilities, for `genlab info` and reports."""
        return {"family": self.family, "config": dataclasses.asdict(self.config),
                "parameters": sum(p.numel() for p in self.parameters()),
                "capabilities": sorted(self.capabilities), "shape": list(self.shape),
                "num_classes": self.num_classes}
