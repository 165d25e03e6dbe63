"""The `genlab` command: thin wrappers that parse options (tyro), build configs and call the library."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

import tyro

from genlab.config import DataConfig, RunConfig, TrainConfig, to_dict
from genlab.models import FAMILIES

Binarize = Literal["none", "dynamic", "static"]


def _family_union():
    options = tuple(Annotated[cls.Config, tyro.conf.subcommand(name, description=(cls.__doc__ or "").strip())]
                    for name, cls in FAMILIES.items())
    return tyro.conf.OmitSubcommandPrefixes[Union[options]]  # type: ignore[valid-type]


def _family_of(config: object) -> str:
    for name, cls in FAMILIES.items():
        if type(config) is cls.Config:
            return name
    raise ValueError(f"no family has config {type(config).__name__}")


def _run_name(family: str, data: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{family}-{Path(data.split(':', 1)[-1]).name or data}").strip("-")


def train(model: _family_union(), data: str = "mnist", data_dir: Optional[str] = None,  # type: ignore[valid-type]
          binarize: Binarize = "none", limit: int = 0, name: Optional[str] = None, runs_dir: str = "runs",
          resume: bool = False, overwrite: bool = False, train: TrainConfig = TrainConfig()) -> None:
    """Train a model: `genlab train FAMILY --data NAME [family options] [--train.* options]`.

    Args:
        data: dataset name (see `genlab datasets`), or folder:PATH / npz:PATH.
        data_dir: look here first for the dataset's files.
        binarize: "dynamic" Bernoulli-samples pixels every batch (likelihood on MNIST), "static" thresholds.
        limit: train on only the first N images (0 = all).
        name: run name; the run lives in RUNS_DIR/NAME (default FAMILY-DATA).
        runs_dir: folder holding runs.
        resume: continue the run from its latest checkpoint.
        overwrite: replace an existing run of the same name.
    """
    from genlab.train.trainer import train as train_fn

    family = _family_of(model)
    config = RunConfig(family, to_dict(model), DataConfig(data, data_dir, binarize, limit), train)
    run_dir = Path(runs_dir) / (name or _run_name(family, data))
    result = train_fn(config, run_dir, resume=resume, overwrite=overwrite)
    last = result.history[-1] if result.history else {}
    shown = {k: v for k, v in last.items() if k not in ("time", "lr")}
    print(f"{result.stopped} at step {result.step} in {result.seconds:.1f}s: {shown}")
    print(f"run saved in {run_dir}/ (samples in {run_dir}/samples/)")


def parse_options(pairs: tuple[str, ...]) -> dict[str, object]:
    """KEY=VALUE strings -> dict; values parsed as JSON when they can be (numbers, true/false)."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--option takes KEY=VALUE, got {pair!r}")
        try:
            out[key.replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.replace("-", "_")] = value
    return out


def sample(run: tyro.conf.Positional[str], n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 64,
           out: str = "samples.png", seed: int = 0, label: Optional[int] = None, ema: bool = True,
           option: tuple[str, ...] = ()) -> None:
    """Draw samples from a trained run into a PNG grid or an .npz of raw uint8 arrays.

    Args:
        run: the run folder (runs/NAME).
        n: how many samples.
        out: .png for a grid, .npz for arrays x (n, h, w, c) uint8 (and y labels for conditional models).
        seed: sampling seed.
        label: for a conditional model, draw only this class (default: cycle through all classes).
        ema: use the EMA weights when the run kept them.
        option: family-specific sampling options as KEY=VALUE, e.g. --option steps=20 sampler=ddim.
    """
    import numpy as np
    import torch

    from genlab.runs import load_run
    from genlab.runs import sample as sample_fn
    from genlab.viz.grid import save_grid, to_uint8

    suffix = Path(out).suffix.lower()
    if suffix not in (".png", ".npz"):
        raise ValueError(f"--out must end in .png or .npz, got {out!r}")
    r = load_run(run, ema=ema)
    labels = None
    if r.model.conditional:
        labels = torch.full((n,), label) if label is not None else torch.arange(n) % r.model.num_classes
    elif label is not None:
        raise ValueError(f"--label needs a conditional model; this {r.config.family} run is unconditional")
    images = sample_fn(r, n, labels=labels, seed=seed, **parse_options(option))
    if suffix == ".png":
        nrow = r.model.num_classes if labels is not None and label is None and r.model.num_classes <= 16 else None
        save_grid(images, out, nrow=nrow, scale=2)
    else:
        arrays = {"x": to_uint8(images)}
        if labels is not None:
            arrays["y"] = labels.numpy().astype(np.int64)
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, **arrays)
    print(f"wrote {n} samples to {out}")


