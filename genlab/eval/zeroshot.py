"""The image-text evaluation protocol of a `clip` model on captioned data (docs/CLIP.md):

- zero-shot accuracy: each test image is given the class whose prompts (templates filled with the class's
  names, no attribute words) its embedding is nearest to, on average over the prompts (Radford et al. 2021);
  with the held-out templates and training names (the headline), the training templates, and the held-out
  templates with each class's held-out synonym;
- retrieval recall@1/5/10 both ways on held-out pairs (genlab.eval.kinds.retrieval_metrics: each test
  image's first caption, written from a held-out template).
"""

from __future__ import annotations

from typing import Any

import torch

from genlab.data.captions import CaptionSet, class_prompts
from genlab.eval.kinds import evenly_spaced, retrieval_metrics
from genlab.models import require


@torch.no_grad()
def zero_shot_accuracy(model: Any, x: torch.Tensor, y: torch.Tensor, prompts: list[list[str]]) -> float:
    """Share of images x (n, c, h, w) whose nearest class (by prompts, one list per class) is y (n,)."""
    require(model, "embed", "classify images from prompts")
    if len(prompts) < 2 or any(not p for p in prompts):
        raise ValueError("zero-shot classification needs prompts for at least 2 classes, one or more each")
    pred = model.zero_shot(x, prompts).argmax(1).cpu()
    return float((pred == y.cpu()).float().mean())


@torch.no_grad()
def captioned_metrics(model: Any, test: Any, cs: CaptionSet, *, n_zero_shot: int = 10000,
                      n_retrieval: int = 1000) -> dict[str, float]:
    """Zero-shot accuracies and held-out retrieval of `model` on a captioned test split (see above)."""
    idx = evenly_spaced(len(test), n_zero_shot)
    x, y = test.images(idx), test.y[idx]
    out: dict[str, float] = {"zero_shot_n": len(idx)}
    for key, templates, heldout_names in (("heldout_templates", cs.heldout_templates, False),
                                          ("train_templates", cs.train_templates, False),
                                          ("heldout_templates_heldout_names", cs.heldout_templates, True)):
        out[f"zero_shot_{key}"] = zero_shot_accuracy(model, x, y, class_prompts(cs, templates=templates,
                                                                                heldout_names=heldout_names))
    out.update({f"heldout_{k}": v for k, v in retrieval_metrics(model, test, n=n_retrieval).items()})
    return out


__all__ = ["captioned_metrics", "zero_shot_accuracy"]
