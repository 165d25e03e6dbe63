"""Mode coverage statistics: class histogram, KL to uniform, within-class diversity, coverage_of."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.eval.coverage import class_diversity, coverage_of, coverage_stats


class QuadrantClassifier:
    """Stand-in for the genlab classifier of the tiny data: the brightest quadrant is the class."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] // 2, x.shape[-1] // 2
        q = torch.stack([x[..., :h, :w], x[..., :h, w:], x[..., h:, :w], x[..., h:, w:]], 1)
        return q.flatten(2).mean(2).argmax(1)


class FeatureQuadrantClassifier(QuadrantClassifier):
    """The same, with features (the flattened image) as the genlab classifier has them."""

    def features(self, x):
        return x.flatten(1)

    def features_and_logits(self, x):
        return self.features(x), nn.functional.one_hot(self.predict(x), 4).float()


def test_coverage_stats_exact():
    pred = torch.tensor([0] * 50 + [1] * 25 + [2] * 25)
    out = coverage_stats(pred, 4)
    p = torch.tensor([0.5, 0.25, 0.25])
    assert out["coverage"] == 3 and "coverage_ratio" not in out  # class 3 is missing
    assert out["coverage_kl"] == pytest.approx(float((p * (p * 4).log()).sum()), abs=1e-5)
    even = coverage_stats(torch.arange(40) % 4, 4)
    assert even == {"coverage": 4, "coverage_kl": 0.0, "coverage_ratio": 1.0}
    # a class with under a tenth of its uniform share does not count as covered
    assert coverage_stats(torch.tensor([0] * 99 + [1]), 2)["coverage"] == 1


def test_class_diversity_is_one_for_real_data_and_zero_for_copies():
    f, y = torch.randn(40, 6), torch.arange(40) % 4
    assert class_diversity(f, y, f, y, 4) == pytest.approx(1.0)
    copies = f[:4][y]  # every sample of class k is the same vector
    assert class_diversity(copies, y, f, y, 4) == pytest.approx(0.0, abs=1e-6)
    assert class_diversity(2 * f, y, f, y, 4) == pytest.approx(2.0)
    assert class_diversity(f[:3], y[:3], f, y, 4) is None  # no class has 2 samples


def quadrant_images(y: torch.Tensor) -> torch.Tensor:
    x = torch.rand(len(y), 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 0.3
    for i, k in enumerate(y.tolist()):
        r, q = divmod(k, 2)
        x[i, :, 4 * r:4 * r + 4, 4 * q:4 * q + 4] += 0.6
    return x


def test_coverage_of_real_images_is_full_and_accurate():
    y = torch.arange(40) % 4
    x = quadrant_images(y)
    clf = FeatureQuadrantClassifier()
    out = coverage_of(x, clf, 4, labels=y, real=(clf.features(x), y))
    assert out["coverage"] == 4 and out["coverage_kl"] == 0.0 and out["cond_acc"] == 1.0
    assert out["diversity"] == pytest.approx(1.0) and out["precision"] == 1.0 and out["recall"] == 1.0
    only_ones = coverage_of(quadrant_images(torch.ones(40, dtype=torch.long)), QuadrantClassifier(), 4)
    assert only_ones["coverage"] == 1 and "diversity" not in only_ones  # predict() only: no features
