"""The symmetric InfoNCE loss of CLIP (Radford et al. 2021; van den Oord et al. 2018).

Notation: unit-norm image embeddings u_i and text embeddings v_j (b, d), matched by index; the logit
scale s = 1 / tau (a learned temperature tau). With logits L_ij = s <u_i, v_j>,
    loss = 1/2 [ -1/b sum_i log softmax_j(L_ij)[i]  -  1/b sum_j log softmax_i(L_ij)[j] ],
the image -> text and text -> image cross-entropies against the diagonal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(u: torch.Tensor, v: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE of matched pairs (u_i, v_i).

    Args:
        u, v: (b, d) unit-norm embeddings, b >= 2.
        scale: s = 1 / tau, a scalar.
    Raises:
        ValueError: b < 2 (one pair has no negatives: its loss is 0 whatever the embeddings) or shapes differ.
    """
    if u.shape != v.shape or u.ndim != 2:
        raise ValueError(f"InfoNCE needs two (b, d) embeddings of one shape, got {tuple(u.shape)} and {tuple(v.shape)}")
    b = u.shape[0]
    if b < 2:
        raise ValueError(f"InfoNCE needs a batch of at least 2 pairs (a lone pair has no negatives and a loss of "
                         f"0), got {b}; use --batch-size 2 or more")
    logits = scale * (u.float() @ v.float().T)  # (b, b): row i = image i against every caption
    target = torch.arange(b, device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


__all__ = ["info_nce"]
