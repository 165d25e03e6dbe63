"""Likelihood in nats and bits per dimension, with the dequantization made explicit.

Three kinds of data, three conventions (D = pixels x channels):
- "binary": pixels in {0, 1} (binarized MNIST; the VAE's Bernoulli decoder). The model gives a
  probability mass, -log P(x) in nats; bits/dim = nats / (D ln 2). Numbers on binarized MNIST (e.g.
  ~80-100 nats) are NOT comparable with 8-bit numbers.
- "discrete": 8-bit pixels with a probability mass over the 256 levels (PixelCNN-style);
  bits/dim = nats / (D ln 2).
- "continuous": a density p on [0, 1]^D (flows, Gaussian decoders). 8-bit data x in {0..255} is
  uniformly dequantized, y = (x + u) / 256 with u ~ U[0, 1)^D, and
      -log P(x) <= E_u[-log p(y)] + D log 256     (Theis et al. 2016, eq. 9)
  because P(x) = integral of the density over the cube of side 1/256 that holds x. The reported
  nats and bits/dim are those of this discrete bound: bits/dim = (nats_density + D ln 256) / (D ln 2)
  = nats_density / (D ln 2) + 8. A density that is uniform on [0, 1]^D scores exactly 8 bits/dim.

On top of that, a model's number is exact or an upper bound (the negative ELBO, the IWAE bound with k
samples; Burda et al. 2016): `likelihood_label` says which, `likelihood_claim` in two words.

A family with the likelihood capability states what it models (read by `evaluate_likelihood`):
`likelihood_kind` ("binary" | "discrete" | "continuous") and `likelihood_exact` (bool); a run trained
on binarized data is scored on binary data whatever the kind. A model whose nll scores its own summary
of each image (the `table` family: D = c k^2 binary cells pooled from the image) declares
`likelihood_shape`; its bits/dim divide by that D, and its label says the number is of the summary.

`likelihood_table` puts the families of one benchmark on one scale: the same first n test images for
every family, the value in the units of its data (bits/dim on 8-bit data, nats per image on binary
data), and what the number claims (exact, or an upper bound) beside what it is of.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from genlab.models.likelihood import LIKELIHOOD_DATA, data_kind, image_nats, summary_shape
from genlab.nn.distributions import bits_per_dim


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def likelihood_label(model: Any, k: int, kind: str, binarized: str) -> str:
    """E.g. "negative ELBO (k=1), an upper bound on the NLL; binary data (dynamic binarization)"."""
    if model.likelihood_exact:
        what = "exact NLL"
    elif k > 1:
        what = f"IWAE bound (k={k}), an upper bound on the NLL"
    else:
        what = "negative ELBO (k=1), an upper bound on the NLL"
    summary = summary_shape(model)
    if summary is not None:
        return (f"{what}; the model's own {kind} {_shape_text(summary)} summary of each image (pooled and "
                f"thresholded by the model), not its pixels: D = {math.prod(summary)}")
    variational = getattr(model, "likelihood_dequantization", "uniform") == "variational"
    data = {"binary": f"binary data ({binarized} binarization)" if binarized != "none" else
            "grey levels read as Bernoulli probabilities (a cross-entropy, not a likelihood of 8-bit data)",
            "discrete": "8-bit data (probability mass over 256 levels)",
            "continuous": "8-bit data, dequantized by the model's learned q(u|x) (density - log q + D log 256)"
            if variational else "8-bit data, uniformly dequantized (density + D log 256)"}[kind]
    return f"{what}; {data}"


def likelihood_claim(model: Any, k: int) -> str:
    """What the number claims, in a few words: "exact", "upper bound (negative ELBO)" or
    "upper bound (IWAE, k=K)"."""
    if model.likelihood_exact:
        return "exact"
    return f"upper bound (IWAE, k={k})" if k > 1 else "upper bound (negative ELBO)"


def data_note(model: Any, kind: str, binarized: str) -> str:
    """What the number is of, in a few words, for the likelihood table's data column."""
    summary = summary_shape(model)
    if summary is not None:
        return f"{kind} {_shape_text(summary)} summary (the model's own)"
    return {"binary": f"binary pixels ({binarized})" if binarized != "none" else
            "grey levels as Bernoulli probs (a cross-entropy)",
            "discrete": "8-bit pixels (probability mass)",
            "continuous": "8-bit pixels, dequantized density"}[kind]


