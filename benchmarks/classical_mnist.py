"""The classical latent models on MNIST: fit time, test bits/dim, reconstruction against the number of
components, pictures, and naive Bayes with missing pixels against genlab's CNN classifier (issue 15).

For each model below, build the genlab family and `fit` it (scikit-learn behind it) on the MNIST training
images, timing wall and process-CPU seconds (target: < 60 wall seconds each on 2 cores), then:

    test bits/dim       genlab.eval.likelihood.evaluate_likelihood on the test images, uniformly
                        dequantized 8-bit pixels (density + D log 256; 8 bits/dim = uniform), exact NLL;
                        conditional models also without labels (-log sum_y p(y) p(x|y)); Bernoulli naive
                        Bayes on the test images binarized at 1/2 (a binary likelihood: another scale)
    reconstruction      test MSE of the projection on the top k components of PCA and of the uncentred
                        SVD for k = 1 ... 784, with PCA's cumulative explained-variance ratio (a picture)
    pictures            eigen-images, factors, component means, class means and samples (grids)
    missing pixels      test accuracy with 0, 25, 50, 75% of each image's pixels missing (a random subset
                        per image, seeded): naive Bayes marginalizes them out exactly (their factors are
                        dropped); genlab's CNN classifier (load_classifier("mnist")) gets the same images
                        zero-filled and mean-filled (the training mean image); naive Bayes zero-filled too

    .venv/bin/python benchmarks/classical_mnist.py                 # 60k / 10k images (a few minutes + the CNN)
    .venv/bin/python benchmarks/classical_mnist.py --quick --out /tmp/classical_quick.json   # 5k / 1k, no CNN
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on CPU time

import argparse
import json
import tempfile
from pathlib import Path

import torch
from _common import ROOT, CpuTimer, load_mnist, write_result

# The models fitted (name -> family and options); the families' defaults unless said otherwise.
MODELS: dict[str, tuple[str, dict]] = {
    "pca": ("pca", {"components": 50}),
    "fa": ("fa", {"components": 32}),
    "gmm": ("gmm", {"components": 10, "covariance": "full", "pca_components": 50}),
    "gmm-diag": ("gmm", {"components": 10, "covariance": "diag", "pca_components": 0}),
    "gmm-conditional": ("gmm", {"components": 5, "covariance": "full", "pca_components": 50, "conditional": True}),
    "svd": ("svd", {"components": 50}),
    "nb-bernoulli": ("nb", {"likelihood": "bernoulli"}),
    "nb-gaussian": ("nb", {"likelihood": "gaussian"}),
    "nb-gaussian-smoothed": ("nb", {"likelihood": "gaussian", "var_smoothing": 0.1}),
}
KS = (1, 2, 5, 10, 20, 50, 100, 200, 400, 784)  # components for the reconstruction curve
MISSING = (0.0, 0.25, 0.5, 0.75)
BASIS_PICTURES = {"fa": ("fa_factors", 8), "svd": ("svd_factors", 10), "gmm": ("gmm_component_means", 10),
                  "gmm-conditional": ("gmm_conditional_means", 5), "nb-bernoulli": ("nb_bernoulli_class_means", 10),
                  "nb-gaussian": ("nb_gaussian_class_means", 10)}  # model -> picture of its basis_images()
TARGET_FIT_SECONDS = 60.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="5k training and 1k test images, no CNN (smoke test)")
    p.add_argument("--train-n", type=int, default=None, help="training images (default 60000; quick 5000)")
    p.add_argument("--test-n", type=int, default=None, help="test images (default 10000; quick 1000)")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    p.add_argument("--no-cnn", action="store_true", help="skip the CNN classifier in the missing-pixel table")
    p.add_argument("--threads", type=int, default=2, help="torch and BLAS threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None,
                   help="result JSON (default benchmarks/results/classical_mnist.json; quick: ..._quick.json)")
    p.add_argument("--images", type=Path, default=None,
                   help="picture folder (default docs/images/classical; with --out: beside the JSON; "
                        "with --quick: the temporary folder)")
    return p.parse_args(argv)


def fit_all(names: list[str], train, seed: int) -> tuple[dict, dict]:
    """Build and fit every model; returns (models, fit figures)."""
    import sklearn.decomposition
    import sklearn.mixture
    import sklearn.naive_bayes  # noqa: F401  (imported here so that no fit time includes it)

    from genlab.models import build_model

    models, figures = {}, {}
    for name in names:
        family, options = MODELS[name]
        model = build_model(family, options, spec=train.spec)
        with CpuTimer() as t:
            logged = model.fit(train, generator=torch.Generator().manual_seed(seed))
        models[name] = model.eval()
        figures[name] = {"family": family, "options": options, "fit_wall_s": round(t.wall, 2),
                         "fit_cpu_s": round(t.cpu, 2), "fit": {k: round(float(v), 6) for k, v in logged.items()}}
        print(f"{name:16s} fit {t.wall:7.2f} wall-s {t.cpu:7.2f} CPU-s  {logged}", flush=True)
    return models, figures


def likelihoods(models: dict, test, seed: int) -> dict:
    """Test bits/dim (and nats) of every model with a likelihood."""
    from genlab.eval.likelihood import evaluate_likelihood
    from genlab.models.base import Likelihood

    out = {}
    x, y = test.images(), test.labels()
    for name, model in models.items():
        if not isinstance(model, Likelihood):
            continue
        binarized = "static" if model.likelihood_kind == "binary" else "none"
        r = evaluate_likelihood(model, x, y, binarized=binarized, generator=torch.Generator().manual_seed(seed))
        row = {"bits_per_dim": round(r["bits_per_dim"], 4), "nll_nats": round(r["nll_nats"], 2),
               "label": r["likelihood_label"]}  # it says "given each image's label" for a conditional model
        if model.conditional:  # also the marginal p(x) = sum_y p(y) p(x | y)
            m = evaluate_likelihood(model, x, None, binarized=binarized, generator=torch.Generator().manual_seed(seed))
            row.update({"bits_per_dim_marginal": round(m["bits_per_dim"], 4),
                        "nll_nats_marginal": round(m["nll_nats"], 2)})
        out[name] = row
        print(f"{name:16s} {row}", flush=True)
    return out


def projection_errors(basis: torch.Tensor, x: torch.Tensor, centre: torch.Tensor | None, ks) -> list[float]:
    """Test MSE per pixel of projecting x (n, D) onto the first k rows of an orthonormal basis, for each k."""
    r = (x - centre) if centre is not None else x
    z = r @ basis.T  # (n, q)
    total = (r * r).sum(1)
    cum = (z * z).cumsum(1)
    return [float(((total - cum[:, k - 1]).clamp_min(0) / x.shape[1]).mean()) for k in ks]


def reconstruction_curves(train, test, seed: int) -> dict:
    """PCA and uncentred SVD fitted with every component: test MSE vs k and PCA's explained-variance curve."""
    from genlab.models import build_model

    d = train.x[0].numel()
    ks = [k for k in KS if k <= d]
    g = torch.Generator().manual_seed(seed)
    pca = build_model("pca", {"components": d, "solver": "covariance_eigh"}, spec=train.spec)
    pca.fit(train, generator=g)
    svd = build_model("svd", {"components": max(k for k in ks if k <= 200)}, spec=train.spec)
    with CpuTimer() as t:
        svd.fit(train, generator=g)
    x = test.images().flatten(1)
    ratio = pca.explained_variance_ratio().double().cumsum(0)
    s_ks = [k for k in ks if k <= svd.components.shape[0]]
    first = svd.components[0] @ (pca.mean / pca.mean.norm())
    pcs_in_svd = (svd.components[:11].double() @ pca.components[:10].double().T).norm(dim=0)
    return {"k": ks, "pca_test_mse": projection_errors(pca.components, x, pca.mean, ks),
            "pca_explained_variance_ratio": [float(ratio[k - 1]) for k in ks],
            "svd_k": s_ks, "svd_test_mse": projection_errors(svd.components, x, None, s_ks),
            "svd_fit_wall_s_200": round(t.wall, 2),
            "svd_first_factor_cosine_with_mean_image": round(float(first.abs()), 4),
            "pca_top10_norm_of_projection_on_svd_top11": [round(float(v), 4) for v in pcs_in_svd],
            "_pca": pca}


