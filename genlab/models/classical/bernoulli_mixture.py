"""A mixture of products of Bernoullis, fitted by EM (Bishop 2006, sec. 9.3.3): the latent classes that
`nb --components C` gives each class. scikit-learn has Gaussian mixtures but no Bernoulli one, so EM is
written here, in torch.

Notation: n binary images x (n, D); C components with weights pi_c and pixel probabilities p_cd,
    p(x) = sum_c pi_c prod_d p_cd^x_d (1 - p_cd)^(1 - x_d).
E step: responsibilities r_ic = pi_c p(x_i | c) / p(x_i) (a softmax of the log-joints over c).
M step with alpha pseudo-counts per outcome (a Beta(1 + alpha, 1 + alpha) prior on each p_cd, MAP; alpha = 1 is
Laplace's rule, which is what scikit-learn's BernoulliNB applies to one component):
    N_c = sum_i r_ic,   pi_c = N_c / n,   p_cd = (sum_i r_ic x_id + alpha) / (N_c + 2 alpha).
The smoothing keeps every p_cd in (0, 1), so no log-likelihood is ever -inf. EM starts from responsibilities
drawn at random (Dirichlet(1) rows, from the caller's generator) and stops when the mean log-likelihood per image
gains less than `tol` nats, after `max_iter` iterations, or at the deadline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch


@dataclass
class BernoulliMixture:
    """A fitted mixture: weights (C,), probabilities (C, D), and how EM ended."""

    weights: torch.Tensor
    probs: torch.Tensor
    iterations: int
    converged: bool
    log_likelihood: float  # mean log p(x_i) per image, nats, at the last E step


def component_log_joint(x: torch.Tensor, log_weights: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """(n, C) log pi_c + log p(x_i | c) for binary x (n, D), as two matrix products."""
    return x @ probs.log().T + (1 - x) @ torch.log1p(-probs).T + log_weights


def fit_bernoulli_mixture(x: torch.Tensor, components: int, *, alpha: float = 1.0, max_iter: int = 100,
                          tol: float = 1e-3, generator: torch.Generator | None = None,
                          deadline: float = float("inf")) -> BernoulliMixture:
    """EM on binary images x (n, D) (float, values 0/1); deadline is a time.perf_counter() value."""
    n = x.shape[0]
    where = generator.device if generator is not None else x.device  # a CPU generator draws on the CPU
    r = -torch.rand(n, components, generator=generator, dtype=x.dtype, device=where).log().to(x.device)  # Exp(1)
    r = r / r.sum(1, keepdim=True)  # so each row is Dirichlet(1, ..., 1)
    previous, mean_ll, converged, iterations = -float("inf"), -float("inf"), False, 0
    while iterations < max_iter:
        counts = r.sum(0)
        probs = (r.T @ x + alpha) / (counts[:, None] + 2 * alpha)
        log_weights = (counts / n).clamp_min(torch.finfo(x.dtype).tiny).log()
        joint = component_log_joint(x, log_weights, probs)
        total = torch.logsumexp(joint, 1, keepdim=True)
        r = (joint - total).exp()
        mean_ll, iterations = float(total.mean()), iterations + 1
        converged = mean_ll - previous < tol
        previous = mean_ll
        if converged or time.perf_counter() >= deadline:
            break
    return BernoulliMixture(log_weights.exp(), probs, iterations, converged, mean_ll)
