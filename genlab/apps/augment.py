"""Data augmentation with generated images: does a class-conditional model's output help a classifier?

Two measurements, both with genlab's classifier network (genlab.eval.classifier: the CNN behind the feature
metrics, trained here from scratch with a fixed recipe and step budget) and scored on real test images:

- Classification Accuracy Score (CAS; Ravuri & Vinyals 2019): the classifier trained ONLY on generated,
  labelled images, beside the same classifier trained on the real images. How much of what a classifier
  needs does the model's conditional distribution hold?
- Low-data gain: the few real labelled images alone, against the same images plus generated ones of a
  conditional model trained on those same images ("1000 real images + 10,000 synthetic -> a better
  classifier?"). The real images are repeated to make up half of the training set, so generated images
  add variety without drowning the real ones.

`train_and_score` is one classifier training; `augmentation_scores` runs the three (real, real + generated,
generated only) for one seed.
"""

from __future__ import annotations

import math
from typing import Any

import torch

TRAIN_STEPS = 600  # classifier optimizer steps, whatever the training-set size (the same budget for every arm)
BATCH = 64


def generated_images(model: Any, per_class: int, *, generator: torch.Generator | None = None,
                     batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images (K * per_class, c, h, w), labels): `per_class` samples of every class of a conditional model."""
    from genlab.models.base import Sampler

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
    try:
        with torch.no_grad():
            for i in range(0, len(labels), batch_size):
                y = labels[i:i + batch_size].to(model.device)
                xs.append(model.sample(len(y), cond=y, generator=generator).x.float().clamp(0, 1).cpu())
    finally:
        model.train(was_training)
    x = (torch.cat(xs) * 255).round().to(torch.uint8)
    return x, labels


def train_and_score(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, *,
                    num_classes: int, seed: int = 0, steps: int = TRAIN_STEPS, hflip: bool = False) -> float:
    """Test accuracy of genlab's classifier network trained for about `steps` steps (batch BATCH, random shifts of
    up to 2 pixels, flips when `hflip`) on uint8 images train_x with labels train_y."""
    from genlab.eval.classifier import Recipe, accuracy, train_classifier

    if len(train_x) == 0:
        raise ValueError("no training images")
    if len(train_x) != len(train_y):
        raise ValueError(f"{len(train_x)} training images but {len(train_y)} labels")
    epochs = max(1, math.ceil(steps * BATCH / len(train_x)))
    recipe = Recipe(epochs=epochs, batch_size=BATCH, seed=seed, hflip=hflip)
    net = train_classifier(train_x, train_y, num_classes, recipe)
    return accuracy(net, test_x, test_y)


def balanced(real_x: torch.Tensor, real_y: torch.Tensor, gen_x: torch.Tensor,
             gen_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and generated images together, the real ones repeated so that they are half of the set."""
    repeat = max(1, round(len(gen_x) / max(len(real_x), 1)))
    return torch.cat([real_x.repeat(repeat, 1, 1, 1), gen_x]), torch.cat([real_y.repeat(repeat), gen_y])


def augmentation_scores(real_x: torch.Tensor, real_y: torch.Tensor, gen_x: torch.Tensor, gen_y: torch.Tensor,
                        test_x: torch.Tensor, test_y: torch.Tensor, *, num_classes: int, seed: int = 0,
                        steps: int = TRAIN_STEPS, hflip: bool = False) -> dict[str, float]:
    """{"real", "real+generated", "generated" (CAS), "gain"}: test accuracies of three classifiers of one seed."""
    kw = {"num_classes": num_classes, "seed": seed, "steps": steps, "hflip": hflip}
    real = train_and_score(real_x, real_y, test_x, test_y, **kw)
    both = train_and_score(*balanced(real_x, real_y, gen_x, gen_y), test_x, test_y, **kw)
    cas = train_and_score(gen_x, gen_y, test_x, test_y, **kw)
    return {"real": real, "real+generated": both, "generated": cas, "gain": both - real}


__all__ = ["BATCH", "TRAIN_STEPS", "augmentation_scores", "balanced", "generated_images", "train_and_score"]
