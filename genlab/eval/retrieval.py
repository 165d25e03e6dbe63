"""Retrieval by class: precision@k and mean average precision of nearest-neighbour rankings, with the query
left out of its own ranking, and recall@k of an approximate search against the exact one.

An item is relevant to a query when it has the query's class. For query i with ranking r_1, r_2, ... of the
other n - 1 items by distance, P@k = |{j <= k : y(r_j) = y_i}| / k, and the average precision is
AP = (1 / R) sum_{j : y(r_j) = y_i} P@j over its R relevant items (the area under the precision-recall
curve; Manning, Raghavan & Schutze 2008, ch. 8). mAP is the mean AP over queries.
"""

from __future__ import annotations

import torch


def recall_at_k(exact_ids: torch.Tensor, approx_ids: torch.Tensor) -> float:
    """Mean over queries of |approx top-k & exact top-k| / k, both (q, k) id tensors (-1 = no result)."""
    if exact_ids.shape != approx_ids.shape:
        raise ValueError(f"id tensors differ in shape: {tuple(exact_ids.shape)} vs {tuple(approx_ids.shape)}")
    hit = (approx_ids.unsqueeze(2) == exact_ids.unsqueeze(1)) & (approx_ids >= 0).unsqueeze(2)  # (q, k, k)
    return float(hit.any(2).float().sum(1).div(exact_ids.shape[1]).mean())


def precision_at_k(neighbour_labels: torch.Tensor, query_labels: torch.Tensor) -> torch.Tensor:
    """(q,) fraction of each query's k neighbours (labels (q, k)) of the query's class (labels (q,))."""
    return (neighbour_labels == query_labels.unsqueeze(1)).float().mean(1)


def leave_one_out_ranking(vectors: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """(len(rows), n - 1) ids of all vectors by L2 distance from vectors[rows], nearest first, the query
    itself left out."""
    v = vectors.float()
    q = v[rows]  # (b, d)
    d2 = q.pow(2).sum(1, keepdim=True) - 2 * q @ v.T + v.pow(2).sum(1)  # (b, n)
    d2[torch.arange(len(rows)), rows] = float("inf")
    return d2.argsort(dim=1, stable=True)[:, :-1]


def class_retrieval(vectors: torch.Tensor, labels: torch.Tensor, *, k: int = 10,
                    chunk: int = 500) -> dict[str, float]:
    """P@k and mAP of every vector as a query against all the others (exact L2 ranking, leave one out).

    Args:
        vectors: (n, d) codes; labels: (n,) classes.
    Returns:
        {"precision@k": mean P@k, "mAP": mean AP, "n": n}
    """
    n = vectors.shape[0]
    if n < 2 or labels.shape != (n,):
        raise ValueError(f"class retrieval needs >= 2 vectors with one label each, got {tuple(vectors.shape)} "
                         f"and {tuple(labels.shape)}")
    p_sum, ap_sum = 0.0, 0.0
    for start in range(0, n, chunk):
        rows = torch.arange(start, min(n, start + chunk))
        order = leave_one_out_ranking(vectors, rows)  # (b, n - 1)
        rel = (labels[order] == labels[rows].unsqueeze(1)).double()  # (b, n - 1)
        p_sum += float(rel[:, :k].mean(1).sum())
        hits = rel.cumsum(1)
        precision = hits / torch.arange(1, n, dtype=torch.float64)
        ap = (precision * rel).sum(1) / rel.sum(1).clamp_min(1)
        ap_sum += float(ap.sum())
    return {f"precision@{k}": p_sum / n, "mAP": ap_sum / n, "n": n}


__all__ = ["class_retrieval", "leave_one_out_ranking", "precision_at_k", "recall_at_k"]
