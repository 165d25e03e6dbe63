"""The explicit joint table on MNIST against k: where a table with no assumptions beats independent cells,
and where its 2^(k*k) entries outgrow 60,000 training images (issue 13, docs/LIKELIHOOD.md).

For k = 1 ... 5, build the `table` family with its defaults (area pooling, median cuts, Laplace smoothing),
fit it on the MNIST training images (timed, process CPU), and report on the test images:

    test nats           exact -log T of each test image's k x k cells (genlab.eval.likelihood), and
                        bits per cell (nats / (k^2 ln 2))
    independent cells   the same cells scored by k^2 independent Bernoullis (Laplace-smoothed marginals):
                        the fully factorized model, for the gain of modelling the cells jointly
    seen / unseen       table entries seen in training; share of test images whose configuration never
                        appeared in training (they get only the smoothing's (0 + 1) / (N + 2^D))

    .venv/bin/python benchmarks/table_mnist.py            # 60k / 10k images, ~10 CPU-seconds
    .venv/bin/python benchmarks/table_mnist.py --quick --out /tmp/table_quick.json   # 5k / 1k, k <= 4
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on CPU time

import argparse
import json
from pathlib import Path

import torch
from _common import ROOT, CpuTimer, load_mnist, write_result

PICTURE = ROOT / "docs" / "images" / "table" / "mnist_cells_by_k.png"


def independent_cells_nats(model, train, test) -> float:
    """Mean test nats of the model's cells under independent Laplace-smoothed Bernoullis fitted on train."""
    on = sum(model.cells(train.images(slice(i, i + 10000))).flatten(1).double().sum(0)
             for i in range(0, len(train), 10000))
    p = (on + 1) / (len(train) + 2)
    b = model.cells(test.images()).flatten(1).double()
    return float(-(b * p.log() + (1 - b) * (1 - p).log()).sum(1).mean())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="5k training and 1k test images, k <= 4")
    p.add_argument("--out", type=Path, default=None, help="result file (default benchmarks/results/table_mnist.json)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    import genlab
    from genlab.eval.likelihood import evaluate_likelihood

    train, test = load_mnist("train"), load_mnist("test")
    if args.quick:
        train, test = train.subset(5000), test.subset(1000)
    figures: dict = {"train_images": len(train), "test_images": len(test)}
    rows, pictured = [], [test.images()[:10]]  # the picture: the test images, then per k their cells and samples
    for k in (1, 2, 3, 4) if args.quick else (1, 2, 3, 4, 5):
        model = genlab.build_model("table", {"k": k}, spec=train.spec)
        with CpuTimer() as t:
            fit = model.fit(train)
        r = evaluate_likelihood(model, test.images())
        unseen = float((model.counts[model.index_of(model.cells(test.images()))] == 0).double().mean())
        row = {"k": k, "cells": k * k, "free_parameters": 2 ** (k * k) - 1, "seen": fit["configurations_seen"],
               "train_nats": fit["train_nll_nats"], "test_nats": r["nll_nats"], "bits_per_cell": r["bits_per_dim"],
               "independent_nats": independent_cells_nats(model, train, test), "unseen": unseen, "fit_cpu_s": t.cpu}
        rows.append(row)
        if k >= 2:
            pictured += [model.upsample(model.cells(test.images()[:10])),
                         model.sample(10, generator=torch.Generator().manual_seed(0)).x]
        figures[f"k={k} test nats"] = round(row["test_nats"], 4)
        figures[f"k={k} independent cells test nats"] = round(row["independent_nats"], 4)
        figures[f"k={k} test configurations unseen in training"] = round(unseen, 4)
        print(f"k={k}: {row['seen']:,} of {2 ** (k * k):,} entries seen; test {row['test_nats']:.3f} nats "
              f"({row['bits_per_cell']:.3f} bits/cell), independent cells {row['independent_nats']:.3f}; "
              f"{100 * unseen:.1f}% of test configurations unseen; fit {t.cpu:.2f} CPU-s", flush=True)
        del model
    if not args.quick:
        from genlab.viz.grid import save_grid
        picture = save_grid(torch.cat(pictured), PICTURE, nrow=10, scale=2)
        figures["picture"] = str(picture.relative_to(ROOT))
        print(f"wrote {picture}: the first 10 test images; then for k = 2 .. 5 their k x k cells and 10 samples")
    wins = [row["k"] for row in rows if row["test_nats"] < row["independent_nats"] - 1e-6]
    figures["largest k where the table beats independent cells"] = max(wins, default=0)
    figures["max fit CPU seconds"] = round(max(row["fit_cpu_s"] for row in rows), 2)
    md = ["| k | cells D | free parameters 2^D - 1 | entries seen in training | train nats | test nats | "
          "test bits/cell | independent cells, test nats | test images with an unseen configuration | fit CPU-s |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['k']} | {r['cells']} | {r['free_parameters']:,} | {r['seen']:,} | {r['train_nats']:.3f} | "
           f"{r['test_nats']:.3f} | {r['bits_per_cell']:.3f} | {r['independent_nats']:.3f} | "
           f"{100 * r['unseen']:.1f}% | {r['fit_cpu_s']:.2f} |" for r in rows]
    notes = ("exact NLL of each test image's k x k binary cells (the table family's defaults: area pooling, median "
             "cuts, Laplace smoothing); independent cells: the same cells under a product of smoothed marginals; "
             "bits/cell = nats / (D ln 2)")
    path = write_result("table_mnist_quick" if args.quick and args.out is None else "table_mnist", figures, notes,
                        threads=1, path=args.out,
                        headline={"figure": "largest k where the table beats independent cells",
                                  "target": "reported (the table wins while its entries are few beside the images)",
                                  "met": None})
    raw = json.loads(path.read_text())
    raw["markdown"] = "\n".join(md)  # the per-k table, for renderers that embed it
    path.write_text(json.dumps(raw, indent=2) + "\n")
    print("\n".join(md))

if __name__ == "__main__":
    main()
