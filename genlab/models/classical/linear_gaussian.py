"""What pca and fa share: the linear-Gaussian model x = mu + W^T z + eps, eps ~ N(0, diag(psi)), with z ~ N(0, I),
or z ~ N(m_y, C_y) per class when conditional (class_prior.py). PPCA is psi = sigma^2 for every pixel (pca.py),
factor analysis one psi per pixel (fa.py); each family fits mu, W and psi its own way and says what W is
(`weights`). The density, its exact nll and the samples are the same formulas for both:
    x ~ N(mu, W^T W + diag(psi)),   x | y ~ N(mu + W^T m_y, (L_y^T W)^T (L_y^T W) + diag(psi)).
"""

from __future__ import annotations

from typing import Any

import torch

from genlab.models.base import Samples
from genlab.models.classical.class_prior import ClassPrior, check_labelled, class_nll
from genlab.models.classical.common import as_images, exact_dtype, flat, gaussian_noise, low_rank_normal


class LinearGaussian:
    """A mixin for a GenerativeModel with buffers `mean` (D,) and `noise_variance` (psi: () or (D,)), a config with
    `sample_noise` and `conditional`, and `weights()` -> W (q, D)."""

    def weights(self) -> torch.Tensor:
        """W (q, D), the loadings of x on z."""
        raise NotImplementedError

    def init_class_prior(self, dims: int) -> None:
        """The per-class prior on z (q = dims) when the config is conditional, after checking for labels."""
        if self.config.conditional:
            check_labelled(self.family, self.num_classes)
            self.prior = ClassPrior(self.num_classes, dims)  # z | y

    @property
    def class_log_prior(self) -> torch.Tensor | None:
        """log p(y): the class frequencies that weight p(x | y) in the marginal nll (None: unconditional)."""
        return self.prior.log_prior if self.conditional else None

    def distribution(self, dtype: torch.dtype | None = None) -> torch.distributions.LowRankMultivariateNormal:
        """N(mu, W^T W + diag(psi)); conditional: one per class, batch shape (G,)."""
        dtype = dtype or exact_dtype(self.mean.device)
        w = self.weights().to(dtype)
        if self.conditional:
            mean = self.mean.to(dtype) + self.prior.mean.to(dtype) @ w
            return low_rank_normal(mean, self.prior.factors(w), self.noise_variance, dtype)
        return low_rank_normal(self.mean, w, self.noise_variance, dtype)

    def nll(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
            generator: torch.Generator | None = None) -> torch.Tensor:
        """(b,) -log p(x) in nats, exact; x continuous (dequantized) pixels; conditional: -log p(x | y) given labels
        y, else the mixture over the classes."""
        dist = self.distribution()
        xf = flat(x, dist.loc.dtype)
        if not self.conditional:
            return -dist.log_prob(xf).to(x.dtype)
        labels = None if y is None else self.labels_for(x.shape[0], y)
        return class_nll(dist.log_prob(xf[:, None, :]), self.prior.log_prior, labels).to(x.dtype)

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None,
               noise: bool | None = None) -> Samples:
        """x = mu + W^T z + psi^(1/2) eps; noise=False leaves out the noise term (default: the config's
        sample_noise); conditional: z ~ N(m_y, C_y) per class, every class in turn when cond is None."""
        labels = self.labels_for(n, cond)
        w = self.weights()
        z = gaussian_noise(n, w.shape[0], self.mean, generator)
        if labels is not None:
            z = self.prior.draw(labels, z)
        x = self.mean + z @ w
        if self.config.sample_noise if noise is None else noise:
            x = x + self.noise_variance.sqrt() * gaussian_noise(n, self.mean.numel(), self.mean, generator)
        return Samples(as_images(x, self.shape), labels)
