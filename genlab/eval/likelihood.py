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
samples; Burda et al. 2016): `likelihood_label` says which.

A family with the likelihood capability states what it models (read by `evaluate_likelihood`):
`likelihood_kind` ("binary" | "discrete" | "continuous") and `likelihood_exact` (bool); a run trained
on binarized data is scored on binary data whatever the kind.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from genlab.nn.distributions import binarize, bits_per_dim, dequantize, discrete_nats_from_density

LikelihoodData = Literal["binary", "discrete", "continuous"]
LIKELIHOOD_DATA = ("binary", "discrete", "continuous")


def data_kind(model: Any, binarized: str = "none") -> LikelihoodData:
    """What the model's likelihood is over (see the module docstring)."""
    kind = model.likelihood_kind
    if kind not in LIKELIHOOD_DATA:
        raise ValueError(f"{type(model).__name__}.likelihood_kind is {kind!r}; valid: {LIKELIHOOD_DATA}")
    return "binary" if binarized != "none" else kind


def likelihood_label(model: Any, k: int, kind: str, binarized: str) -> str:
    """E.g. "negative ELBO, nats on dynamically binarized data"."""
    if model.likelihood_exact:
        what = "exact NLL"
    elif k > 1:
        what = f"IWAE bound (k={k}), an upper bound on the NLL"
    else:
        what = "negative ELBO (k=1), an upper bound on the NLL"
    data = {"binary": f"binary data ({binarized} binarization)" if binarized != "none" else
            "grey levels read as Bernoulli probabilities (a cross-entropy, not a likelihood of 8-bit data)",
            "discrete": "8-bit data (probability mass over 256 levels)",
            "continuous": "8-bit data, uniformly dequantized (density + D log 256)"}[kind]
    return f"{what}; {data}"


@torch.no_grad()
def evaluate_likelihood(model: Any, x: torch.Tensor, y: torch.Tensor | None = None, *, k: int = 1,
                        binarized: str = "none", batch_size: int = 250,
                        generator: torch.Generator | None = None) -> dict[str, Any]:
    """Mean NLL (nats per example) and bits/dim of a model with the "likelihood" capability on images x.

    Args:
        model: has the likelihood capability: `nll(x, y=None, *, generator=None, [k=]) -> (b,) nats`.
        x: (n, c, h, w) test images in [0, 1] (8-bit levels k/255).
        y: labels for conditional models.
        k: importance samples (for models whose `likelihood_options` has k: 1 = the ELBO).
        binarized: how the run binarized its training data ("none", "dynamic", "static").
        generator: for binarization, dequantization and the bound's sampling.
    Returns:
        {"nll_nats", "bits_per_dim", "likelihood_label", "likelihood_data", "likelihood_n", "likelihood_k"}
    """
    from genlab.models import require

    require(model, "likelihood", "compute a likelihood")
    kind = data_kind(model, binarized)
    kw: dict[str, Any] = {"generator": generator}
    if "k" in model.likelihood_options:
        kw["k"] = k
    elif k != 1:
        raise ValueError(f"a {model.family} model's likelihood takes no k (importance samples)")
    device = next(iter(model.parameters()), torch.zeros(())).device
    dims = int(x[0].numel())
    total, n = 0.0, x.shape[0]
    for i in range(0, n, batch_size):
        xb = x[i:i + batch_size].to(device)
        yb = None if y is None or not model.conditional else y[i:i + batch_size].to(device)
        if kind == "binary" and binarized != "none":
            xb = binarize(xb, binarized, generator)
        elif kind == "continuous":
            xb = dequantize(xb, generator)
        nll = model.nll(xb, yb, **kw).double()
        if kind == "continuous":
            nll = discrete_nats_from_density(nll, dims)
        total += float(nll.sum())
    nats = total / max(n, 1)
    return {"nll_nats": nats, "bits_per_dim": float(bits_per_dim(nats, dims)),
            "likelihood_label": likelihood_label(model, kw.get("k", 1), kind, binarized),
            "likelihood_data": kind, "likelihood_n": n, "likelihood_k": kw.get("k", 1)}


__all__ = ["LIKELIHOOD_DATA", "data_kind", "evaluate_likelihood", "likelihood_label"]
