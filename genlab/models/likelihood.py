"""Each image's negative log-likelihood under a model with the likelihood capability, on the scale its family
states: binary pixels (binarized as the run was), 8-bit levels, or a density of dequantized pixels turned into the
bound on the 8-bit mass (genlab/eval/likelihood.py explains the conventions and labels the numbers).

Here, below eval and apps, so that both use one computation: `genlab.eval.likelihood.evaluate_likelihood` (the
means and labels of a benchmark) and `genlab.apps.anomaly` (a score per image).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

from genlab.nn.distributions import binarize, dequantize, discrete_nats_from_density

LikelihoodData = Literal["binary", "discrete", "continuous"]
LIKELIHOOD_DATA = ("binary", "discrete", "continuous")


def data_kind(model: Any, binarized: str = "none") -> LikelihoodData:
    """What the model's likelihood is over (see genlab/eval/likelihood.py)."""
    kind = model.likelihood_kind
    if kind not in LIKELIHOOD_DATA:
        raise ValueError(f"{type(model).__name__}.likelihood_kind is {kind!r}; valid: {LIKELIHOOD_DATA}")
    if summary_shape(model) is not None:  # it scores its own summary of the images, binarized or not
        return kind
    return "binary" if binarized != "none" else kind


def summary_shape(model: Any) -> tuple[int, ...] | None:
    """The shape of the summary of each image the model's nll scores (`likelihood_shape`), or None when
    it scores the images themselves (every family but the table; duck-typed models may omit it)."""
    shape = getattr(model, "likelihood_shape", None)
    return None if shape is None else tuple(int(s) for s in shape)


@torch.no_grad()
def image_nats(model: Any, x: torch.Tensor, y: torch.Tensor | None = None, *, k: int = 1, binarized: str = "none",
               batch_size: int = 250, generator: torch.Generator | None = None,
               nll_options: dict[str, Any] | None = None) -> tuple[torch.Tensor, int, int]:
    """((n,) float64 nats per image, D the dimensions bits/dim divide by, k used) of images x in [0, 1].

    Args:
        y: labels of a conditional model: -log p(x | y). Without them a conditional model scores the marginal
            -log p(x) = -log sum_y p(y) p(x | y) (`marginal_nll`), the figure every family shares.
        k: importance samples, for families whose `likelihood_options` has k (1 = the ELBO).
        binarized: how the run binarized its training data ("none", "dynamic", "static").
        generator: for binarization, dequantization and a bound's sampling.
        nll_options: other keyword options of the model's `nll`, each one its `likelihood_options` names (ddpm's
            t_samples: the stratified timesteps of its bound per image).
    """
    kind = data_kind(model, binarized)
    extra = dict(nll_options or {})
    unknown = sorted(set(extra) - (set(model.likelihood_options) - {"k"}))
    if unknown:
        takes = ", ".join(o for o in model.likelihood_options if o != "k") or "none"
        raise ValueError(f"a {model.family} model's likelihood takes no option {', '.join(unknown)} (it takes: "
                         f"{takes}); leave it out")
    kw: dict[str, Any] = {"generator": generator, **extra}
    if "k" in model.likelihood_options:
        kw["k"] = k
    elif k != 1:
        raise ValueError(f"a {model.family} model's likelihood takes no k (importance samples)")
    device = next(iter(model.parameters()), None)
    device = device.device if device is not None else next(iter(model.buffers()), torch.zeros(())).device
    pixels = int(x[0].numel())  # what dequantization adds log 256 for
    summary = summary_shape(model)
    dims = math.prod(summary) if summary is not None else pixels
    conditional = bool(getattr(model, "conditional", False))  # duck-typed models may not say
    parts = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size].to(device)
        yb = None if y is None or not conditional else y[i:i + batch_size].to(device)
        if summary is not None:  # the model pools and cuts the images itself: they go in as they are
            pass
        elif kind == "binary" and binarized != "none":
            xb = binarize(xb, binarized, generator)
        elif kind == "continuous":
            xb = dequantize(xb, generator)
        nll = marginal_nll(model, xb, **kw) if conditional and yb is None else model.nll(xb, yb, **kw).double()
        if kind == "continuous":
            nll = discrete_nats_from_density(nll, pixels)
        parts.append(nll.cpu())
    nats = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)
    return nats, dims, kw.get("k", 1)


def label_log_prior(model: Any) -> torch.Tensor:
    """log p(y) over a conditional model's classes: the family's own fitted prior where it has one (naive Bayes'
    class frequencies), else uniform over the classes it was trained on (all, or those `--classes` kept; -inf for
    the others), (K,) float64."""
    prior = getattr(model, "class_log_prior", None)
    if isinstance(prior, torch.Tensor) and prior.numel() == model.num_classes:
        return prior.detach().double().cpu()
    kept = getattr(model, "kept_classes", None) or range(model.num_classes)
    out = torch.full((model.num_classes,), -math.inf, dtype=torch.float64)
    out[list(kept)] = -math.log(len(kept))
    return out


def marginal_nll(model: Any, x: torch.Tensor, **kw: Any) -> torch.Tensor:
    """-log p(x) = -log sum_y p(y) p(x | y) of a conditional model, (b,) float64 nats: the model's nll given each
    label in turn, combined by logsumexp. Exact where nll(x, y) is exact; where nll(x, y) is an upper bound (a
    VAE's negative ELBO, a DDPM's bound), so is this, since log sum_y p(y) exp(L_y) <= log p(x) whenever every
    L_y <= log p(x | y). Costs one nll per class of non-zero prior."""
    b = x.shape[0]
    log_prior = label_log_prior(model)
    labels = [c for c in range(model.num_classes) if log_prior[c] > -math.inf]
    per_label = torch.stack([model.nll(x, torch.full((b,), c, dtype=torch.long, device=x.device), **kw).double()
                             for c in labels], 1)  # (b, K')
    return -torch.logsumexp(log_prior[labels].to(per_label.device) - per_label, dim=1)


__all__ = ["LIKELIHOOD_DATA", "LikelihoodData", "data_kind", "image_nats", "label_log_prior", "marginal_nll",
           "summary_shape"]
