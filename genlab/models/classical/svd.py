"""Truncated SVD of the data matrix as a latent factor model, fitted by scikit-learn's TruncatedSVD.

Notation: X (n, D) the training images as rows, not centred. Its rank-q truncated SVD
    X ~ A_q S_q V_q^T,   A_q (n, q) orthonormal columns, S_q diagonal, V_q (D, q) orthonormal columns,
is the best rank-q approximation in Frobenius norm (Eckart & Young 1936): each image is a combination
z = x V_q of q latent factors (the rows of V_q^T, "eigen-images" of the uncentred data) and decodes to
z V_q^T. PCA is the same decomposition of the centred matrix X - 1 mu^T (its V are the principal
directions and S^2 / (n - 1) their variances). Without centring, the first factor points at (nearly)
the mean image, since for images of non-negative pixels the mean dominates the second moment X^T X / n,
and the others approximate the principal directions; docs/CLASSICAL.md compares the two.

To sample, the codes of the training images are modelled by one Gaussian N(m, C) in the q-dimensional
factor space: z ~ N(m, C), x = z V_q^T. That is a degenerate density in R^D (it lives on a q-dimensional
subspace), so `svd` has no likelihood; `pca` adds the isotropic noise that makes one (PPCA). With
conditional=True the codes get one Gaussian per class instead (class_prior.py), samples drawn per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from genlab.config import bounded
from genlab.data.base import DataSpec
from genlab.models.base import GenerativeModel, Samples
from genlab.models.classical.class_prior import ClassPrior, check_labelled
from genlab.models.classical.common import (
    as_images,
    blas_threads,
    check_at_most,
    check_examples,
    class_labels,
    flat,
    gaussian_noise,
    grey_levels,
    pixel_count,
    pixels_of,
    put,
    seed_from,
    unit_range,
)


@dataclass(frozen=True)
class SVDConfig:
    """Options of `svd`.

    Args:
        components: latent factors, q (at most the pixel count; "arpack" needs fewer than that).
        algorithm: "randomized" (Halko et al. 2011) or "arpack" (Lanczos, exact to tolerance).
        n_iter: power iterations of the randomized algorithm.
        conditional: one Gaussian on the codes per class (needs labelled data): samples are drawn per class;
            the factors, codes and reconstructions are those of all the data.
    """

    components: int = bounded(50, ge=1)
    algorithm: Literal["randomized", "arpack"] = "randomized"
    n_iter: int = bounded(5, ge=1)
    conditional: bool = False


class SVD(GenerativeModel):
    """Uncentred truncated SVD: encode/decode by the factors, samples from a Gaussian on the codes."""

    family: ClassVar[str] = "svd"
    Config: ClassVar[type] = SVDConfig
    label_free_codes: ClassVar[bool] = True  # conditional: a prior per class on the same codes

    def __init__(self, config: SVDConfig, spec: DataSpec):
        super().__init__(config, spec)
        d, q = pixel_count(self.shape), config.components
        what = pixels_of(self.shape)
        check_at_most("components", q, d - 1 if config.algorithm == "arpack" else d,
                      what + (" minus one (arpack)" if config.algorithm == "arpack" else ""))
        self.register_buffer("components", torch.zeros(q, d))  # V_q^T, orthonormal rows
        self.register_buffer("singular_values", torch.zeros(q))
        self.register_buffer("code_mean", torch.zeros(q))  # m
        self.register_buffer("code_scale_tril", torch.eye(q))  # C = L L^T
        if config.conditional:
            check_labelled(self.family, self.num_classes)
            self.prior = ClassPrior(self.num_classes, q)  # N(m_y, C_y) per class

    @blas_threads()
    def fit(self, data: Any, *, generator: torch.Generator | None = None, time_budget: float = 0.0) -> dict:
        """scikit-learn's TruncatedSVD on the grey levels (uncentred); then the codes' mean and covariance."""
        from sklearn.decomposition import TruncatedSVD

        c = self.config
        x = grey_levels(data)
        check_examples(self.family, x.shape[0], c.components, f"components={c.components}", "components")
        svd = TruncatedSVD(c.components, algorithm=c.algorithm, n_iter=c.n_iter,
                           random_state=seed_from(generator)).fit(x)
        codes = x @ svd.components_.T  # (n, q)
        cov = np.atleast_2d(np.cov(codes, rowvar=False)) if codes.shape[0] > 1 else np.zeros((c.components,) * 2)
        cov = cov + 1e-9 * np.eye(c.components)  # a Cholesky factor exists even for constant codes
        put(self.components, svd.components_)
        put(self.singular_values, svd.singular_values_)
        put(self.code_mean, codes.mean(0))
        put(self.code_scale_tril, np.linalg.cholesky(cov))
        if c.conditional:
            self.prior.fit(codes, class_labels(data, self.family))
        total = float((x * x).sum())
        return {"energy_ratio": float((svd.singular_values_ ** 2).sum() / total) if total > 0 else 1.0}

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z = x V_q, (b, q)."""
        return flat(x, self.components.dtype) @ self.components.T

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """z V_q^T as images in [0, 1]."""
        return as_images(z.to(self.components.dtype) @ self.components, self.shape)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The projection onto the q factors (exact when q = D)."""
        return self.decode(self.encode(x))

    def basis_images(self) -> torch.Tensor:
        """The factors as (q, c, h, w) images, 0 at grey 1/2."""
        return unit_range(self.components).reshape(-1, *self.shape)

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None) -> Samples:
        """z ~ N(m, C) fitted to the training codes, decoded; conditional: z ~ N(m_y, C_y) per class, every class
        in turn when cond is None."""
        labels = self.labels_for(n, cond)
        eps = gaussian_noise(n, self.code_mean.numel(), self.code_mean, generator)
        if labels is not None:
            return Samples(self.decode(self.prior.draw(labels, eps)), labels)
        return Samples(self.decode(self.code_mean + eps @ self.code_scale_tril.T))
