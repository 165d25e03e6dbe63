"""DeepDream on genlab's shipped MNIST and Fashion-MNIST classifiers (issue 17): does the chosen activation grow
>= 2x, and does a class dream push the class probability above 0.9, within the step budget?

Budget: the `genlab dream` defaults, 3 octaves (scale 1.5) x 20 steps, lr 0.05, jitter 2, no smoothness
prior. For each dataset, on its first N test images:

    layers       conv1, conv2, conv3, features: each image's mean activation of the layer after the dream over
                 the same before it (median and the fraction of images >= 2x), and the batch mean's growth
                 after each octave; again with 50 steps per octave (a bigger budget)
    class        target class (y + 1) mod 10 from each test image, and random targets from noise: the
                 classifier's probability of the target after the dream (fraction > 0.9, median)
    pictures     docs/images/apps/dream_<dataset>.png: the start, then each octave (captioned with the
                 classifier's class and probability), for a layer dream and class dreams (with a blur prior)

    .venv/bin/python benchmarks/apps_dream.py            # 32 images per dataset, about 1 CPU-minute
    .venv/bin/python benchmarks/apps_dream.py --n 4 --out /tmp/dream.json --images /tmp   # smoke run
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on CPU time

import argparse
from pathlib import Path

import torch
from _common import ROOT, CpuTimer, write_result

DATASETS = ("mnist", "fashion-mnist")
LAYERS = ("conv1", "conv2", "conv3", "features")
BUDGET = {"steps": 20, "lr": 0.05, "octaves": 3, "octave_scale": 1.5, "jitter": 2}  # the CLI defaults


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=32, help="test images (and noise starts) per dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="result JSON (default benchmarks/results/apps_dream.json)")
    p.add_argument("--images", type=Path, default=ROOT / "docs" / "images" / "apps", help="picture folder")
    return p.parse_args(argv)


def layer_figures(net, x: torch.Tensor, g: torch.Generator, budget: dict) -> dict:
    from genlab.apps.dream import dream, layer_objective

    out = {}
    for layer in LAYERS:
        objective = layer_objective(net, layer)
        result = dream(objective, x, generator=g, **budget)
        with torch.no_grad():
            ratio = objective(result.x) / objective(x).clamp_min(1e-6)  # (n,)
        trace = result.objective
        at_octaves = [trace[(o + 1) * budget["steps"]] / trace[0] for o in range(budget["octaves"])]
        out[layer] = {"median_growth": float(ratio.median()), "fraction_2x": float((ratio >= 2).float().mean()),
                      "mean_activation_before": trace[0], "mean_activation_after": trace[-1],
                      "batch_mean_growth_after_each_octave": [round(r, 3) for r in at_octaves]}
    return out


def class_figures(clf, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> dict:
    from genlab.apps.dream import class_objective, dream, noise_images

    k = clf.num_classes
    starts = {"test images, target (y + 1) mod 10": (x, (y + 1) % k),
              "noise": (noise_images(len(x), clf.shape, g), torch.randint(k, (len(x),), generator=g))}
    out = {}
    for name, (x0, targets) in starts.items():
        p = torch.zeros(len(x0))
        for t in targets.unique():
            rows = torch.nonzero(targets == t).flatten()
            result = dream(class_objective(clf.net, int(t)), x0[rows], generator=g, **BUDGET)
            p[rows] = torch.softmax(clf.logits(result.x), 1)[:, int(t)]
        out[name] = {"fraction_p_above_0.9": float((p > 0.9).float().mean()), "median_p": float(p.median()),
                     "min_p": float(p.min())}
    return out


def picture(clf, x: torch.Tensor, target: int, path: Path, g: torch.Generator) -> None:
    """Rows: conv2 dream, features dream, class dream (blur 0.5) from a test image, class dream from noise."""
    from genlab.apps.dream import class_objective, dream, layer_objective, noise_images
    from genlab.viz.captions import save_captioned_grid

    rows = [(layer_objective(clf.net, "conv2"), x, {}), (layer_objective(clf.net, "features"), x, {}),
            (class_objective(clf.net, target), x, {"blur_sigma": 0.5}),
            (class_objective(clf.net, target), noise_images(1, clf.shape, g), {"blur_sigma": 0.5})]
    images = []
    for objective, x0, prior in rows:
        result = dream(objective, x0, generator=g, **BUDGET, **prior)
        images += [x0, *result.octaves]
    shown = torch.cat(images)
    p = torch.softmax(clf.logits(shown), 1).max(1)
    classes = clf.meta["classes"]
    save_captioned_grid(shown, [f"{classes[int(k)]} {float(q):.2f}" for q, k in zip(p.values, p.indices)], path,
                        nrow=1 + BUDGET["octaves"], scale=3)
    print(f"wrote {path}")


def main(argv=None) -> None:
    from genlab.data import load_data
    from genlab.eval.classifier import shipped_classifier

    args = parse_args(argv)
    torch.set_num_threads(1)
    figures: dict = {"budget": BUDGET, "n": args.n}
    with CpuTimer() as total:
        for dataset in DATASETS:
            clf = shipped_classifier(dataset)
            test = load_data(dataset, split="test")
            x, y = test.images(slice(0, args.n)), test.labels(slice(0, args.n))
            g = torch.Generator().manual_seed(args.seed)
            figures[dataset] = {"layers": layer_figures(clf.net, x, g, BUDGET),
                                "layers, 50 steps per octave": layer_figures(clf.net, x, g, {**BUDGET, "steps": 50}),
                                "layers, lr 0.02 (the default before 2026-12-03)": layer_figures(
                                    clf.net, x, g, {**BUDGET, "lr": 0.02}),
                                "class": class_figures(clf, x, y, g)}
            args.images.mkdir(parents=True, exist_ok=True)
            picture(clf, x[:1], (int(y[0]) + 3) % clf.num_classes, args.images / f"dream_{dataset}.png", g)
            print(dataset, figures[dataset])
    figures["cpu_seconds"] = round(total.cpu, 1)
    growth = min(figures[d]["layers"]["conv2"]["median_growth"] for d in DATASETS)
    class_ok = min(v["fraction_p_above_0.9"] for d in DATASETS for v in figures[d]["class"].values())
    key = "conv2 median activation growth, min over datasets"
    figures[key] = round(growth, 3)
    figures["class dreams with p > 0.9, min fraction over datasets and starts"] = class_ok
    write_result("apps_dream", figures, notes="genlab dream defaults (3 octaves x 20 steps); shipped classifiers",
                 threads=1, path=args.out,
                 headline={"figure": key, "target": ">= 2x, and every class dream p > 0.9",
                           "met": bool(growth >= 2 and class_ok == 1.0)})


if __name__ == "__main__":
    main()
