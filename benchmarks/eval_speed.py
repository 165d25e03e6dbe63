"""Speed of the evaluation: FID + KID + precision/recall + density/coverage for 10k generated vs 10k real
MNIST images with genlab-mnist classifier features, feature extraction included; and torchmetrics' FID
on the same features, measured side by side.

Target (issue 3): the whole evaluation in under 30 s on 2 CPU cores.

The "generated" images are 10k MNIST training images with Gaussian pixel noise (sigma 0.1), clipped: any
10k images cost the same, and these give non-trivial metric values. Real images: the 10k test images.

Timed (wall seconds, torch threads 2, medians over --reps, the variants alternated A, B, A, B):
  cold      evaluate_samples with the real-feature cache off: 20k images through the classifier + metrics
  warm      evaluate_samples with the real features cached (a second evaluation): 10k images + metrics
  parts     feature extraction of 10k images, FID, KID (100 subsets of 1000), precision/recall +
            density/coverage (one pass), Inception Score
  FID alone genlab's fid() vs torchmetrics FrechetInceptionDistance (identity feature module) on the
            same precomputed features, and torchmetrics FID with the classifier as its feature module
            on the images (extraction included)

    .venv/bin/python benchmarks/eval_speed.py             # writes benchmarks/results/eval_speed.json
    .venv/bin/python benchmarks/eval_speed.py --reps 1 --no-write
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin

import argparse
import time

import torch
from _common import load_mnist, median, write_result


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10000, help="generated and real images")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    return p.parse_args(argv)


CPU: dict[str, list[float]] = {"cold": [], "warm": []}


def timed(fn, *args, cpu_key: str | None = None, **kwargs):
    """(wall seconds, result); with cpu_key, the process CPU seconds go to CPU[cpu_key]."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    if cpu_key:
        CPU[cpu_key].append(time.process_time() - c0)
    return time.perf_counter() - t0, out


def tm_fid(rf: torch.Tensor, ff: torch.Tensor) -> float:
    """torchmetrics' FID on precomputed features (an identity feature module)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    m = FrechetInceptionDistance(feature=_Identity(rf.shape[1]), normalize=True)
    m.update(rf.double(), real=True)
    m.update(ff.double(), real=False)
    return float(m.compute())


def tm_fid_images(clf, real_x: torch.Tensor, fake: torch.Tensor) -> float:
    """torchmetrics' FID with the genlab classifier as its feature module, images in."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    m = FrechetInceptionDistance(feature=_ClassifierModule(clf), normalize=True)
    m.update(real_x, real=True)
    m.update(fake, real=False)
    return float(m.compute())


class _Identity(torch.nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.num_features = d

    def forward(self, x):
        return x


class _ClassifierModule(torch.nn.Module):
    """The genlab classifier's features as a torchmetrics feature module."""

    def __init__(self, clf):
        super().__init__()
        self.clf, self.num_features = clf, clf.dim

    def forward(self, x):
        return self.clf.features(x).double()


def main(argv=None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    from genlab.eval import metrics as M
    from genlab.eval.classifier import load_classifier
    from genlab.eval.features import real_features
    from genlab.eval.protocol import evaluate_samples

    clf = load_classifier("mnist", progress=False)
    train = load_mnist("train")
    g = torch.Generator().manual_seed(0)
    x = train.images(slice(0, a.n))
    fake = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    real_x = load_mnist("test").images(slice(0, a.n))
    real_features(clf, "mnist", split="test", n=a.n)  # fill the cache for the warm runs
    # Warm-up (allocator, oneDNN kernels) outside the timings.
    evaluate_samples(fake[:500], "mnist", n_real=a.n, kid_subsets=2)

    t: dict[str, list[float]] = {k: [] for k in ("cold", "warm", "features_10k", "fid", "kid", "pr_dc", "is",
                                                 "fid_genlab", "fid_torchmetrics", "fid_torchmetrics_images")}
    result = None
    for rep in range(a.reps):
        s, result = timed(evaluate_samples, fake, "mnist", n_real=a.n, cache=False, cpu_key="cold")
        t["cold"].append(s)
        s, result = timed(evaluate_samples, fake, "mnist", n_real=a.n, cpu_key="warm")
        t["warm"].append(s)
        s, (ff, logits) = timed(clf.features_and_logits, fake)
        t["features_10k"].append(s)
        rf = real_features(clf, "mnist", split="test", n=a.n)["features"]
        t["fid"].append(timed(M.fid, rf, ff)[0])
        t["kid"].append(timed(M.kid, rf, ff, generator=torch.Generator().manual_seed(0))[0])
        t["pr_dc"].append(timed(M.manifold_metrics, rf, ff)[0])
        t["is"].append(timed(M.inception_score, logits)[0])
        # FID alone on the same features, side by side: genlab and torchmetrics, order alternating.
        for which in (("genlab", "torchmetrics") if rep % 2 == 0 else ("torchmetrics", "genlab")):
            if which == "genlab":
                s, ours = timed(M.fid, rf, ff)
            else:
                s, theirs = timed(tm_fid, rf, ff)
            t[f"fid_{which}"].append(s)
        s, theirs_images = timed(tm_fid_images, clf, real_x, fake)
        t["fid_torchmetrics_images"].append(s)
        print({k: round(v[-1], 3) for k, v in t.items() if v}, flush=True)

    med = {k: round(median(v), 3) for k, v in t.items()}
    figures = {
        "images (generated, real)": [a.n, a.n],
        "whole evaluation, cold (s)": med["cold"],
        "whole evaluation, real features cached (s)": med["warm"],
        "whole evaluation, cold, process CPU-s (both threads)": round(median(CPU["cold"]), 3),
        "whole evaluation, cached, process CPU-s (both threads)": round(median(CPU["warm"]), 3),
        "target (s)": 30,
        "target met (cold)": med["cold"] < 30,
        "classifier features + logits, 10k images (s)": med["features_10k"],
        "FID on features (s)": med["fid"],
        "KID, 100 subsets of 1000 (s)": med["kid"],
        "precision/recall + density/coverage (s)": med["pr_dc"],
        "Inception Score (s)": med["is"],
        "FID alone on the same features: genlab (s)": med["fid_genlab"],
        "FID alone on the same features: torchmetrics (s)": med["fid_torchmetrics"],
        "ratio torchmetrics / genlab (FID alone)": round(med["fid_torchmetrics"] / max(med["fid_genlab"], 1e-9), 2),
        "torchmetrics FID with the classifier as feature module, images in (s)": med["fid_torchmetrics_images"],
        "FID value: genlab": round(ours, 4), "FID value: torchmetrics": round(theirs, 4),
        "FID value: torchmetrics, images in": round(theirs_images, 4),
        "metric values": {k: round(v, 4) for k, v in result.items() if isinstance(v, float)},
        "per-rep seconds": {k: [round(x, 3) for x in v] for k, v in t.items()},
        "load average at end (1, 5, 15 min)": [round(x, 2) for x in os.getloadavg()],
    }
    for k, v in figures.items():
        print(f"{k}: {v}")
    if not a.no_write:
        notes = (f"Wall seconds, medians of {a.reps} reps, torch threads {a.threads}, OMP_WAIT_POLICY=PASSIVE, on a "
                 "2-core machine shared with other jobs (see the load average). 'cold' recomputes the real "
                 "features; 'cached' reads them from $GENLAB_CACHE/eval_stats. Generated = noisy training images.")
        write_result("eval_speed", figures, notes=notes, threads=a.threads)


if __name__ == "__main__":
    main()