@torch.no_grad()
def evaluate_likelihood(model: Any, x: torch.Tensor, y: torch.Tensor | None = None, *, k: int = 1,
                        binarized: str = "none", batch_size: int = 250,
                        generator: torch.Generator | None = None, per_example: bool = False) -> dict[str, Any]:
    """Mean NLL (nats per example) and bits/dim of a model with the "likelihood" capability on images x.

    Args:
        model: has the likelihood capability: `nll(x, y=None, *, generator=None, [k=]) -> (b,) nats`.
        x: (n, c, h, w) test images in [0, 1] (8-bit levels k/255).
        y: labels of a conditional model, to score -log p(x | y) (labelled so); without them a conditional model
            scores the marginal -log p(x), on the scale of every other family (one nll per class).
        k: importance samples (for models whose `likelihood_options` has k: 1 = the ELBO).
        binarized: how the run binarized its training data ("none", "dynamic", "static").
        generator: for binarization, dequantization and the bound's sampling.
        per_example: also return every image's nats ("likelihood_nats", a list), e.g. to average
            several families over the same images (`likelihood_table`).
    Returns:
        {"nll_nats", "bits_per_dim", "likelihood_label", "likelihood_claim", "likelihood_data",
         "likelihood_note", "likelihood_dims", "likelihood_n", "likelihood_k"} (+ "likelihood_nats")
    """
    from genlab.models import require

    require(model, "likelihood", "compute a likelihood")
    kind = data_kind(model, binarized)
    each_t, dims, k_used = image_nats(model, x, y, k=k, binarized=binarized, batch_size=batch_size,
                                      generator=generator)
    n = x.shape[0]
    total = float(each_t.sum())
    each = each_t.tolist()
    nats = total / max(n, 1)
    label, claim, note = (likelihood_label(model, k_used, kind, binarized), likelihood_claim(model, k_used),
                          data_note(model, kind, binarized))
    if getattr(model, "conditional", False):  # which of two different numbers a conditional model gave
        if y is not None:
            label += "; given each image's label: -log p(x | y), not the marginal -log p(x)"
            claim += ", given the label"
            note += ", given the label"
        else:
            kept = getattr(model, "kept_classes", None)
            prior = ("its fitted class frequencies" if hasattr(model, "class_log_prior") else
                     "uniform" if not kept else f"uniform over the labels it was trained on, {list(kept)}")
            label += (f"; marginal over the {model.num_classes} labels: -log sum_y p(y) p(x | y), p(y) {prior}")
    out = {"nll_nats": nats, "bits_per_dim": float(bits_per_dim(nats, dims)), "likelihood_label": label,
           "likelihood_claim": claim, "likelihood_data": kind, "likelihood_note": note, "likelihood_dims": dims,
           "likelihood_n": n, "likelihood_k": k_used}
    if per_example:
        out["likelihood_nats"] = each
    return out


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def likelihood_table(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Families of one benchmark on one likelihood scale: each family's mean NLL over the SAME first n test
    images (n = the fewest any family was scored on), in the units of its data, with what it claims.

    Args:
        entries: one per family: {"family", "nats": [per seed: that seed's per-image nats, first images
            first], "dims", "data" (binary / discrete / continuous), "note", "claim", and optionally
            "label", "parameters"}.
    Returns:
        {"n": the images every row averages over, "rows": [{"family", "value", "units", "nll_nats",
        "bits_per_dim", "claim", "data", "note", "dims", "n", "seeds", ...}]}, rows grouped by what they
        are of (data and D, the only rows whose values compare) and sorted by value within a group.
    """
    entries = [e for e in entries if e.get("nats") and all(len(v) for v in e["nats"])]
    if not entries:
        return {"n": 0, "rows": []}
    n = min(len(v) for e in entries for v in e["nats"])
    rows = []
    for e in entries:
        nats = _mean([_mean(v[:n]) for v in e["nats"]])  # mean over seeds of the mean over the n images
        bpd = float(bits_per_dim(nats, e["dims"]))
        units = "nats/image" if e["data"] == "binary" else "bits/dim"
        row = {"family": e["family"], "value": nats if units == "nats/image" else bpd, "units": units,
               "nll_nats": nats, "bits_per_dim": bpd, "claim": e["claim"], "data": e["data"], "note": e["note"],
               "dims": int(e["dims"]), "n": n, "seeds": len(e["nats"])}
        row.update({k: e[k] for k in ("label", "parameters", "parameters_of") if k in e})
        rows.append(row)
    order = {"binary": 0, "discrete": 1, "continuous": 1}  # 8-bit masses and dequantized densities compare
    rows.sort(key=lambda r: (order[r["data"]], r["note"] if r["data"] == "binary" else "", r["dims"], r["value"]))
    return {"n": n, "rows": rows}


__all__ = ["LIKELIHOOD_DATA", "data_kind", "data_note", "evaluate_likelihood", "likelihood_claim", "likelihood_label",
           "likelihood_table", "summary_shape"]
