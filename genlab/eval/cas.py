"""Classification Accuracy Score (CAS; Ravuri & Vinyals 2019) and the low-data gain of generated images: genlab's
classifier network (genlab.eval.classifier: the CNN behind the feature metrics, trained here from scratch with a
fixed recipe and step budget) trained on real, real + generated, or generated labelled images, scored on real test
images. The generated images come from `genlab.apps.augment.generated_images`; docs/APPLICATIONS.md.
"""

from __future__ import annotations

import math

import torch

TRAIN_STEPS = 600  # classifier optimizer steps, whatever the training-set size (the same budget for every arm)
BATCH = 64


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


__all__ = ["BATCH", "TRAIN_STEPS", "augmentation_scores", "balanced", "train_and_score"]
