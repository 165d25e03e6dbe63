"""PCA and probabilistic PCA (Tipping & Bishop 1999), fitted by scikit-learn's PCA.

Notation: data x in R^D with mean mu; U (q, D) the top q principal directions (rows, orthonormal) with
variances lambda_1 >= ... >= lambda_q; sigma^2 the mean of the D - q discarded variances. PCA codes are
z = U (x - mu) and decode to mu + U^T z (exact when q = D). Probabilistic PCA is the latent model
    z ~ N(0, I_q),   x | z ~ N(mu + W^T z, sigma^2 I),   W = diag(sqrt(lambda - sigma^2)) U,
whose maximum-likelihood fit is exactly this (Tipping & Bishop 1999, eq. 7 and 8), so
    x ~ N(mu, W^T W + sigma^2 I)
is an exact density: variance lambda_i along u_i and sigma^2 across the rest. Fitted on the bin
centres of 8-bit pixels, with the dequantization variance added to every variance (common.py). With
conditional=True each class gets its own Gaussian prior on z (class_prior.py): the same components, one
density per class, samples drawn per class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from genlab.config import bounded
from genlab.data.base import DataSpec
from genlab.models.base import GenerativeModel
from genlab.models.classical.common import (
    DEQUANT_VARIANCE,
    as_images,
    bin_centres,
    blas_threads,
    check_at_most,
    check_examples,
    class_labels,
    flat,
    pixel_count,
    pixels_of,
    put,
    seed_from,
    unit_range,
)
from genlab.models.classical.linear_gaussian import LinearGaussian


@dataclass(frozen=True)
class PCAConfig:
    """Options of `pca`.

    Args:
        components: principal components kept, q (at most the pixel count).
        solver: scikit-learn's svd_solver: "covariance_eigh" (eigenvectors of the D x D covariance; fast
            when there are many more images than pixels), "full" (LAPACK SVD of the data), "randomized"
            (Halko et al. 2011), or "auto" (scikit-learn picks).
        sample_noise: whether sample() adds the isotropic noise sigma eps; False draws the noise-free part
            only (smoother pictures; the density, nll and fit are unchanged).
        conditional: a Gaussian prior on z per class (needs labelled data): samples are drawn per class,
            nll given labels is -log p(x | y) and without them the mixture over the classes; the
            components, codes and reconstructions are those of all the data.
    """

    components: int = bounded(50, ge=1)
    solver: Literal["auto", "full", "covariance_eigh", "randomized"] = "auto"
    sample_noise: bool = True
    conditional: bool = False


class PCA(LinearGaussian, GenerativeModel):
    """Principal components (encode/decode, eigen-images) and probabilistic PCA (exact likelihood, sample)."""

    family: ClassVar[str] = "pca"
    Config: ClassVar[type] = PCAConfig
    label_free_codes: ClassVar[bool] = True  # conditional: a prior per class on the same codes
    likelihood_kind: ClassVar[str] = "continuous"  # a density of dequantized pixels
    likelihood_exact: ClassVar[bool] = True

    def __init__(self, config: PCAConfig, spec: DataSpec):
        super().__init__(config, spec)
        d, q = pixel_count(self.shape), config.components
        check_at_most("components", q, d, pixels_of(self.shape))
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("components", torch.zeros(q, d))  # U, orthonormal rows
        self.register_buffer("explained_variance", torch.ones(q))  # lambda (with the dequantization variance)
        self.register_buffer("noise_variance", torch.ones(()))  # sigma^2 (with the dequantization variance)
        self.register_buffer("total_variance", torch.ones(()))  # trace of the data covariance (no floor)
        self.init_class_prior(q)

    # --- fit ------------------------------------------------------------------------------------
    @blas_threads()
    def fit(self, data: Any, *, generator: torch.Generator | None = None, time_budget: float = 0.0) -> dict:
        """scikit-learn's PCA on the bin centres; its arrays become the buffers (closed form: no budget)."""
        from sklearn.decomposition import PCA as SkPCA

        x = bin_centres(data)
        q = self.config.components
        check_examples(self.family, x.shape[0], q, f"components={q}", "components")
        pca = SkPCA(q, svd_solver=self.config.solver, random_state=seed_from(generator)).fit(x)
        put(self.mean, pca.mean_)
        put(self.components, pca.components_)
        put(self.explained_variance, pca.explained_variance_ + DEQUANT_VARIANCE)
        put(self.noise_variance, pca.noise_variance_ + DEQUANT_VARIANCE)
        total = float(x.var(axis=0, ddof=1).sum())
        put(self.total_variance, total)
        if self.config.conditional:
            lam, s2 = self.explained_variance.cpu().double().numpy(), float(self.noise_variance)
            # the PPCA posterior: E[z | x] = diag(sqrt(lambda - sigma^2) / lambda) U (x - mu), Cov = sigma^2 / lambda
            codes = (x - pca.mean_) @ pca.components_.T * (np.sqrt(np.maximum(lam - s2, 0.0)) / lam)
            self.prior.fit(codes, class_labels(data, self.family), np.diag(s2 / lam))
        return {"explained_variance_ratio": float(pca.explained_variance_.sum() / total) if total > 0 else 1.0,
                "noise_variance": float(pca.noise_variance_ + DEQUANT_VARIANCE)}

    # --- PCA: codes, eigen-images ---------------------------------------------------------------
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """PCA codes z = U (x - mu), (b, q)."""
        return (flat(x, self.mean.dtype) - self.mean) @ self.components.T

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """mu + U^T z as images in [0, 1]."""
        return as_images(z.to(self.mean.dtype) @ self.components + self.mean, self.shape)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The projection onto the q components (exact when q = D)."""
        return self.decode(self.encode(x))

    def eigen_images(self) -> torch.Tensor:
        """The principal directions as (q, c, h, w) images, 0 at grey 1/2 (Turk & Pentland 1991)."""
        return unit_range(self.components).reshape(-1, *self.shape)

    def basis_images(self) -> torch.Tensor:
        """What to draw for this model: the eigen-images."""
        return self.eigen_images()

    def explained_variance_ratio(self) -> torch.Tensor:
        """(q,) the share of the total variance along each component."""
        return (self.explained_variance - DEQUANT_VARIANCE) / self.total_variance

    # --- probabilistic PCA ----------------------------------------------------------------------
    def factors(self) -> torch.Tensor:
        """W = diag(sqrt(lambda - sigma^2)) U, (q, D)."""
        return (self.explained_variance - self.noise_variance).clamp_min(0).sqrt()[:, None] * self.components

    def weights(self) -> torch.Tensor:
        """PPCA's W (the density, nll and sample are LinearGaussian's, with psi = sigma^2)."""
        return self.factors()

    def covariance(self) -> torch.Tensor:
        """(D, D) the implied covariance W^T W + sigma^2 I (float64; for tests and small images)."""
        w = self.factors().double()
        return w.T @ w + self.noise_variance.double() * torch.eye(w.shape[1], dtype=torch.float64,
                                                                     device=w.device)
