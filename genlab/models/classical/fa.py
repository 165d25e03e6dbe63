"""Factor analysis, fitted by scikit-learn's FactorAnalysis (Bishop 2006, sec. 12.2.4; Barber 2012, ch. 21).

Notation: z ~ N(0, I_q) unobserved factors, x | z ~ N(mu + W^T z, Psi) with W (q, D) the factor loadings
and Psi = diag(psi) one noise variance per pixel (PPCA shares one sigma^2 across pixels). Hence
    x ~ N(mu, W^T W + Psi)                                              (exact density)
    E[z | x] = (I + W Psi^-1 W^T)^-1 W Psi^-1 (x - mu)                  (encode: the posterior mean)
and decode(z) = mu + W^T z, the mean of p(x | z). A rotation (varimax, quartimax) of the factors
changes W to R W with R orthogonal, which leaves W^T W, and so the likelihood, unchanged.

The likelihood of a Gaussian model depends on the data only through its mean and covariance, so
scikit-learn fits 2D rows that have exactly the training set's mean and covariance (common.moment_rows)
instead of the n images: the same maximum-likelihood fit, each iteration independent of n. The
covariance is that of the dequantized pixels, Cov[bin centres] + I / (12 * 256^2) (common.py), and psi is
floored at that dequantization variance. With conditional=True each class gets its own Gaussian prior on z
(class_prior.py): the same loadings and noise, one density per class, samples drawn per class.
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
    class_labels,
    exact_dtype,
    flat,
    moment_rows,
    pixel_count,
    pixels_of,
    put,
    seed_from,
    unit_range,
)
from genlab.models.classical.linear_gaussian import LinearGaussian


@dataclass(frozen=True)
class FAConfig:
    """Options of `fa`.

    Args:
        components: latent factors, q (at most the pixel count).
        max_iter: scikit-learn's iteration cap.
        tol: stop when the mean log-likelihood per image gains less than this (nats) in an iteration.
        svd_method: "randomized" (Halko et al. 2011) or "lapack" (exact) SVD inside each iteration.
        rotation: "none", "varimax" or "quartimax" rotation of the factors (same likelihood).
        sample_noise: whether sample() adds the per-pixel noise Psi^(1/2) eps; False draws the noise-free part
            only (smoother pictures; the density, nll and fit are unchanged).
        conditional: a Gaussian prior on z per class (needs labelled data): samples are drawn per class,
            nll given labels is -log p(x | y) and without them the mixture over the classes; the
            loadings, codes and reconstructions are those of all the data.
    """

    components: int = bounded(32, ge=1)
    max_iter: int = bounded(1000, ge=1)
    tol: float = bounded(1e-4, gt=0)
    svd_method: Literal["randomized", "lapack"] = "randomized"
    rotation: Literal["none", "varimax", "quartimax"] = "none"
    sample_noise: bool = True
    conditional: bool = False


class FA(LinearGaussian, GenerativeModel):
    """Factor analysis: exact Gaussian likelihood, samples, posterior-mean codes."""

    family: ClassVar[str] = "fa"
    Config: ClassVar[type] = FAConfig
    label_free_codes: ClassVar[bool] = True  # conditional: a prior per class on the same codes
    likelihood_kind: ClassVar[str] = "continuous"  # a density of dequantized pixels
    likelihood_exact: ClassVar[bool] = True

    def __init__(self, config: FAConfig, spec: DataSpec):
        super().__init__(config, spec)
        d, q = pixel_count(self.shape), config.components
        check_at_most("components", q, d, pixels_of(self.shape))
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("loadings", torch.zeros(q, d))  # W
        self.register_buffer("noise_variance", torch.ones(d))  # psi (with the dequantization variance)
        self.init_class_prior(q)

    @blas_threads()
    def fit(self, data: Any, *, generator: torch.Generator | None = None, time_budget: float = 0.0) -> dict:
        """scikit-learn's FactorAnalysis on rows with the dequantized pixels' mean and covariance."""
        from sklearn.decomposition import FactorAnalysis

        c = self.config
        x = bin_centres(data)
        rows = moment_rows(x, DEQUANT_VARIANCE)
        fa = FactorAnalysis(c.components, tol=c.tol * rows.shape[0], max_iter=c.max_iter,  # its tol: a sum
                            svd_method=c.svd_method, rotation=None if c.rotation == "none" else c.rotation,
                            random_state=seed_from(generator)).fit(rows)
        put(self.mean, fa.mean_)
        put(self.loadings, fa.components_)
        put(self.noise_variance, np.maximum(fa.noise_variance_, DEQUANT_VARIANCE))
        if c.conditional:
            posterior, gain = self.posterior()
            codes = (x - fa.mean_) @ gain.T.cpu().numpy()
            self.prior.fit(codes, class_labels(data, self.family), posterior.cpu().numpy())
        return {"iterations": int(fa.n_iter_), "train_loglik_per_image": float(fa.loglike_[-1]) / rows.shape[0],
                "mean_noise_variance": float(self.noise_variance.mean())}

    # --- latent ---------------------------------------------------------------------------------
    def posterior(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(Cov[z | x], G): the posterior covariance (I + W Psi^-1 W^T)^-1 (q, q) and the gain G (q, D) with
        E[z | x] = G (x - mu), in the exact dtype."""
        dtype = exact_dtype(self.mean.device)
        w, psi = self.loadings.to(dtype), self.noise_variance.to(dtype)
        w_psi = w / psi  # W Psi^-1, (q, D)
        cov = torch.linalg.inv(torch.eye(w.shape[0], dtype=dtype, device=w.device) + w_psi @ w.T)
        return cov, cov @ w_psi

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """E[z | x] = (I + W Psi^-1 W^T)^-1 W Psi^-1 (x - mu), (b, q)."""
        _, gain = self.posterior()
        r = flat(x, gain.dtype) - self.mean.to(gain.dtype)
        return (r @ gain.T).to(torch.float32)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """mu + W^T z, the mean of p(x | z), as images in [0, 1]."""
        return as_images(z.to(self.mean.dtype) @ self.loadings + self.mean, self.shape)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """decode(encode(x))."""
        return self.decode(self.encode(x))

    def basis_images(self) -> torch.Tensor:
        """The factor loadings as (q, c, h, w) images, 0 at grey 1/2."""
        return unit_range(self.loadings).reshape(-1, *self.shape)

    # --- likelihood and samples: LinearGaussian's, with these loadings and psi --------------------
    def weights(self) -> torch.Tensor:
        """The loadings W."""
        return self.loadings

    def covariance(self) -> torch.Tensor:
        """(D, D) the implied covariance W^T W + Psi (float64; for tests and small images)."""
        w = self.loadings.double()
        return w.T @ w + torch.diag(self.noise_variance.double())
