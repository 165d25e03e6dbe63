"""Pictures of text models as PNG bytes: the attention weights of one head on one sentence, quality vs
diversity of samples against temperature and top-k, and each play's topic mixture (matplotlib's object
API on the Agg canvas, as viz/plots.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from genlab.viz.plots import _figure, _numpy, figure_png


def shown(token: str) -> str:
    """A token as a tick label: space and newline made visible."""
    return {" ": "␣", "\n": "⏎", "\t": "⇥"}.get(token, token)


def attention_map(weights: torch.Tensor | np.ndarray, tokens: Sequence[str], *, title: str = "attention") -> bytes:
    """A (T, T) attention matrix as a heat map: row = query token, column = the key it looks at.

    Args:
        weights: (T, T), rows summing to 1 (zeros above the diagonal for a causal model).
        tokens: the T token strings, for the tick labels.
    """
    w = _numpy(weights).astype(np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or w.shape[0] != len(tokens):
        raise ValueError(f"weights must be (T, T) for the {len(tokens)} tokens, got {w.shape}")
    T = len(tokens)
    size = min(4 + 0.16 * T, 14)
    fig = _figure(size + 1.2, size)
    ax = fig.add_subplot()
    im = ax.imshow(w, cmap="viridis", vmin=0.0, vmax=max(float(w.max()), 1e-9), interpolation="nearest")
    labels = [shown(t) for t in tokens]
    ax.set_xticks(range(T), labels, fontsize=7, fontfamily="monospace")
    ax.set_yticks(range(T), labels, fontsize=7, fontfamily="monospace")
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (predicting the next token)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8, label="weight")
    return figure_png(fig)


def attention_picture(model: Any, text: str, *, layer: int = 0, head: int = 0) -> bytes:
    """The attention map of head `head` in layer `layer` (negative: from the last) of a gpt model on `text`
    (its last `context` characters), as PNG bytes."""
    vocab = model.spec.vocab
    ids = torch.tensor([vocab.encode(text)], device=model.device)[:, -model.context:]
    weights = model.attention(ids, head=head)  # (layers, 1, T, T)
    if layer < 0:  # counted from the last, as Python indexes
        layer += weights.shape[0]
    if not 0 <= layer < weights.shape[0]:
        raise ValueError(f"layer must be in [0, {weights.shape[0]}), got {layer}")
    tokens = [vocab.tokens[int(i)] for i in ids[0]]
    return attention_map(weights[layer, 0], tokens, title=f"layer {layer}, head {head}")


def quality_diversity_plot(records: Sequence[dict[str, float]]) -> bytes:
    """Distinct-1, distinct-2 and the in-vocabulary fraction against temperature, one line per top-k
    (records from genlab.eval.text.quality_diversity)."""
    if not records:
        raise ValueError("no quality/diversity records to plot")
    keys = (("distinct_1", "distinct-1 (diversity)"), ("distinct_2", "distinct-2 (diversity)"),
            ("in_vocabulary", "words in the training vocabulary (quality)"))
    fig = _figure(11, 3.4)
    axes = fig.subplots(1, 3)
    for ax, (key, name) in zip(axes, keys):
        for k in sorted({int(r["top_k"]) for r in records}):
            pts = sorted((r["temperature"], r[key]) for r in records if int(r["top_k"]) == k)
            ax.plot(*zip(*pts), marker="o", lw=1.5, label="no top-k" if k == 0 else f"top-k {k}")
        ax.set_xlabel("temperature")
        ax.set_title(name, fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return figure_png(fig)


def topic_mixtures_plot(mixtures: torch.Tensor | np.ndarray, names: Sequence[str],
                        topics: Sequence[str] | None = None, *, title: str = "topic mixture of each play") -> bytes:
    """Stacked horizontal bars: one row per document group (play), one colour per topic.

    Args:
        mixtures: (P, K), rows summing to 1.
        names: the P row names.
        topics: the K legend labels (e.g. each topic's top words), default "topic k".
    """
    m = _numpy(mixtures).astype(np.float64)
    if m.ndim != 2 or m.shape[0] != len(names):
        raise ValueError(f"mixtures must be (P, K) for the {len(names)} names, got {m.shape}")
    P, K = m.shape
    labels = list(topics) if topics is not None else [f"topic {k}" for k in range(K)]
    import matplotlib

    colors = matplotlib.colormaps["tab20" if K > 10 else "tab10"]
    fig = _figure(11, 1.2 + 0.28 * P)
    ax = fig.add_subplot()
    left = np.zeros(P)
    for k in range(K):
        ax.barh(range(P), m[:, k], left=left, color=colors(k % colors.N), label=labels[k][:48])
        left += m[:, k]
    ax.set_yticks(range(P), list(names), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the play's words")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return figure_png(fig)


__all__ = ["attention_map", "attention_picture", "quality_diversity_plot", "topic_mixtures_plot"]
