"""Plots as PNG bytes: training curves and a 2-D map of latent codes.

Figures are drawn with matplotlib's object API on the Agg canvas (`matplotlib.figure.Figure`, never
pyplot), so nothing touches pyplot's global figure list or the user's interactive backend, and each
figure is released as soon as its PNG is written. matplotlib and scikit-learn load on first call.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

# Record fields written by the trainer that are not losses.
NOT_LOSSES = frozenset({"step", "lr", "img_per_s", "time", "epoch", "seconds"})
_PNG_METADATA = {"Software": None}  # keep the PNGs free of matplotlib's URL text chunk


def _figure(width: float, height: float):
    """A pyplot-free figure on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Any, dpi: int = 100) -> bytes:
    """The figure as PNG bytes; the figure is cleared afterwards so its memory is freed."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, metadata=_PNG_METADATA)
    finally:
        fig.clear()
    return buf.getvalue()


def loss_keys(history: Sequence[dict[str, Any]]) -> list[str]:
    """The numeric, non-bookkeeping fields of the records, in first-seen order."""
    keys: list[str] = []
    for rec in history:
        for k, v in rec.items():
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            if numeric and k not in NOT_LOSSES and k not in keys:
                keys.append(k)
    return keys


def wants_log_scale(values: Sequence[float]) -> bool:
    """Whether a curve reads better on a log scale: every value positive and the first steps so far above the
    rest (the first value over 10x the median of the second half) that a linear axis would flatten it."""
    v = [float(x) for x in values if math.isfinite(float(x))]
    if len(v) < 4 or min(v) <= 0:
        return False
    tail = sorted(v[len(v) // 2:])
    return v[0] > 10 * tail[len(tail) // 2]


def loss_curves(history: Sequence[dict[str, Any]], keys: Sequence[str] | None = None, log: bool | str = False) -> bytes:
    """One subplot per loss (x = optimizer step), as PNG bytes.

    Args:
        history: metric records with a "step" field, e.g. `TrainResult.history` or metrics.jsonl lines.
        keys: which fields to plot; default every numeric field except step, lr, img_per_s and time.
        log: a log y axis for every panel (True), none (False), or "auto": where wants_log_scale says so.
    """
    records = [r for r in history if "step" in r]
    if not records:
        raise ValueError("loss_curves needs at least one metric record with a 'step' field; "
                         "the history is empty")
    keys = list(keys) if keys is not None else loss_keys(records)
    if not keys:
        raise ValueError(f"no loss fields to plot; the records have {sorted(records[0])}")
    cols = min(len(keys), 4)
    rows = math.ceil(len(keys) / cols)
    fig = _figure(3.2 * cols, 2.6 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(keys):
            ax.set_visible(False)
            continue
        pts = [(r["step"], r[keys[i]]) for r in records if isinstance(r.get(keys[i]), (int, float))]
        steps, values = zip(*pts) if pts else ((), ())
        ax.plot(steps, values, marker="." if len(pts) < 30 else None, lw=1.5, color="C0")
        if log is True or (log == "auto" and wants_log_scale(values)):
            ax.set_yscale("log")
        ax.set_title(keys[i])
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    return figure_png(fig)


def pca_2d(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project (n, d) codes onto their first two principal components: ((n, 2), explained ratio (2,))."""
    from sklearn.decomposition import PCA

    n, d = codes.shape
    if d == 1:  # nothing to project: show the single coordinate against zero
        return np.concatenate([codes - codes.mean(0), np.zeros((n, 1))], 1), np.array([1.0, 0.0])
    pca = PCA(n_components=2, svd_solver="full", random_state=0)
    return pca.fit_transform(codes), pca.explained_variance_ratio_


def _numpy(a: torch.Tensor | np.ndarray) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def tsne_2d(codes: np.ndarray, seed: int = 0) -> np.ndarray:
    """Embed (n, d) codes in 2-D with scikit-learn's t-SNE (perplexity 30, or n/4 for small n): (n, 2)."""
    from sklearn.manifold import TSNE

    n = codes.shape[0]
    return TSNE(n_components=2, perplexity=min(30.0, max(1.0, (n - 1) / 4)), init="pca", random_state=seed
                ).fit_transform(codes)


