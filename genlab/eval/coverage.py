"""Mode coverage of a class-covering generator, judged by the genlab classifier of its dataset.

For a batch of samples: the classifier's class histogram (classes covered: those holding at least a
tenth of their uniform share; KL(histogram || uniform) in nats; max/min class frequency); for a
conditional model cond_acc, the fraction classified as the requested class; and, with the classifier's
features, diversity (the within-class spread of the samples relative to real images of the same class:
about 1 when healthy, near 0 when G draws nearly one image per class) and precision and recall (k-NN
manifolds in those features, Kynkaanniemi et al. 2019). The trainer callback that runs these checks
while training is `CoverageProbe` in genlab/training/callbacks.py.
"""

from __future__ import annotations

from typing import Any

import torch

from genlab.eval.metrics import precision_recall


class CoverageWarning(RuntimeWarning):
    """Mode coverage cannot be checked (no genlab classifier for the dataset)."""


def load_classifier(dataset: str):
    """The genlab classifier of `dataset`: shipped with genlab (mnist, fashion-mnist, digits) or already
    built on this machine. Raises LookupError otherwise: building one takes CPU-minutes, which must not
    come out of a model's training budget (or block on another process that is building it)."""
    from genlab.eval.classifier import available_classifier, canonical_name, shipped_datasets

    name = canonical_name(dataset)
    clf = available_classifier(name)
    if clf is None:
        raise LookupError(f"genlab ships classifiers for {', '.join(shipped_datasets())} only; build the one of "
                          f"{name!r} once with `genlab eval features {name}` (CPU-minutes) to get coverage checks")
    return clf


def class_histogram(pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class frequencies (num_classes,) summing to 1 from predicted labels (n,)."""
    counts = torch.bincount(pred.long().flatten().cpu(), minlength=num_classes).double()
    return counts / counts.sum().clamp_min(1)


def kl_to_uniform(p: torch.Tensor) -> float:
    """KL(p || uniform) in nats for a probability vector p (num_classes,) summing to 1."""
    nz = p[p > 0]
    return float((nz * (nz * p.numel()).log()).sum())


def coverage_stats(pred: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Classes covered (frequency >= 0.1 / K), KL(freq || uniform) in nats, and max/min frequency."""
    p = class_histogram(pred, num_classes)
    out = {"coverage": int((p >= 0.1 / num_classes).sum()), "coverage_kl": round(kl_to_uniform(p), 5)}
    if p.min() > 0:
        out["coverage_ratio"] = round(float(p.max() / p.min()), 4)
    return out


def mean_pairwise_distance(f: torch.Tensor) -> float:
    return float(torch.pdist(f.float()).mean())


def class_diversity(f_fake: torch.Tensor, pred: torch.Tensor, f_real: torch.Tensor, y_real: torch.Tensor,
                    num_classes: int) -> float | None:
    """Mean over classes of (mean pairwise feature distance of the samples classified as the class) /
    (the same for real images of the class): about 1 for a healthy generator, near 0 when it draws nearly
    the same image for a class (collapse inside classes, which the class histogram cannot see).
    Classes with fewer than 2 samples on either side are skipped; None when none is left."""
    ratios = []
    for k in range(num_classes):
        a, b = f_fake[pred == k], f_real[y_real == k]
        if len(a) >= 2 and len(b) >= 2:
            ratios.append(mean_pairwise_distance(a) / max(mean_pairwise_distance(b), 1e-12))
    return sum(ratios) / len(ratios) if ratios else None


@torch.no_grad()
def coverage_of(x: torch.Tensor, classifier: Any, num_classes: int, labels: torch.Tensor | None = None,
                real: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, float]:
    """The coverage statistics (module docstring) of samples x (n, c, h, w) in [0, 1].

    Args:
        classifier: has predict(x) -> (n,) labels, or features_and_logits(x) (the genlab classifier).
        num_classes: classes of the dataset (the histogram grows if the classifier predicts more).
        labels: (n,) the classes the samples were drawn for (conditional models), for cond_acc.
        real: classifier features (m, d) and labels (m,) of real images, for diversity, precision, recall.
    """
    if hasattr(classifier, "features_and_logits"):
        feats, logits = classifier.features_and_logits(x)
        pred = logits.argmax(1).to(x.device)
    else:
        feats, pred = None, torch.as_tensor(classifier.predict(x)).to(x.device).long()
    k = max(num_classes, int(pred.max()) + 1)
    out = coverage_stats(pred, k)
    if labels is not None:
        out["cond_acc"] = round(float((pred == labels).float().mean()), 4)
    if feats is not None and real is not None:
        div = class_diversity(feats.cpu(), pred.cpu(), real[0], real[1], k)
        if div is not None:
            out["diversity"] = round(div, 4)
        precision, recall = precision_recall(real[0], feats.cpu(), k=3)
        out["precision"], out["recall"] = round(precision, 4), round(recall, 4)
    return out


__all__ = ["CoverageWarning", "class_diversity", "class_histogram", "coverage_of", "coverage_stats",
           "kl_to_uniform", "load_classifier"]
