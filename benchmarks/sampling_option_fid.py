"""Sample quality of one trained run at several values of one sampling option (a temperature, a truncation):
classifier-FID, precision, recall and coverage of the samples at each value, and a grid of each to look at.

    genlab train pixelcnn --data mnist --train.time-budget 600 --train.budget-clock cpu --name pcnn
    .venv/bin/python benchmarks/sampling_option_fid.py runs/pcnn --option temperature --values 1 0.9 0.8 \\
        --n 1000 --name pixelcnn_temperature

Samples are drawn through genlab.runs.sample (as `genlab sample RUN --option KEY=VALUE` does) with the same
seed at every value, and compared with the run's dataset's test images in the feature space of genlab's
shipped classifier (genlab.eval.evaluate_samples, as `genlab eval` does). Writes benchmarks/results/NAME.json
and the first 64 samples at each value to docs/images/sampling/NAME/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from _common import ROOT, CpuTimer, write_result


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, help="a run folder written by genlab train")
    p.add_argument("--option", required=True, help="the sampling option to vary (e.g. temperature)")
    p.add_argument("--values", type=float, nargs="+", required=True, help="its values")
    p.add_argument("--n", type=int, default=1000, help="samples per value")
    p.add_argument("--batch", type=int, default=500, help="samples per sampling call (each with its own seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--name", default="sampling_option_fid", help="result name: benchmarks/results/NAME.json")
    p.add_argument("--no-write", action="store_true", help="print the figures without writing files")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from genlab.eval.protocol import evaluate_samples
    from genlab.runs import load_run, sample, sampling_options
    from genlab.viz.grid import save_grid

    run = load_run(args.run)
    if args.option not in sampling_options(run.model):  # before any sampling: one line naming the valid ones
        raise SystemExit(f"a {run.config.family} run has no sampling option {args.option!r}; valid: "
                         f"{', '.join(sampling_options(run.model)) or 'none'}")
    dataset = run.config.data.name
    figures: dict = {"run": str(args.run), "family": run.config.family, "training steps": run.step,
                     "data": dataset, "option": args.option, "samples per value": args.n}
    out_dir = ROOT / "docs" / "images" / "sampling" / args.name
    for value in args.values:
        with CpuTimer() as timer:
            drawn = [sample(run, min(args.batch, args.n - i), seed=args.seed + i, progress=False,
                            **{args.option: value}) for i in range(0, args.n, args.batch)]
        x = torch.cat([s.x for s in drawn]).clamp(0, 1)
        metrics = evaluate_samples(x, dataset)
        row = {k: round(float(metrics[k]), 4) for k in ("fid", "precision", "recall", "density", "coverage")}
        row["sampling CPU-s"] = round(timer.cpu, 1)
        if not args.no_write:
            grid = save_grid(x[:64], out_dir / f"{args.option}_{value:g}.png", nrow=8, scale=2)
            row["grid"] = str(grid.relative_to(ROOT))
        figures[f"{args.option} = {value:g}"] = row
        print(f"{args.option} = {value:g}: {row}", flush=True)
    if not args.no_write:
        fid, best = min((figures[f"{args.option} = {v:g}"]["fid"], v) for v in args.values)
        figures["best FID"] = {"fid": fid, args.option: best}
        write_result(args.name, figures, threads=args.threads, notes=(
            f"One {run.config.family} run ({args.run}, {run.step} steps), sampled through genlab.runs.sample at each "
            f"value of {args.option} with the same seeds (one per batch of {args.batch}), against the {dataset} "
            "test images in genlab's classifier features (genlab.eval.evaluate_samples). Legibility is judged by eye "
            "in the grids; FID alone does not measure it."),
            headline={"figure": "best FID", "target": "reported (sampling setting chosen by eye and FID)",
                      "met": None})
    return figures


if __name__ == "__main__":
    main()
