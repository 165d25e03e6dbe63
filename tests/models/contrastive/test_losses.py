"""InfoNCE (genlab.models.contrastive.losses) against a hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.models.contrastive.losses import info_nce


def test_info_nce_equals_a_hand_computation_on_3x3():
    u = torch.eye(3)
    v = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
    s = 2.0
    sim = [[1.0, 0.6, 0.0], [0.0, 0.8, 0.0], [0.0, 0.0, 1.0]]  # sim[i][j] = <u_i, v_j>
    i2t = -sum(s * sim[i][i] - math.log(sum(math.exp(s * sim[i][j]) for j in range(3))) for i in range(3)) / 3
    t2i = -sum(s * sim[j][j] - math.log(sum(math.exp(s * sim[i][j]) for i in range(3))) for j in range(3)) / 3
    assert info_nce(u, v, s).item() == pytest.approx(0.5 * (i2t + t2i), rel=1e-6)


def test_a_batch_of_one_is_rejected():
    u = torch.nn.functional.normalize(torch.randn(1, 4), dim=-1)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        info_nce(u, u, 10.0)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="one shape"):
        info_nce(torch.ones(3, 4), torch.ones(2, 4), 1.0)
