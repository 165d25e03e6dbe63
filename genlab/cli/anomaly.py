"""`genlab anomaly`: how well a run's model tells its own kind of image from others (genlab.apps.anomaly)."""

from __future__ import annotations

from typing import Annotated, Literal

import tyro

from genlab.cli.common import output_file
from genlab.config import check_bounds


def anomaly(run: tyro.conf.Positional[str], against: str | None = None,
            score: Literal["auto", "recon", "nll", "ratio", "complexity"] = "auto", background: str | None = None,
            n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 2000, seed: int = 0, t_samples: int | None = None,
            out: str = "anomaly.png", overwrite: bool = False) -> None:
    """Anomaly / out-of-distribution detection: score the run's test images (normal) and other images (anomalous),
    print AUROC and AUPRC, and draw the two score histograms.

    A run trained on some classes only (--classes) is a one-class detector: its normal images are the test
    images of those classes and, unless --against says otherwise, the anomalies are the test images of the other
    classes. Any other run needs --against.

    Args:
        run: the run folder (runs/NAME): a family with a likelihood (flow, pixelcnn, vae, ddpm, fa, gmm, ...) or
            one that reconstructs (ae, vae, pca, ...).
        against: the anomalous images: a dataset's test split (e.g. mnist for a Fashion-MNIST run) or
            folder:PATH, of the run's image size.
        score: recon (reconstruction error), nll (bits/dim), ratio (nll minus a background model's nll: needs
            --background), complexity (nll minus PNG bits/dim); auto = nll when the model has a likelihood,
            else recon.
        background: the run of the same family trained with --perturb (the ratio score's background model).
        n: at most this many images of each side (the first n).
        seed: seeds dequantization and a bound's sampling (the same noise for the model and its background).
        t_samples: ddpm only: stratified timesteps of its bound per image (default 100; fewer is faster and
            noisier, 0 sums all of them exactly).
        out: the histogram PNG to write (its folder must exist).
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
    """
    import torch

    from genlab.apps.anomaly import anomaly_scores, default_score, score_histogram, separation
    from genlab.io import atomic_write_bytes
    from genlab.runs import load_run, load_training_data

    output_file(out, overwrite=overwrite)
    check_bounds("-n", n, ge=1)
    if t_samples is not None:
        check_bounds("--t-samples", t_samples, ge=0)
    options = None if t_samples is None else {"t_samples": t_samples}
    r = load_run(run)
    bg = load_run(background).model if background is not None else None
    chosen = default_score(r.model) if score == "auto" else score
    test = load_training_data(r.config.data, split="test")
    keep = r.config.data.classes
    if keep and test.y is not None:
        inside = torch.isin(test.y, torch.tensor(keep, dtype=test.y.dtype))
        normal = test.x[inside][:n]
        what = f"{r.config.data.name} test, classes {list(keep)}"
        if against is None:
            anomalous, other = test.x[~inside][:n], f"{r.config.data.name} test, the other classes"
    else:
        normal, what = test.x[:n], f"{r.config.data.name} test"
        if against is None:
            raise ValueError("give the anomalous images: --against DATASET (e.g. --against mnist for a Fashion-MNIST "
                             "run), or train a one-class run with --classes")
    if against is not None:
        from genlab.data import load_data

        other_data = load_data(against, split="test")
        if tuple(other_data.shape) != tuple(r.model.shape):
            raise ValueError(f"{against} images are {tuple(other_data.shape)} but the run's are "
                             f"{tuple(r.model.shape)}; compare datasets of the same image size")
        anomalous, other = other_data.x[:n], f"{against} test"
    binarized = r.config.data.binarize
    g = lambda: torch.Generator().manual_seed(seed)  # noqa: E731  the same noise for both sides
    s_normal = anomaly_scores(r.model, normal, chosen, background=bg, binarized=binarized, generator=g(),
                              nll_options=options)
    s_other = anomaly_scores(r.model, anomalous, chosen, background=bg, binarized=binarized, generator=g(),
                             nll_options=options)
    sep = separation(s_normal, s_other)
    label = {"recon": "reconstruction MSE", "nll": "bits/dim", "ratio": "bits/dim minus background bits/dim",
             "complexity": "bits/dim minus PNG bits/dim"}[chosen]
    atomic_write_bytes(out, score_histogram(s_normal, s_other, label=f"{chosen} score ({label})",
                                            names=(what, other), title=f"{r.config.family}, {chosen}"))
    print(f"{r.config.family} {chosen} score: AUROC {sep['auroc']:.4f}, AUPRC {sep['auprc']:.4f} "
          f"({len(s_normal)} normal: {what}, mean {float(s_normal.mean()):.4f}; {len(s_other)} anomalous: {other}, "
          f"mean {float(s_other.mean()):.4f}); wrote {out}")
