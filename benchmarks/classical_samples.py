"""Samples of the Gaussian classical families with and without their noise term (issue 22's legible digits).

pca, fa and gmm add a noise term when they sample (PPCA's sigma eps, FA's per-pixel noise, a subspace
mixture's discarded coordinates); `sample_noise=False` draws the noise-free part, with the density unchanged.
Each model is fitted on the 60k MNIST training images, then n samples (seed 1) are judged against the 10k
test images with the genlab-mnist classifier's features (FID, precision, recall, coverage), once with the
noise and once without; the noise-free samples of each model are saved as a grid. The gmm rows are the
family's paper default (10 components) and the CPU preset's 100.

    .venv/bin/python benchmarks/classical_samples.py            # about 7 CPU-minutes, one thread
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse

import torch
from _common import ROOT, CpuTimer, load_mnist, sample_figures, write_result

# row name -> (family, options, the file name of its noise-free grid in docs/images/classical)
MODELS: dict[str, tuple[str, dict, str]] = {
    "pca (50 components)": ("pca", {"components": 50}, "pca_noise_free_samples.png"),
    "fa (32 factors)": ("fa", {"components": 32}, "fa_noise_free_samples.png"),
    "gmm (10 components)": ("gmm", {"components": 10}, "gmm_noise_free_samples.png"),
    "gmm (100 components, the cpu preset)": ("gmm", {"components": 100}, "gmm100_noise_free_samples.png"),
}
HEADLINE = {"figure": "gmm (100 components, the cpu preset), sample_noise off",
            "target": "reported (issue 22: the samples of the cpu preset)", "met": None}
PICTURES = ROOT / "docs" / "images" / "classical"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=2000, help="samples per model and setting")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from genlab.eval.protocol import evaluate_samples
    from genlab.models import build_model
    from genlab.viz.grid import save_grid

    train = load_mnist()
    figures: dict[str, str] = {}
    for name, (family, options, picture) in MODELS.items():
        model = build_model(family, options, spec=train.spec)
        with CpuTimer() as t:
            model.fit(train, generator=torch.Generator().manual_seed(0))
        for noise in (True, False):
            x = model.sample(args.n, generator=torch.Generator().manual_seed(1), noise=noise).x.clamp(0, 1)
            r = evaluate_samples(x, "mnist", n_real=10000)
            key = f"{name}, sample_noise {'on' if noise else 'off'}"
            figures[key] = f"{sample_figures(r)}; fit {t.cpu:.0f} CPU-s"  # unlabelled: no class agreement
            print(key, figures[key], flush=True)
        save_grid(x[:32], PICTURES / picture, nrow=8, scale=2)  # the last x: noise off
    write_result("classical_samples", figures,
                 notes=f"{args.n} samples per row (seed 1) against the 10,000 MNIST test images, genlab-mnist "
                       "classifier features; every model fitted on the 60k training images (seed 0); "
                       "sample_noise off draws the noise-free part (the density is unchanged)",
                 threads=args.threads, headline=HEADLINE)


if __name__ == "__main__":
    main()