def reconstruct(run: tyro.conf.Positional[str], n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 16,
                out: str = "reconstructions.png", split: Literal["train", "test"] = "test") -> None:
    """Reconstruct the first N images of the run's dataset: originals above, reconstructions below."""
    import torch

    from genlab.models.autoencoder import psnr
    from genlab.runs import load_run, load_training_data
    from genlab.viz.grid import save_grid

    r = load_run(run)
    if "reconstruct" not in r.model.capabilities:
        have = sorted(k for k, c in FAMILIES.items() if "reconstruct" in c.capabilities)
        raise ValueError(f"a {r.config.family} model cannot reconstruct; families that can: {have}")
    data = load_training_data(r.config.data, split=split)
    x, y = data.images(slice(0, n)), data.labels(slice(0, n))
    with torch.no_grad():
        x_hat = r.model.reconstruct(x, y)
    save_grid(torch.cat([x, x_hat]), out, nrow=n, scale=2)
    err = (x_hat - x).pow(2).mean().item()
    print(f"wrote {out}: MSE {err:.5f} per pixel, PSNR {psnr(x_hat, x).mean().item():.2f} dB on {n} {split} images")


def interpolate(run: tyro.conf.Positional[str], steps: int = 10, pairs: int = 4,
                method: Literal["linear", "slerp"] = "linear", out: str = "interpolation.png", seed: int = 0) -> None:
    """Decode a path between pairs of test images through the latent space, one row per pair."""
    import torch

    from genlab.apps.interpolate import interpolate as interp
    from genlab.runs import load_run, load_training_data
    from genlab.viz.grid import save_grid

    r = load_run(run)
    data = load_training_data(r.config.data, split="test")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[: 2 * pairs]
    x, y = data.images(idx), data.labels(idx)
    rows = []
    for i in range(pairs):
        a, b = 2 * i, 2 * i + 1
        ya = None if y is None else y[a:a + 1]
        yb = None if y is None else y[b:b + 1]
        rows.append(interp(r.model, x[a:a + 1], x[b:b + 1], steps, method=method, y_a=ya, y_b=yb))
    save_grid(torch.cat(rows), out, nrow=steps, scale=2)
    print(f"wrote {out}: {pairs} {method} interpolations of {steps} steps")


def info(run: tyro.conf.Positional[str]) -> None:
    """Show a run's family, options, data, progress and last metrics."""
    from genlab.runs import load_run

    r = load_run(run)
    metrics = Path(run) / "metrics.jsonl"
    last = json.loads(metrics.read_text().strip().splitlines()[-1]) if metrics.exists() and metrics.stat().st_size else {}
    print(json.dumps({"run": str(r.path), "step": r.step, **r.model.describe(), "data": to_dict(r.config.data),
                      "train": to_dict(r.config.train), "last_metrics": last}, indent=2))


def datasets(data_dir: Optional[str] = None) -> None:
    """List the datasets genlab knows and whether each is available on this machine."""
    from genlab.data import list_datasets

    rows = list_datasets(data_dir)
    print(f"{'name':<15} {'shape':<12} {'classes':>7}  {'available':<9}  where")
    for d in rows:
        shape = "x".join(str(s) for s in d.shape) if d.shape else "-"
        print(f"{d.name:<15} {shape:<12} {d.num_classes or '-':>7}  {'yes' if d.available else 'no':<9}  {d.where}")
    print("also: folder:PATH (one subfolder per class, or flat) and npz:PATH (arrays x, optional y)")


def demo(out: str = "runs/demo", budget: float = 90.0, data: str = "mnist", seed: int = 0) -> None:
    """Train a convolutional VAE on MNIST for about 90 s and write runs/demo/report.html.

    Args:
        out: the demo's run folder (replaced on every demo).
        budget: training seconds.
        data: dataset (MNIST by default; digits when MNIST is missing).
        seed: random seed.
    """
    from genlab.demo import run_demo

    run_demo(out, data_name=data, budget_s=budget, seed=seed)


COMMANDS = {"train": train, "sample": sample, "reconstruct": reconstruct, "interpolate": interpolate,
            "info": info, "datasets": datasets, "demo": demo}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `genlab` console script; errors print one clear line, no traceback."""
    from genlab.data.base import DataError
    from genlab.runs import RunError
    from genlab.train.checkpoint import CheckpointError
    from genlab.train.trainer import TrainingDiverged

    try:
        tyro.extras.subcommand_cli_from_dict(COMMANDS, args=argv, prog="genlab",
                                             config=(tyro.conf.CascadeSubcommandArgs,))
    except (DataError, RunError, CheckpointError, TrainingDiverged, ValueError, FileNotFoundError) as e:
        print(f"genlab: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("genlab: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
