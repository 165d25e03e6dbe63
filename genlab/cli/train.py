"""`genlab train FAMILY`: build the run's config from the flags and train it (a new run, or --resume)."""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Literal, Union

import tyro

from genlab.cli.common import given_flags, run_name
from genlab.config import DataConfig, RunConfig, TrainConfig, to_dict
from genlab.models import FAMILIES

Binarize = Literal["none", "dynamic", "static"]
# The data flags of `genlab train` and the DataConfig fields they set.
DATA_FLAGS = {"data": "name", "data_dir": "data_dir", "binarize": "binarize", "limit": "limit"}


def family_union():
    """One tyro subcommand per family, each with its Config's options."""
    options = tuple(Annotated[cls.Config, tyro.conf.subcommand(name, description=(cls.__doc__ or "").strip())]
                    for name, cls in FAMILIES.items())
    return tyro.conf.OmitSubcommandPrefixes[Union[options]]  # type: ignore[valid-type]


def family_of(config: object) -> str:
    for name, cls in FAMILIES.items():
        if type(config) is cls.Config:
            return name
    raise ValueError(f"no family has config {type(config).__name__}")


def train(model: family_union(), data: str = "mnist", data_dir: str | None = None,  # type: ignore[valid-type]
          binarize: Binarize = "none", limit: int = 0, name: str | None = None, runs_dir: str = "runs",
          resume: bool = False, overwrite: bool = False, train: TrainConfig = TrainConfig()) -> None:
    """Train a model: `genlab train FAMILY --data NAME [family options] [--train.* options]`.

    Args:
        data: dataset name (see `genlab datasets`), or folder:PATH / npz:PATH.
        data_dir: look here first for the dataset's files.
        binarize: "dynamic" Bernoulli-samples pixels every batch (likelihood on MNIST), "static" thresholds.
        limit: train on only the first N images (0 = all).
        name: run name; the run lives in RUNS_DIR/NAME (default FAMILY-DATA).
        runs_dir: folder holding runs.
        resume: continue the run from its latest checkpoint, with its saved options but those given again.
        overwrite: replace an existing run of the same name (only a folder genlab made, inside RUNS_DIR).
    """
    from genlab.runs import check_run_name
    from genlab.runs import train as train_fn

    family = family_of(model)
    config = RunConfig(family, to_dict(model), DataConfig(data, data_dir, binarize, limit), train)
    run_dir = Path(runs_dir) / check_run_name(name if name is not None else run_name(family, data))
    if resume and not overwrite:
        config = resumed_config(config, run_dir)
    result = train_fn(config, run_dir, resume=resume, overwrite=overwrite, runs_dir=runs_dir)
    last = result.history[-1] if result.history else {}
    shown = {k: v for k, v in last.items() if k not in ("time", "lr")}
    print(f"{result.stopped} at step {result.step} in {result.seconds:.1f}s: {shown}")
    print(f"run saved in {run_dir}/ (samples in {run_dir}/samples/)")
    if result.stopped == "interrupted":  # exit 130 (Ctrl-C) or 143 (SIGTERM): `train ... && eval ...` stops
        print(f"genlab: interrupted at step {result.step} (checkpoint saved); continue with the same command "
              "and --resume", file=sys.stderr)
        raise SystemExit(128 + (result.signal or signal.SIGINT))


def resumed_config(config: RunConfig, run_dir: Path) -> RunConfig:
    """The config that continues the run in `run_dir`: every option the command line did not give comes
    from the run's config.json; prints one line naming the training options that change.

    Model and data options given again must still match the run, and so must the training options its
    checkpoint's state holds: genlab.runs.resume_changes raises RunError otherwise."""
    from genlab.runs import CONFIG, checkpoint_step, read_run_config, resume_changes
    from genlab.training.checkpoint import latest_checkpoint

    if not (run_dir / CONFIG).exists():
        return config  # nothing to resume: prepare_run_dir says so
    _, saved = read_run_config(run_dir)
    train = _keep_given(saved.train, config.train, given_flags(to_dict(config.train), prefix="train."))
    data_given = given_flags(DATA_FLAGS)
    data = _keep_given(saved.data, config.data, None if data_given is None else {DATA_FLAGS[k] for k in data_given})
    model = config.model
    if saved.family == config.family:
        options = config.model_options()
        model_given = given_flags(options)
        model = options if model_given is None else {**saved.model_options(), **{k: options[k] for k in model_given}}
    resumed = RunConfig(config.family, model, data, train)
    changes = resume_changes(saved, resumed, run_dir)  # or RunError, before anything is printed or trained
    step = checkpoint_step(latest_checkpoint(run_dir / "checkpoints"))
    if changes:
        shown = ", ".join(f"--train.{k.replace('_', '-')} {json.dumps(c['from'])} -> {json.dumps(c['to'])}"
                          for k, c in changes.items())
        print(f"resuming {run_dir} at step {step} with {shown}")
    else:
        print(f"resuming {run_dir} at step {step} with its saved options")
    return resumed


def _keep_given(saved, parsed, given: set[str] | None):
    """`saved` with the fields in `given` taken from `parsed` (all of `parsed` when given is None)."""
    if given is None:
        return parsed
    return dataclasses.replace(saved, **{k: getattr(parsed, k) for k in given})
