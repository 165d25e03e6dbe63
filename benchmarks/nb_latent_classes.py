"""Naive Bayes with latent classes: one naive Bayes model per class against a mixture of C of them (issue 22).

Bernoulli naive Bayes draws every pixel independently given the class, so its samples are salt on the class's
average (a blob). With components=C each class gets C latent classes, p(x | y) = sum_c pi_yc prod_d p(x_d | y, c),
fitted by EM (genlab/models/classical/bernoulli_mixture.py). Each model is fitted on the 60k MNIST training images;
n samples (seed 1, every class in turn) are judged against the 10k test images with the genlab-mnist classifier's
features (FID, precision, recall, coverage, the classifier's agreement with the asked-for class); the exact test
likelihood is of the test images binarized at 1/2 (nats per image and bits per binary pixel, the marginal over the
labels), and the test accuracy is Bayes' rule on them. The samples of each model are saved as a grid.

How C and the smoothing alpha were chosen, without the test images: each option set is also fitted on the first
50k training images and scored on the last 10k (the "validation" nats); the cpu preset (genlab/models/recipes.py)
takes the best of these.

    .venv/bin/python benchmarks/nb_latent_classes.py            # about 8 CPU-minutes, one thread
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import math

import torch
from _common import ROOT, CpuTimer, load_mnist, sample_figures, write_result

HEADLINE = {"figure": "components=200, alpha=0.05",
            "target": "reported (issue 22: legible digits from every image family)", "met": None}
PICTURES = ROOT / "docs" / "images" / "classical"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--options", nargs="+", default=["1:1", "1:0.05", "10:0.05", "100:1", "100:0.05", "200:0.05"],
                   help="option sets, components:alpha each")
    p.add_argument("--n", type=int, default=10000, help="samples per model")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    from genlab.eval.protocol import evaluate_samples
    from genlab.models import build_model
    from genlab.viz.grid import save_grid

    train, test = load_mnist(), load_mnist("test")
    figures: dict[str, str] = {}
    for option_set in args.options:
        components, alpha = int(option_set.split(":")[0]), float(option_set.split(":")[1])
        options = {"components": components, "alpha": alpha}
        held_out = build_model("nb", options, spec=train.spec)
        held_out.fit(train.subset(50000), generator=torch.Generator().manual_seed(0))
        validation = float(held_out.eval().nll(held_out.binarize(train.images(slice(50000, None)))).mean())
        model = build_model("nb", options, spec=train.spec)
        with CpuTimer() as t:
            stats = model.fit(train, generator=torch.Generator().manual_seed(0))
        model.eval()
        xb = model.binarize(test.images())
        nats = float(model.nll(xb).mean())
        accuracy = float((model.predict(xb) == test.labels()).float().mean())
        out = model.sample(args.n, generator=torch.Generator().manual_seed(1))
        r = evaluate_samples(out.x, "mnist", labels=out.y, n_real=10000)
        line = (f"validation {validation:.2f} nats; {sample_figures(r)}; "
                f"test {nats:.2f} nats ({nats / (784 * math.log(2)):.4f} bits per binary pixel); "
                f"test accuracy {accuracy:.4f}; fit {t.cpu:.1f} CPU-s")
        if "em_iterations" in stats:
            line += f", {stats['em_iterations']} EM iterations (converged: {bool(stats['converged'])})"
        key = f"components={components}, alpha={alpha:g}"
        figures[key] = line
        print(key, line, flush=True)
        save_grid(out.x[:80], PICTURES / f"nb_components_{components}_alpha_{alpha:g}_samples.png", nrow=10, scale=2)
    write_result("nb_latent_classes", figures,
                 notes=f"{args.n} samples per row (seed 1, every class in turn) against the 10,000 MNIST test "
                       "images, genlab-mnist classifier features; each Bernoulli naive Bayes fitted on the 60k "
                       "training images binarized at 1/2 (seed 0; EM for components > 1); test likelihood exact, of "
                       "the 10,000 test images binarized at 1/2, the marginal over the labels; validation: the same "
                       "options fitted on the first 50k training images, scored on the last 10k",
                 threads=args.threads, headline=HEADLINE)


if __name__ == "__main__":
    main()
