"""Frozen dataclass configs shared by the library and the CLI, and the one validator of every option.

Options are `Literal`s or plain types with bounds declared once, beside the default, with `bounded`:
`validate` reads both, so every "valid: ..." message comes from the declaration itself.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin


class ConfigError(ValueError):
    """An option has a value it cannot take; the message names the option, the value and what is valid."""


def bounded(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
            lt: float | None = None) -> Any:
    """A dataclass field with numeric bounds (checked elementwise for tuples) that `validate` enforces."""
    return field(default=default, metadata={"bounds": (ge, gt, le, lt)})


def _bounds_text(ge, gt, le, lt) -> str:
    lo = f">= {ge}" if ge is not None else f"> {gt}" if gt is not None else ""
    hi = f"<= {le}" if le is not None else f"< {lt}" if lt is not None else ""
    return " and ".join(p for p in (lo, hi) if p)


def _check_type(name: str, value: Any, hint: Any) -> None:
    origin, args = get_origin(hint), get_args(hint)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"unknown {name} {value!r}; valid: {', '.join(map(str, args))}")
        return
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        hint = next(a for a in args if a is not type(None))
        return _check_type(name, value, hint)
    if origin is tuple:
        if not isinstance(value, tuple):
            raise ConfigError(f"{name} must be a tuple of values, got {value!r}")
        inner = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(inner) != len(value):
            raise ConfigError(f"{name} must hold {len(inner)} values, got {len(value)}: {value!r}")
        for v, h in zip(value, inner):
            _check_type(name, v, h)
        return
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif hint is str:
        ok = isinstance(value, str)
    else:
        return
    if not ok:
        what = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}[hint]
        raise ConfigError(f"{name} must be {what}, got {value!r}")


def _declared_bounds(cls: type, name: str) -> tuple | None:
    """The bounds declared for field `name`, by `cls` or the nearest base class that declares them (a
    subclass that only changes a default, e.g. a family preset, keeps its base's bounds)."""
    for klass in cls.__mro__:
        f = getattr(klass, "__dataclass_fields__", {}).get(name)
        if f is not None and "bounds" in f.metadata:
            return f.metadata["bounds"]
    return None


def validate(config: Any, prefix: str = "") -> Any:
    """Check every option of a config dataclass against its type hint (Literal choices, int, float, bool,
    str, tuples) and its declared bounds; return the config, or raise ConfigError naming the option."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        name, value = prefix + f.name.replace("_", "-" if prefix.startswith("--") else "_"), getattr(config, f.name)
        if f.name in hints:
            _check_type(name, value, hints[f.name])
        bounds = _declared_bounds(type(config), f.name)
        if bounds is None or value is None:
            continue
        ge, gt, le, lt = bounds
        for v in value if isinstance(value, tuple) else (value,):
            check_bounds(name, v, ge=ge, gt=gt, le=le, lt=lt, shown=value)
    return config


def check_bounds(name: str, value: Any, *, ge: float | None = None, gt: float | None = None,
                 le: float | None = None, lt: float | None = None, shown: Any = None, hint: str = "") -> Any:
    """`value`, or ConfigError "NAME must be >= GE and <= LE, got VALUE[; HINT]" when it is out of bounds or not
    finite (the one bounds check: `validate` uses it for declared fields, the CLI for command options)."""
    finite = not isinstance(value, float) or math.isfinite(value)  # ints of any size are finite
    inside = (finite and (ge is None or value >= ge) and (gt is None or value > gt)
              and (le is None or value <= le) and (lt is None or value < lt))
    if not inside:
        got = value if shown is None else shown
        what = _bounds_text(ge, gt, le, lt) or "a finite number"
        raise ConfigError(f"{name} must be {what}, got {got!r}" + (f"; {hint}" if hint else ""))
    return value


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
        name_b: a second image dataset, the domain B of unpaired translation (cyclegan): the data becomes
            unpaired image pairs, A = `name` (genlab/data/pairs.py unpaired).
        classes: train only on the images of these class labels (e.g. one class, for a one-class anomaly
            detector); empty = all. Test images are not filtered. A conditional model samples these classes in
            turn (the run's data_info keeps them).
        per_class: train on this many images of each class only (a seeded pick, seed 0; 0 = all): the
            low-data setting of `genlab augment`.
        perturb: replace this fraction of the training pixels by random grey levels (drawn once, seed 0): the
            background model of the likelihood-ratio anomaly score (`genlab anomaly --score ratio`); 0 = off.
    """

    name: str = "mnist"
    data_dir: str | None = None
    binarize: Binarize = "none"
    limit: int = bounded(0, ge=0)
    name_b: str | None = None
    classes: tuple[int, ...] = ()
    per_class: int = bounded(0, ge=0)
    perturb: float = bounded(0.0, ge=0.0, le=1.0)


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
        precision: "auto" times a few steps of a copy of the model in fp32 and, where the device runs it
            natively, bf16 autocast, each contiguous and channels-last (models with convolutions), and keeps
            the fastest (recorded in config.json, reused on resume; runs under 200 steps without a time
            budget skip the timing and use fp32); "fp32" or "bf16" fix it (docs/TRAINING.md).
        bf16: the same as precision "bf16" (kept for older configs and scripts).
        channels_last: always store conv weights and activations channels-last; otherwise auto times both
            layouts and a fixed precision trains contiguous.
        compile: torch.compile the training forward and backward (inductor: fused kernels, compiled by a C++
            compiler on CPU). The first steps pay the compile time (seconds to minutes, counted in the time
            budget); it pays on long runs of models dominated by small element-wise work (pixelcnn's gates:
            1.4x per step on one CPU thread). Sampling and evaluation stay eager (docs/TRAINING.md).
        threads: torch intra-op threads on CPU (0 = torch's default).
        log_every: write metrics.jsonl and refresh the progress bar every this many steps.
        sample_every: save a sample grid every this many steps (0 = only at the end).
        checkpoint_every: save a checkpoint every this many steps (0 = only at the end).
        keep_checkpoints: how many recent checkpoints to keep on disk.
        time_budget: stop after this many seconds of training (0 = no limit), still saving a checkpoint.
        budget_clock: "wall" seconds, or "cpu" seconds used by this process (all threads), which a busy
            machine does not eat into: 20 CPU-minutes on 2 cores is about 10 wall minutes.
        progress: show a live progress bar (on a terminal only).
        tensorboard: also write the metrics as TensorBoard event files in RUN/tensorboard/ (needs the
            optional tensorboard package: pip install genlab[tensorboard]); metrics.csv is always written.
    """

    steps: int = bounded(2000, ge=1)
    batch_size: int = bounded(128, ge=1)
    lr: float = bounded(1e-3, gt=0)
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: float = bounded(0.0, ge=0)
    betas: tuple[float, float] = bounded((0.9, 0.999), ge=0, lt=1)
    warmup_steps: int = bounded(0, ge=0)
    schedule: Literal["constant", "cosine", "linear"] = "constant"
    grad_clip: float = bounded(0.0, ge=0)
    ema_decay: float = bounded(0.0, ge=0, lt=1)
    ema_warmup: bool = True
    seed: int = bounded(0, ge=0)
    device: Device = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    bf16: bool = False
    channels_last: bool = False
    compile: bool = False
    threads: int = bounded(0, ge=0)
    log_every: int = bounded(50, ge=1)
    sample_every: int = bounded(0, ge=0)
    checkpoint_every: int = bounded(0, ge=0)
    keep_checkpoints: int = bounded(2, ge=1)
    time_budget: float = bounded(0.0, ge=0)
    budget_clock: Literal["wall", "cpu"] = "wall"
    progress: bool = True
    tensorboard: bool = False


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
    """Everything that defines a run; saved as runs/<name>/config.json (JSON only there, at the edge).

    Args:
        family: a name in genlab.models.FAMILIES.
        model: the family's config dataclass; a dict of options is accepted too, and `genlab.runs`
            resolves it to the dataclass (every default filled in, every option validated) before
            anything is built or written.
        data, train: what to train on and how.
    """

    family: str
    model: Any
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def model_options(self) -> dict[str, Any]:
        """The model options as a plain dict (of the dataclass, or the dict given)."""
        return to_dict(self.model) if dataclasses.is_dataclass(self.model) else dict(self.model)

    def to_json(self) -> dict[str, Any]:
        return {"family": self.family, "model": self.model_options(), "data": to_dict(self.data),
                "train": to_dict(self.train)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunConfig:
        """From `to_json` output (a run's config.json). Missing parts, unknown options and values of the
        wrong type raise ConfigError; bounds are not re-checked (a saved run keeps the options it ran with)."""
        if not isinstance(d, dict):
            raise ConfigError(f"a run config must be a JSON object, found {type(d).__name__}")
        for key, kind in (("family", str), ("model", dict), ("data", dict), ("train", dict)):
            if key not in d:
                raise ConfigError(f"a run config needs {key!r} (has {sorted(map(str, d))})")
            if not isinstance(d[key], kind):
                raise ConfigError(f"{key} must be a JSON {'string' if kind is str else 'object'}, "
                                  f"found {type(d[key]).__name__}")
        parts = []
        for name, part in (("data", DataConfig), ("train", TrainConfig)):
            try:
                config = from_dict(part, d[name])
            except (ValueError, TypeError) as e:
                raise ConfigError(f"{name}: {e}") from None
            hints = typing.get_type_hints(part)
            for f in dataclasses.fields(config):
                _check_type(f"{name}.{f.name}", getattr(config, f.name), hints[f.name])
            parts.append(config)
        return cls(d["family"], dict(d["model"]), *parts)
