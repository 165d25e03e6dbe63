"""The linear latent models with and without a Gaussian prior per class (the cpu preset on labelled data, issue 22).

pca, fa and svd draw one Gaussian's blur of every digit at once; with conditional=True each class gets its own
Gaussian prior on the same codes (genlab/models/classical/class_prior.py). Each model is fitted on the 60k MNIST
training images with the cpu preset's options, with and without the class prior; n samples (seed 1, noise-free as
the preset draws them) are judged against the 10k test images with the genlab-mnist classifier's features (FID,
precision, recall, coverage, the classifier's agreement with the asked-for class), and pca and fa also report
their exact test bits/dim (the conditional model's is the marginal over the labels, the same scale). The
conditional samples of each model are saved as a grid, one column per class.

    .venv/bin/python benchmarks/classical_conditional.py            # about 3 CPU-minutes, one thread
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse

import torch
from _common import ROOT, CpuTimer, load_mnist, sample_figures, write_result

FAMILIES = ("pca", "fa", "svd")
HEADLINE = {"figure": "pca, conditional", "target": "reported (issue 22: legible digits from every image family)",
            "met": None}
PICTURES = ROOT / "docs" / "images" / "classical"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10000, help="samples per model")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from genlab.eval.likelihood import evaluate_likelihood
    from genlab.eval.protocol import evaluate_samples
    from genlab.models import build_model
    from genlab.models.recipes import recipe
    from genlab.viz.grid import save_grid

    train, test = load_mnist(), load_mnist("test")
    figures: dict[str, str] = {}
    for family in FAMILIES:
        for conditional in (False, True):
            options = {**recipe(family).model, "conditional": conditional}
            model = build_model(family, options, spec=train.spec)
            with CpuTimer() as t:
                model.fit(train, generator=torch.Generator().manual_seed(0))
            out = model.eval().sample(args.n, generator=torch.Generator().manual_seed(1))
            r = evaluate_samples(out.x.clamp(0, 1), "mnist", labels=out.y, n_real=10000)
            line = sample_figures(r)
            if family != "svd":
                lik = evaluate_likelihood(model, test.images(), generator=torch.Generator().manual_seed(0))
                line += f"; test bits/dim {lik['bits_per_dim']:.3f}"
            key = f"{family}, {'conditional' if conditional else 'unconditional'}"
            figures[key] = f"{line}; fit {t.cpu:.1f} CPU-s"
            print(key, figures[key], flush=True)
            if conditional:
                save_grid(out.x[:40], PICTURES / f"{family}_class_conditional_samples.png", nrow=10, scale=2)
    write_result("classical_conditional", figures,
                 notes=f"{args.n} samples per row (seed 1; the conditional rows every class in turn) against the "
                       "10,000 MNIST test images, genlab-mnist classifier features; each model fitted on the 60k "
                       "training images (seed 0) with the cpu preset's options (noise-free samples), the "
                       "conditional one with a Gaussian prior per class on the same codes; bits/dim exact on "
                       "the 10,000 test images (uniform dequantization, seed 0)",
                 threads=args.threads, headline=HEADLINE)


if __name__ == "__main__":
    main()
