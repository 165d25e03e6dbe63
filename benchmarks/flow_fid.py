"""Sample quality of a flow trained by benchmarks/flow_mnist.py: classifier-FID, precision and recall of its
samples at several temperatures, from the weights that script saved with --save.

    .venv/bin/python benchmarks/flow_mnist.py --save /tmp/flow.safetensors        # the hour of training
    .venv/bin/python benchmarks/flow_fid.py /tmp/flow.safetensors --name flow_fid  # this: a few CPU-minutes

The model options must be those it was trained with (--model, as given to flow_mnist.py; the default is that
script's recipe). Samples are drawn with a fixed seed and compared with the 10,000 MNIST test images in the
feature space of genlab's shipped MNIST classifier (genlab.eval.evaluate_samples, as `genlab eval` does).
Writes benchmarks/results/NAME.json and a grid of the first 64 samples at each temperature to
docs/images/flow/NAME/.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from _common import ROOT, CpuTimer, load_mnist, write_result
from flow_mnist import MODEL


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("weights", type=Path, help="safetensors saved by flow_mnist.py --save")
    p.add_argument("--model", type=json.loads, default=None, help="JSON dict of flow options (overrides MODEL)")
    p.add_argument("--n", type=int, default=5000, help="samples per temperature")
    p.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.7])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--name", default="flow_fid", help="result name: benchmarks/results/NAME.json")
    p.add_argument("--no-write", action="store_true", help="print the figures without writing files")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from safetensors.torch import load_file

    from genlab.eval.protocol import evaluate_samples
    from genlab.models import build_model
    from genlab.viz.grid import save_grid

    model_options = {**MODEL, **(args.model or {})}
    model = build_model("flow", model_options, spec=load_mnist("test").spec)
    model.load_state_dict(load_file(str(args.weights)))
    model.eval()
    figures: dict = {"weights": str(args.weights), "model": model_options, "samples per temperature": args.n}
    out_dir = ROOT / "docs" / "images" / "flow" / args.name
    for t in args.temperatures:
        with CpuTimer() as ts:
            x = torch.cat([model.sample(min(500, args.n - i), temperature=t,
                                        generator=torch.Generator().manual_seed(args.seed + i)).x
                           for i in range(0, args.n, 500)])
        metrics = evaluate_samples(x.clamp(0, 1), "mnist")
        row = {k: round(float(metrics[k]), 4) for k in ("fid", "precision", "recall", "coverage") if k in metrics}
        row["sampling CPU-s"] = round(ts.cpu, 1)
        if not args.no_write:
            row["grid"] = str(save_grid(x[:64], out_dir / f"samples_t{int(round(10 * t)):02d}.png", nrow=8,
                                        scale=2).relative_to(ROOT))
        figures[f"T = {t}"] = row
        print(f"T = {t}: {row}", flush=True)
    if not args.no_write:
        best = min((figures[f"T = {t}"]["fid"], t) for t in args.temperatures)
        figures["best FID (temperature)"] = {"fid": best[0], "T": best[1]}
        write_result(args.name, figures, threads=args.threads, notes=(
            "Samples of a flow saved by benchmarks/flow_mnist.py, drawn with a fixed seed per batch of 500, against "
            "the 10,000 MNIST test images in genlab's MNIST classifier features (genlab.eval.evaluate_samples). "
            "No target: flows are known to sample poorly on MNIST; the figure is reported as measured."),
            headline={"figure": "best FID (temperature)", "target": "reported (no target)", "met": None})
    return figures


if __name__ == "__main__":
    main()
