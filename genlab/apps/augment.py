"""Data augmentation with generated images: does a class-conditional model's output help a classifier?

Two measurements, both with genlab's classifier network (genlab.eval.classifier: the CNN behind the feature
metrics, trained here from scratch with a fixed recipe and step budget) and scored on real test images:

- Classification Accuracy Score (CAS; Ravuri & Vinyals 2019): the classifier trained ONLY on generated,
  labelled images, beside the same classifier trained on the real images. How much of what a classifier
  needs does the model's conditional distribution hold?
- Low-data gain: the few real labelled images alone, against the same images plus generated ones of a
  conditional model trained on those same images ("1000 real images + 10,000 synthetic -> a better
  classifier?"). The real images are repeated to make up half of the training set
  (genlab.eval.cas.REAL_SHARE), so generated images add variety without drowning the real ones.

This module makes the generated images (`generated_images`); genlab.eval.cas trains and scores the classifiers
(`train_and_score` is one training, `augmentation_scores` the three of one seed: real, real + generated, generated
only).
"""

from __future__ import annotations

from typing import Any

import torch


def generated_images(model: Any, per_class: int, *, generator: torch.Generator | None = None,
                     batch_size: int = 500, progress: Any = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (K * per_class, c, h, w), labels): `per_class` samples of every class of a conditional model.

    progress: True draws a bar of the images made (and, for families that sample in a loop, of the sampler's
    steps) on a terminal; or a hook progress(stage, done, total) (genlab.viz.progress.Bars)."""
    import inspect

    from genlab.models.base import Sampler
    from genlab.viz.progress import Bars

    family = getattr(model, "family", type(model).__name__)
    if not isinstance(model, Sampler) or not getattr(model, "conditional", False):
        from genlab.models import families_with

        raise ValueError(f"augmentation needs a class-conditional model that samples; this {family} model is not "
                         f"(families that can be conditional: {', '.join(families_with('conditional'))}; train "
                         "with --conditional)")
    if per_class < 1:
        raise ValueError(f"generate at least one image per class, got {per_class}")
    labels = torch.arange(model.num_classes).repeat_interleave(per_class)
    xs = []
    was_training = model.training
    model.eval()
    looped = "progress" in inspect.signature(model.sample).parameters
    try:
        with torch.no_grad(), Bars(f"generate ({family})", progress) as bars:
            for i in range(0, len(labels), batch_size):
                if bars:
                    bars("image", i, len(labels))
                y = labels[i:i + batch_size].to(model.device)
                inner = {"progress": bars} if looped and bars else {}
                xs.append(model.sample(len(y), cond=y, generator=generator, **inner).x.float().clamp(0, 1).cpu())
            if bars:
                bars("image", len(labels), len(labels))
    finally:
        model.train(was_training)
    x = (torch.cat(xs) * 255).round().to(torch.uint8)
    return x, labels


__all__ = ["generated_images"]
