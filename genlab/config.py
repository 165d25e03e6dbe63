"""Frozen dataclass configs shared by the library and the CLI; presets are plain functions."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Device = Literal["auto", "cpu", "cuda", "mps"]
Binarize = Literal["none", "dynamic", "static"]


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to train on and how to present it to the model.

    Args:
        name: a dataset name from `genlab datasets`, or `folder:PATH` / `npz:PATH`.
        data_dir: where to look first for the dataset's files.
        binarize: "dynamic" draws Bernoulli pixels every batch (the standard for likelihood on MNIST),
            "static" thresholds once at 0.5, "none" keeps grey levels.
        limit: use only the first `limit` training images (0 = all), for quick runs.
    """

    name: str = "mnist"
    data_dir: str | None = None
    binarize: Binarize = "none"
    limit: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """How to optimize: the trainer reads only this.

    Args:
        steps: optimizer steps in total.
        batch_size: images per step per process.
        lr: peak learning rate.
        optimizer: "adam" or "adamw".
        weight_decay: decoupled weight decay (adamw) or L2 (adam).
        betas: Adam's (beta1, beta2).
        warmup_steps: linear warm-up from 0 to `lr`.
        schedule: learning-rate shape after warm-up.
        grad_clip: clip the global gradient norm to this (0 = off).
        ema_decay: keep an exponential moving average of the weights with this decay (0 = off).
        ema_warmup: ramp the EMA decay up as min(ema_decay, (1 + n) / (10 + n)) after n updates, so a
            short run's average is not dominated by its random initial weights.
        seed: seeds model init, data order and the training noise.
        device: "auto" picks cuda, then mps, then cpu.
        bf16: autocast to bfloat16 where the device supports it fast.
        channels_last: store conv weights and activations channels-last (faster on modern CPUs and GPUs).
        threads: torch intra-op threads on CPU (0 = torch's default).
        log_every: write metrics.jsonl and refresh the progress bar every this many steps.
        sample_every: save a sample grid every this many steps (0 = only at the end).
        checkpoint_every: save a checkpoint every this many steps (0 = only at the end).
        keep_checkpoints: how many recent checkpoints to keep on disk.
        time_budget: stop after this many seconds of training (0 = no limit), still saving a checkpoint.
        budget_clock: "wall" seconds, or "cpu" seconds used by this process (all threads), which a busy
            machine does not eat into: 20 CPU-minutes on 2 cores is about 10 wall minutes.
        progress: show a live progress bar.
    """

    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    schedule: Literal["constant", "cosine", "linear"] = "constant"
    grad_clip: float = 0.0
    ema_decay: float = 0.0
    ema_warmup: bool = True
    seed: int = 0
    device: Device = "auto"
    bf16: bool = False
    channels_last: bool = False
    threads: int = 0
    log_every: int = 50
    sample_every: int = 0
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    time_budget: float = 0.0
    budget_clock: Literal["wall", "cpu"] = "wall"
    progress: bool = True


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a flat dataclass from `to_dict` output; unknown keys raise ValueError naming them."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"{cls.__name__} has no option(s) {unknown}; valid: {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        default = names[key].default
        kwargs[key] = tuple(value) if isinstance(value, list) and isinstance(default, tuple) else value
    return cls(**kwargs)


def replace(config: Any, **changes: Any) -> Any:
    return dataclasses.replace(config, **changes)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; saved as runs/<name>/config.json."""

    family: str
    model: dict[str, Any]
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_json(self) -> dict[str, Any]:
        return {"family": self.family, "model": dict(self.model), "data": to_dict(self.data),
                "train": to_dict(self.train)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunConfig:
        return cls(d["family"], dict(d["model"]), from_dict(DataConfig, d["data"]),
                   from_dict(TrainConfig, d["train"]))
