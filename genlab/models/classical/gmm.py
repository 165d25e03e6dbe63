"""Gaussian mixtures, fitted by scikit-learn's GaussianMixture (EM; Bishop 2006, sec. 9.2), optionally in a
PCA subspace and optionally one mixture per class.

Notation: K components with weights pi_k, means m_k and covariances S_k (full, or diagonal) in a space
of q dimensions. Without a subspace (pca_components = 0) the mixture is on the D pixels themselves:
    p(x) = sum_k pi_k N(x; m_k, S_k).
In a PCA subspace, x = mu + U^T z + V^T w with U (q, D) the top principal directions, V (D - q, D) an
orthonormal basis of the rest; z = U (x - mu) carries the mixture and the discarded coordinates w get
PPCA's treatment (Tipping & Bishop 1999): isotropic Gaussian noise N(0, s^2 I_{D-q}) with s^2 the mean
variance the subspace leaves out. [U; V] is orthogonal, so the density of x is exactly
    log p(x) = log sum_k pi_k N(z; m_k, S_k) + log N(w; 0, s^2 I),   |w|^2 = |x - mu|^2 - |z|^2,
a mixture of D-dimensional Gaussians with covariances U^T S_k U + s^2 (I - U^T U). With
conditional=True each class y gets its own mixture and its own s_y^2 (one shared subspace), so
p(x | y) is exact, and nll(x) without labels is -log sum_y p(y) p(x | y). A class with no training images
(`--classes`) gets p(y) = 0 and the mixture of all the training images. Fitted on the bin centres of
8-bit pixels; scikit-learn's reg_covar is set to the dequantization variance (common.py), which adds
exactly it to every covariance, and s^2 gets it too.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from genlab.config import bounded
from genlab.data.base import DataSpec
from genlab.models.base import GenerativeModel, ProgressHook, Samples
from genlab.models.classical.class_prior import check_labelled, class_nll
from genlab.models.classical.common import (
    DEQUANT_VARIANCE,
    as_images,
    bin_centres,
    blas_threads,
    check_at_most,
    check_examples,
    class_labels,
    exact_dtype,
    flat,
    gaussian_noise,
    pixel_count,
    pixels_of,
    put,
    seed_from,
)
from genlab.nn.distributions import LOG_2PI


@dataclass(frozen=True)
class GMMConfig:
    """Options of `gmm`.

    Args:
        components: mixture components K (per class when conditional).
        covariance: "full" or "diag" covariance of each component.
        pca_components: fit the mixture in the top q principal components, the rest modelled as
            isotropic noise (0 = no subspace: the mixture is on the pixels themselves).
        conditional: one mixture per class (needs labelled data); samples are drawn per class.
        max_iter: EM iterations at most (per mixture).
        tol: EM stops when the mean log-likelihood gains less than this.
        n_init: EM restarts; the best is kept.
        init: scikit-learn's init_params: how the responsibilities start.
        sample_noise: whether sample() adds the isotropic noise of the discarded coordinates (in a
            subspace); False draws the subspace part only (smoother pictures; the density, nll and fit
            are unchanged).
    """

    components: int = bounded(10, ge=1)
    covariance: Literal["full", "diag"] = "full"
    pca_components: int = bounded(50, ge=0)
    conditional: bool = False
    max_iter: int = bounded(100, ge=1)
    tol: float = bounded(1e-3, gt=0)
    n_init: int = bounded(1, ge=1)
    init: Literal["kmeans", "k-means++", "random", "random_from_data"] = "kmeans"
    sample_noise: bool = True


class GMM(GenerativeModel):
    """Gaussian mixture: exact likelihood, samples, component means; one mixture per class when conditional."""

    family: ClassVar[str] = "gmm"
    Config: ClassVar[type] = GMMConfig
    likelihood_kind: ClassVar[str] = "continuous"  # a density of dequantized pixels
    likelihood_exact: ClassVar[bool] = True

    def __init__(self, config: GMMConfig, spec: DataSpec):
        super().__init__(config, spec)
        d = pixel_count(self.shape)
        check_at_most("pca_components", config.pca_components, d,
                      pixels_of(self.shape))
        if config.conditional:
            check_labelled(self.family, self.num_classes)
        self.subspace = config.pca_components > 0
        q, k = (config.pca_components if self.subspace else d), config.components
        g = self.num_classes if config.conditional else 1
        if self.subspace:
            self.register_buffer("basis_mean", torch.zeros(d))  # mu
            self.register_buffer("basis", torch.zeros(q, d))  # U
            self.register_buffer("residual_variance", torch.ones(g))  # s^2 per mixture
        self.register_buffer("class_log_prior", torch.zeros(g))
        self.register_buffer("log_weights", torch.zeros(g, k))
        self.register_buffer("means", torch.zeros(g, k, q))
        if config.covariance == "full":
            self.register_buffer("scale_tril", torch.eye(q).expand(g, k, q, q).clone())  # S = L L^T
        else:
            self.register_buffer("variances", torch.ones(g, k, q))

    @property
    def dims(self) -> int:
        return self.means.shape[-1]

    # --- fit ------------------------------------------------------------------------------------
    @blas_threads()
    def fit(self, data: Any, *, generator: torch.Generator | None = None, time_budget: float = 0.0,
            progress: ProgressHook | None = None) -> dict:
        """PCA (when asked), then scikit-learn's GaussianMixture per mixture; arrays become the buffers.
        EM runs up to max_iter iterations, or, with a time budget (wall seconds, shared by the mixtures),
        one iteration at a time until it converges or the budget is spent (then `converged` is 0). Each mixture
        is reported to `progress` as it is done."""
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        c = self.config
        x = bin_centres(data)
        d, seed = x.shape[1], seed_from(generator)
        groups = self._groups(data, x.shape[0])
        z, residual = x, np.zeros(x.shape[0])
        if self.subspace:
            check_examples(self.family, x.shape[0], self.dims, f"pca_components={self.dims}", "pca_components")
            pca = PCA(self.dims, svd_solver="auto", random_state=seed).fit(x)
            put(self.basis_mean, pca.mean_)
            put(self.basis, pca.components_)
            r = x - pca.mean_
            z = r @ pca.components_.T
            residual = np.maximum((r * r).sum(1) - (z * z).sum(1), 0.0)
        iterations, converged, lower_bound = 0, True, 0.0
        deadline = time.perf_counter() + time_budget
        log_prior = np.full(len(groups), -np.inf)  # a class without training images keeps p(y) = 0
        present = [len(idx) for idx in groups if len(idx)]
        check_examples(self.family, min(present), c.components,  # the smallest class decides
                       f"{c.components} components per mixture", "components")
        everything = np.arange(x.shape[0])

        def em(rows: np.ndarray, random_state: int) -> Any:
            gm = GaussianMixture(c.components, covariance_type=c.covariance, tol=c.tol, reg_covar=DEQUANT_VARIANCE,
                                 max_iter=c.max_iter, n_init=c.n_init, init_params=c.init, random_state=random_state)
            return em_within(gm, z[rows], deadline) if time_budget > 0 else gm.fit(z[rows])

        pooled = functools.cache(lambda: em(everything, seed))  # fitted once, for the classes never trained on
        for g, idx in enumerate(groups):
            if progress:
                progress("mixtures", g, len(groups))
            fit_on = idx if len(idx) else everything
            gm = em(idx, seed + g) if len(idx) else pooled()
            self.means[g].copy_(torch.from_numpy(gm.means_))
            self.log_weights[g].copy_(torch.from_numpy(np.log(gm.weights_)))
            if c.covariance == "full":
                self.scale_tril[g].copy_(torch.from_numpy(np.linalg.cholesky(gm.covariances_)))
            else:
                self.variances[g].copy_(torch.from_numpy(gm.covariances_))
            if self.subspace:
                rest = residual[fit_on].mean() / (d - self.dims) if d > self.dims else 0.0
                self.residual_variance[g] = rest + DEQUANT_VARIANCE
            if len(idx):
                log_prior[g] = np.log(len(idx) / x.shape[0])
                lower_bound += len(idx) * float(gm.lower_bound_) / x.shape[0]
            iterations, converged = max(iterations, int(gm.n_iter_)), converged and bool(gm.converged_)
        if progress:
            progress("mixtures", len(groups), len(groups))
        put(self.class_log_prior, log_prior)
        return {"em_iterations": iterations, "converged": float(converged),
                "em_loglik_per_image": lower_bound}  # of the coordinates EM saw

    def _groups(self, data: Any, n: int) -> list[np.ndarray]:
        """Indices of the images each mixture is fitted on: all of them, or one class each."""
        if not self.config.conditional:
            return [np.arange(n)]
        y = class_labels(data, self.family)
        return [np.flatnonzero(y == k) for k in range(self.num_classes)]

    # --- likelihood -----------------------------------------------------------------------------
    def project(self, x: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(z, |w|^2): the mixture's coordinates (b, q) and the squared norm of the rest (None: no subspace)."""
        xf = flat(x, dtype)
        if not self.subspace:
            return xf, None
        r = xf - self.basis_mean.to(dtype)
        z = r @ self.basis.to(dtype).T
        return z, ((r * r).sum(1) - (z * z).sum(1)).clamp_min(0.0)

    def component_log_prob(self, z: torch.Tensor, g: int) -> torch.Tensor:
        """(b, K) log N(z; m_k, S_k) of mixture g."""
        dtype = z.dtype
        if self.config.covariance == "full":
            dist = torch.distributions.MultivariateNormal(self.means[g].to(dtype),
                                                          scale_tril=self.scale_tril[g].to(dtype),
                                                          validate_args=False)
            return dist.log_prob(z[:, None, :])
        var = self.variances[g].to(dtype)
        diff = z[:, None, :] - self.means[g].to(dtype)
        return -0.5 * (diff * diff / var + var.log() + LOG_2PI).sum(-1)

    def log_prob_per_mixture(self, x: torch.Tensor) -> torch.Tensor:
        """(b, G) log p(x | mixture g), exact (G = 1, or one mixture per class)."""
        dtype = exact_dtype(self.means.device)
        z, w2 = self.project(x, dtype)
        out = []
        for g in range(self.means.shape[0]):
            lp = torch.logsumexp(self.log_weights[g].to(dtype) + self.component_log_prob(z, g), dim=1)
            rest = pixel_count(self.shape) - self.dims
            if w2 is not None and rest > 0:
                s2 = self.residual_variance[g].to(dtype)
                lp = lp - 0.5 * (rest * (LOG_2PI + s2.log()) + w2 / s2)
            out.append(lp)
        return torch.stack(out, dim=1)

    def nll(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
            generator: torch.Generator | None = None) -> torch.Tensor:
        """(b,) nats: -log p(x), or -log p(x | y) for a conditional model given labels; exact."""
        lp = self.log_prob_per_mixture(x)
        if not self.conditional:
            return -lp[:, 0].to(x.dtype)
        labels = None if y is None else self.labels_for(x.shape[0], y)
        return class_nll(lp, self.class_log_prior, labels).to(x.dtype)

    # --- samples and pictures -------------------------------------------------------------------
    def to_pixels(self, z: torch.Tensor) -> torch.Tensor:
        """(b, q) mixture coordinates -> (b, D) pixels (mu + U^T z in a subspace)."""
        return z @ self.basis + self.basis_mean if self.subspace else z

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None,
               noise: bool | None = None) -> Samples:
        """Draw a component, then z ~ N(m_k, S_k) (and, in a subspace, the isotropic rest unless
        noise=False; default: the config's sample_noise); conditional: per class, every class in turn
        when cond is None."""
        labels = self.labels_for(n, cond)
        g = labels if labels is not None else torch.zeros(n, dtype=torch.long, device=self.means.device)
        k = torch.multinomial(self.log_weights[g].exp(), 1, generator=generator).squeeze(1)
        eps = gaussian_noise(n, self.dims, self.means, generator)
        if self.config.covariance == "full":  # component by component: (n, q, q) factors could be large
            z = torch.empty_like(eps)
            for gk in torch.unique(g * self.means.shape[1] + k).tolist():
                i, j = divmod(gk, self.means.shape[1])
                rows = (g == i) & (k == j)
                z[rows] = self.means[i, j] + eps[rows] @ self.scale_tril[i, j].T
        else:
            z = self.means[g, k] + self.variances[g, k].sqrt() * eps
        x = self.to_pixels(z)
        noise = self.config.sample_noise if noise is None else noise
        if self.subspace and noise and x.shape[1] > self.dims:
            e = gaussian_noise(n, x.shape[1], x, generator)
            e = e - (e @ self.basis.T) @ self.basis  # the part orthogonal to the subspace
            x = x + self.residual_variance[g].sqrt()[:, None] * e
        return Samples(as_images(x, self.shape), labels)

    def component_means(self) -> torch.Tensor:
        """(G * K, c, h, w) the component means as images (mixture by mixture: class-major)."""
        return as_images(self.to_pixels(self.means.flatten(0, 1)), self.shape)

    def basis_images(self) -> torch.Tensor:
        """What to draw for this model: the component means."""
        return self.component_means()


def em_within(gm: Any, z: np.ndarray, deadline: float) -> Any:
    """EM one iteration at a time (scikit-learn's warm start) until the lower bound moves less than tol,
    max_iter iterations are done, or the clock passes `deadline`; sets n_iter_ and converged_ as fit does."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    total, previous, max_iter = 0, -np.inf, gm.max_iter
    gm.set_params(max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one iteration per call never "converges"
        while True:
            gm.fit(z)
            total += 1
            done = abs(gm.lower_bound_ - previous) < gm.tol
            previous = gm.lower_bound_
            if done or total >= max_iter or time.perf_counter() >= deadline:
                break
    gm.set_params(max_iter=max_iter, warm_start=False)
    gm.n_iter_, gm.converged_ = total, bool(done)
    return gm
