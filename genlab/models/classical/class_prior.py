"""A class-conditional Gaussian prior on the codes of a linear latent model (conditional=True in pca, fa, svd).

Notation: z (q,) the latent code of a linear model x = mu + W^T z + noise (PPCA, factor analysis), whose
unconditional prior is z ~ N(0, I); y a class with prior p(y). The conditional model keeps mu, W and the
noise and gives each class its own prior
    z | y ~ N(m_y, C_y),   C_y = L_y L_y^T,   so   x | y ~ N(mu + W^T m_y, (L_y^T W)^T (L_y^T W) + noise),
an exact density per class (the same low-rank-plus-diagonal form). m_y and C_y are the EM update of the
prior with W and the noise held fixed: the mean of the posterior means E[z | x] over the class's images
and their covariance plus the posterior covariance Cov[z | x] (Bishop 2006, sec. 12.2.4). At the
maximum-likelihood fit, the same update on all the data returns N(0, I) (a test checks it for PPCA), so one
class is the unconditional model.
Encoding and decoding do not change (the same mu and W for every class); samples are drawn per class.
Without labels the density is the mixture p(x) = sum_y p(y) p(x | y), p(y) the class frequencies.
`svd` has no noise model: its prior is the codes' own per-class mean and covariance (a zero posterior
covariance, plus a tiny ridge so that a Cholesky factor exists).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from genlab.models.classical.common import put


class ClassPrior(nn.Module):
    """z | y ~ N(m_y, L_y L_y^T) for y in [0, G), and log p(y); fitted from per-image codes."""

    def __init__(self, classes: int, dims: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(classes, dims))  # m_y
        self.register_buffer("scale_tril", torch.eye(dims).expand(classes, dims, dims).clone())  # L_y
        self.register_buffer("log_prior", torch.zeros(classes))  # log p(y); -inf for a class with no images

    def fit(self, codes: np.ndarray, labels: np.ndarray, posterior_cov: np.ndarray | None = None) -> None:
        """m_y and C_y from the codes (n, q) of the images of each class (E[z | x], or the codes themselves),
        C_y = their covariance (1/n_y) plus `posterior_cov` (q, q). A class with no images (a model trained on some
        classes only) gets p(y) = 0 and the prior of all the images, so asking for it draws from the kept classes
        together."""
        g, q = self.mean.shape
        extra = np.zeros((q, q)) if posterior_cov is None else posterior_cov
        means, trils, log_prior = np.zeros((g, q)), np.zeros((g, q, q)), np.full(g, -np.inf)
        for k in range(g):
            z = codes[labels == k] if (labels == k).any() else codes
            r = z - z.mean(0)
            cov = r.T @ r / len(z) + extra + 1e-9 * np.eye(q)  # the ridge: one image, or constant codes
            means[k], trils[k] = z.mean(0), np.linalg.cholesky(cov)
            if (labels == k).any():
                log_prior[k] = np.log(len(z) / len(codes))
        put(self.mean, means)
        put(self.scale_tril, trils)
        put(self.log_prior, log_prior)

    def draw(self, labels: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """(n, q) z = m_y + L_y eps for standard normal eps (n, q)."""
        return self.mean[labels] + (self.scale_tril[labels] @ eps.unsqueeze(-1)).squeeze(-1)

    def factors(self, loadings: torch.Tensor) -> torch.Tensor:
        """(G, q, D) L_y^T W: the per-class low-rank factor of Cov[x | y] for loadings W (q, D)."""
        return self.scale_tril.transpose(-1, -2).to(loadings.dtype) @ loadings


def class_nll(log_prob: torch.Tensor, log_prior: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """(b,) nats from per-class log-densities (b, G): -log p(x | y) given labels, else the mixture's
    -log sum_y p(y) p(x | y)."""
    if labels is None:
        return -torch.logsumexp(log_prob + log_prior.to(log_prob.dtype), dim=1)
    return -log_prob.gather(1, labels.to(log_prob.device)[:, None]).squeeze(1)


def check_labelled(family: str, num_classes: int) -> None:
    """One-line ValueError for a conditional model on data without at least two classes."""
    if num_classes < 2:
        raise ValueError(f"a conditional {family} needs labelled data with at least 2 classes; "
                         "train on a labelled dataset or set conditional=False")
