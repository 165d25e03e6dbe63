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
# the real images' share of the mixed set. 3/4 looked better on seeds 0-2 (+1.23 points for the VAE of
# benchmarks/apps_augment.py against +0.59 at 1/2) and worse on seeds 3-5 (-0.39 against +0.55): half stays
# (docs/APPLICATIONS.md, "Data augmentation")
REAL_SHARE = 0.5


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


def check_real_share(real_share: float, name: str = "real_share") -> None:
    """A share of real images in the mixed set must lie strictly between 0 and 1 (one line naming `name` if not)."""
    if not 0.0 < real_share < 1.0:
        raise ValueError(f"{name} must be between 0 and 1 (the real images' share of the mixed training set), got "
                         f"{real_share!r}")


def balanced(real_x: torch.Tensor, real_y: torch.Tensor, gen_x: torch.Tensor, gen_y: torch.Tensor,
             real_share: float = REAL_SHARE) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and generated images together, the real ones repeated so that they are about `real_share` of the set."""
    check_real_share(real_share)
    repeat = max(1, round(real_share / (1.0 - real_share) * len(gen_x) / max(len(real_x), 1)))
    return torch.cat([real_x.repeat(repeat, 1, 1, 1), gen_x]), torch.cat([real_y.repeat(repeat), gen_y])


def augmentation_scores(real_x: torch.Tensor, real_y: torch.Tensor, gen_x: torch.Tensor, gen_y: torch.Tensor,
                        test_x: torch.Tensor, test_y: torch.Tensor, *, num_classes: int, seed: int = 0,
                        steps: int = TRAIN_STEPS, hflip: bool = False,
                        real_share: float = REAL_SHARE) -> dict[str, float]:
    """{"real", "real+generated", "generated" (CAS), "gain"}: test accuracies of three classifiers of one seed (the
    mixed set holds the real images repeated to `real_share` of it)."""
    kw = {"num_classes": num_classes, "seed": seed, "steps": steps, "hflip": hflip}
    real = train_and_score(real_x, real_y, test_x, test_y, **kw)
    both = train_and_score(*balanced(real_x, real_y, gen_x, gen_y, real_share), test_x, test_y, **kw)
    cas = train_and_score(gen_x, gen_y, test_x, test_y, **kw)
    return {"real": real, "real+generated": both, "generated": cas, "gain": both - real}


__all__ = ["BATCH", "REAL_SHARE", "TRAIN_STEPS", "augmentation_scores", "balanced", "check_real_share",
           "train_and_score"]