def latent_map(codes: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray | None = None, *,
               classes: Sequence[str] | None = None, title: str = "latent codes (PCA)", method: str = "pca",
               seed: int = 0) -> bytes:
    """Scatter the 2-D PCA (or t-SNE, `method="tsne"`) of latent codes, coloured by class, as PNG bytes.

    Up to 20 classes get one colour each and a legend; more get a colorbar.

    Args:
        codes: (n, d) latent codes (e.g. a VAE's mu on the test set), n >= 2.
        labels: (n,) integer class labels, or None for one colour.
        classes: class names indexed by label, for the legend.
        title: the plot's title.
    """
    z = _numpy(codes).astype(np.float64)
    z = z.reshape(z.shape[0], -1)  # (n, d)
    if z.shape[0] < 2:
        raise ValueError(f"latent_map needs at least 2 codes, got {z.shape[0]}")
    y = None if labels is None else _numpy(labels).ravel()
    if y is not None and y.shape[0] != z.shape[0]:
        raise ValueError(f"got {z.shape[0]} codes but {y.shape[0]} labels")
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")
    p, ratio = pca_2d(z) if method == "pca" else (tsne_2d(z, seed), None)
    fig = _figure(6.4, 5.6)
    ax = fig.add_subplot()
    size = 6.0 if len(p) > 1000 else 14.0
    if y is None:
        ax.scatter(p[:, 0], p[:, 1], s=size, alpha=0.6, lw=0)
    elif len(np.unique(y)) <= 20:
        import matplotlib

        colors = matplotlib.colormaps["tab10" if y.max() < 10 else "tab20"]
        for k in np.unique(y):
            name = classes[int(k)] if classes is not None and int(k) < len(classes) else str(int(k))
            m = y == k
            ax.scatter(p[m, 0], p[m, 1], s=size, alpha=0.7, lw=0, color=colors(int(k) % colors.N), label=name)
        ax.legend(markerscale=3.0, fontsize=8, loc="best", framealpha=0.8, title="class")
    else:
        sc = ax.scatter(p[:, 0], p[:, 1], c=y, s=size, alpha=0.7, lw=0, cmap="viridis")
        fig.colorbar(sc, ax=ax, label="class")
    if ratio is None:
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
    else:
        ax.set_xlabel(f"PC 1 ({100 * ratio[0]:.0f}% of variance)")
        ax.set_ylabel(f"PC 2 ({100 * ratio[1]:.0f}% of variance)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return figure_png(fig)


__all__ = ["figure_png", "latent_map", "loss_curves", "loss_keys", "pca_2d", "tsne_2d", "wants_log_scale"]


def histograms(series: dict[str, torch.Tensor | np.ndarray], *, xlabel: str, title: str = "") -> bytes:
    """A PNG of overlaid density histograms, one per named series, on shared bins (the central 99% of all
    values; the tails are piled into the end bins)."""
    arrays = {name: _numpy(values).astype(np.float64).ravel() for name, values in series.items()}
    every = np.concatenate(list(arrays.values()))
    lo, hi = np.quantile(every, [0.005, 0.995])
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 60)
    fig = _figure(5.0, 3.2)
    ax = fig.add_subplot()
    for name, a in arrays.items():
        ax.hist(np.clip(a, bins[0], bins[-1]), bins=bins, alpha=0.55, density=True, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return figure_png(fig)


def rate_distortion(curves: dict[str, Sequence[tuple[float, float]]], points: dict[str, tuple[float, float]], *,
                    title: str = "") -> bytes:
    """A PNG of PSNR (dB) against bits per pixel: a line per curve (a codec over its quality settings), a marker
    per point (a model at its one rate)."""
    fig = _figure(5.0, 3.4)
    ax = fig.add_subplot()
    for name, xy in curves.items():
        xs, ys = zip(*sorted(xy))
        ax.plot(xs, ys, marker=".", lw=1, label=name)
    for name, (x, y) in points.items():
        ax.plot([x], [y], marker="*", ms=12, ls="none", label=name)
    ax.set_xlabel("bits per pixel (every byte of every file)")
    ax.set_ylabel("PSNR, dB")
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return figure_png(fig)