def missing_pixel_table(models: dict, train, test, use_cnn: bool, seed: int) -> dict:
    """Test accuracy with a fraction of each image's pixels missing (a seeded random subset per image)."""
    x, y = test.images(), test.labels()
    n, d = x.shape[0], x[0].numel()
    mean_image = train.images().mean(0, keepdim=True)
    clf = None
    if use_cnn:
        from genlab.eval.classifier import load_classifier

        clf = load_classifier("mnist")
    table = {}
    for frac in MISSING:
        g = torch.Generator().manual_seed(seed + int(frac * 100))
        order = torch.rand(n, d, generator=g).argsort(1)
        mask = torch.zeros(n, d, dtype=torch.bool)
        mask.scatter_(1, order[:, :round(frac * d)], True)
        mask = mask.view_as(x)
        zero, meanfill = x.masked_fill(mask, 0.0), torch.where(mask, mean_image, x)
        row = {}
        for name in [n for n in models if n.startswith("nb-")]:
            row[f"{name} marginalized"] = accuracy(lambda b, i, m=models[name], mk=mask: m.predict(b, mk[i]), x, y)
            row[f"{name} zero-filled"] = accuracy(lambda b, i, m=models[name]: m.predict(b), zero, y)
        if clf is not None:
            row["cnn zero-filled"] = accuracy(lambda b, i: clf.predict(b), zero, y)
            row["cnn mean-filled"] = accuracy(lambda b, i: clf.predict(b), meanfill, y)
        table[f"{int(frac * 100)}%"] = row
        print(f"missing {int(frac * 100):2d}%: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)
    return table


def accuracy(predict, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Share of x classified as y; predict(batch_images, index) -> labels."""
    hits = 0
    for i in range(0, x.shape[0], batch):
        idx = slice(i, i + batch)
        hits += int((predict(x[idx], idx).cpu() == y[idx]).sum())
    return round(hits / x.shape[0], 4)


def pictures(models: dict, curves: dict, folder: Path, seed: int) -> dict[str, str]:
    """Picture grids and the reconstruction plot; returns name -> path relative to the repository root."""
    from genlab.viz.grid import save_grid

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    pca = curves["_pca"]
    out["pca_eigen_images"] = save_grid(torch.cat([pca.mean.view(1, *pca.shape), pca.eigen_images()[:39]]),
                                        folder / "pca_eigen_images.png", nrow=10, scale=2)
    for name, (stem, nrow) in BASIS_PICTURES.items():
        if name in models:
            out[stem] = save_grid(models[name].basis_images()[:40], folder / f"{stem}.png", nrow=nrow, scale=2)
    for name, model in models.items():
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            s = model.sample(40, generator=g)  # conditional models: classes in turn, one class per column
        out[f"{name}_samples"] = save_grid(s.x, folder / f"{name.replace('-', '_')}_samples.png", nrow=10, scale=2)
    out["reconstruction_vs_components"] = reconstruction_plot(curves, folder / "reconstruction_vs_components.png")
    return {k: str(v.resolve().relative_to(ROOT)) if v.resolve().is_relative_to(ROOT) else str(v)
            for k, v in out.items()}


def reconstruction_plot(curves: dict, path: Path) -> Path:
    """Test MSE vs components (PCA, SVD; log axes) and PCA's cumulative explained-variance ratio."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax, bx = fig.subplots(1, 2)
    ks = curves["k"]
    shown = [(k, v) for k, v in zip(ks, curves["pca_test_mse"]) if v > 1e-9]  # every component: exact (0)
    ax.plot(*zip(*shown), "o-", label="PCA (centred)")
    ax.plot(curves["svd_k"], curves["svd_test_mse"], "s--", label="truncated SVD (uncentred)")
    ax.set(xscale="log", yscale="log", xlabel="components k", ylabel="test MSE per pixel",
           title=f"reconstruction error (0 at k = {ks[-1]})")
    ax.legend()
    bx.plot(ks, curves["pca_explained_variance_ratio"], "o-")
    bx.set(xscale="log", ylim=(0, 1.02), xlabel="components k", ylabel="cumulative ratio",
           title="PCA explained variance")
    bx.grid(alpha=0.3)
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def markdown(figures: dict) -> str:
    """The figures as markdown tables (benchmarks/render.py puts them under the benchmark's section)."""
    lik, recon = figures["test likelihood"], figures["test reconstruction MSE (clamped to [0, 1])"]
    rows = ["| model | family, options | fit wall s | fit CPU s | test bits/dim | without labels | recon. MSE |",
            "|---|---|---|---|---|---|---|"]
    for name, f in figures["fit"].items():
        opts = ", ".join(f"{k}={v}" for k, v in f["options"].items())
        lk = lik.get(name, {})
        bpd = f"{lk['bits_per_dim']:.3f}" if lk else "-"
        if lk and "binary" in lk["label"]:
            bpd += " (binary)"
        rows.append(f"| {name} | {f['family']}: {opts} | {f['fit_wall_s']:.1f} | {f['fit_cpu_s']:.1f} | {bpd} | "
                    f"{lk.get('bits_per_dim_marginal', '-')} | {recon.get(name, '-')} |")
    table = figures["missing pixels: test accuracy"]
    cols = list(next(iter(table.values())))
    rows += ["", "| missing | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    rows += [f"| {frac} | " + " | ".join(f"{row[c]:.4f}" for c in cols) + " |" for frac, row in table.items()]
    c = figures["reconstruction vs components"]
    rows += ["", f"SVD vs PCA: cosine of the first SVD factor with the mean image "
                 f"{c['svd_first_factor_cosine_with_mean_image']}; norms of PCA's top 10 directions projected on "
                 f"SVD's top 11: {c['pca_top10_norm_of_projection_on_svd_top11']}.", ""]
    rows += [" ".join(f"![{k}]({v.removeprefix('docs/')})" for k, v in figures["pictures"].items()
                      if v.startswith("docs/images/"))]
    return "\n".join(rows)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from threadpoolctl import threadpool_limits

    from genlab.models.base import Reconstruct

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    train_n = args.train_n or (5000 if args.quick else 60000)
    test_n = args.test_n or (1000 if args.quick else 10000)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown models {unknown}; valid: {', '.join(MODELS)}")
    name = "classical_mnist_quick" if args.quick else "classical_mnist"
    out = args.out or ROOT / "benchmarks" / "results" / f"{name}.json"
    images = args.images or (out.parent / f"{out.stem}_images" if args.out else
                             Path(tempfile.gettempdir()) / f"{name}_images" if args.quick else
                             ROOT / "docs" / "images" / "classical")
    train, test = load_mnist("train").subset(train_n), load_mnist("test").subset(test_n)

    models, fits = fit_all(names, train, args.seed)
    lik = likelihoods(models, test, args.seed)
    with CpuTimer() as t:
        curves = reconstruction_curves(train, test, args.seed)
    print(f"reconstruction curves in {t.wall:.1f} wall-s: PCA {curves['pca_test_mse']}", flush=True)
    x = test.images()
    recon = {n: round(float((m.reconstruct(x) - x).pow(2).mean()), 5) for n, m in models.items()
             if isinstance(m, Reconstruct)}
    table = missing_pixel_table(models, train, test, use_cnn=not (args.quick or args.no_cnn), seed=args.seed)
    pics = pictures(models, curves, images, args.seed)
    curves.pop("_pca")
    slowest = max(f["fit_wall_s"] for f in fits.values())
    figures = {
        "training images": train_n, "test images": test_n,
        "fit": fits,
        f"max fit wall seconds (target < {TARGET_FIT_SECONDS:.0f})": slowest,
        "test likelihood": lik,
        "test reconstruction MSE (clamped to [0, 1])": recon,
        "reconstruction vs components": curves,
        "missing pixels: test accuracy": table,
        "pictures": pics,
    }
    notes = ("Likelihoods: exact densities of uniformly dequantized 8-bit pixels ((k + u) / 256), reported as "
             "-log P(x) <= -log p(y) + D log 256 in bits/dim (8 = uniform); Gaussian families are fitted on the bin "
             "centres (k + 1/2) / 256 with the dequantization variance 1/(12 * 256^2) added to every variance. "
             "Conditional models: p(x | y) given the test label, and the marginal p(x). nb-bernoulli: a binary "
             "likelihood of the test images binarized at 1/2 (not the 8-bit scale). Missing pixels: a uniformly "
             "random subset of each test image's pixels (seeded per fraction); naive Bayes drops their factors "
             "(exact marginalization); the CNN sees them zero-filled or filled with the training mean image. "
             f"Fit times: wall and process-CPU seconds with {args.threads} torch/BLAS threads.")
    write_result(name, figures, notes, threads=args.threads, path=out,
                 headline={"figure": f"max fit wall seconds (target < {TARGET_FIT_SECONDS:.0f})",
                           "target": f"every classical family fits {train_n} MNIST images in < 60 s",
                           "met": bool(slowest < TARGET_FIT_SECONDS)})
    text = markdown(figures)
    result = json.loads(out.read_text())
    result["markdown"] = text  # render.py shows it under the benchmark's section
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(text)
    return figures


if __name__ == "__main__":
    main()
