"""Naive Bayes as a generative classifier, fitted by scikit-learn's BernoulliNB or GaussianNB
(Bishop 2006, sec. 4.2.3; Ng & Jordan 2002).

Notation: classes y with prior p(y); pixels independent given the class:
    p(x | y) = prod_d p(x_d | y),   Bernoulli(x_d; p_yd) on binarized pixels, or N(x_d; m_yd, v_yd) on grey levels.
Bayes' rule classifies: log p(y | x) = log p(y) + sum_d log p(x_d | y) - log sum_y' (same). A pixel
that is missing is marginalized out exactly: integrating p(x_d | y) over x_d gives 1, so its factor
is dropped from the product (`missing_mask`). Samples are drawn per class from p(x | y); with
conditional=False, y is drawn from p(y) first (the model is then a mixture p(x) = sum_y p(y) p(x | y)).

Latent classes (`components` C > 1, a mixture of naive Bayes models per class; Bishop 2006, sec. 9.3.3):
    p(x | y) = sum_c pi_yc prod_d p(x_d | y, c),
each class's mixture fitted by EM on that class's images (bernoulli_mixture.py; the Gaussian variant by
scikit-learn's GaussianMixture with diagonal covariances). Pixels stay independent given (y, c), so Bayes' rule,
the exact marginalization of missing pixels and the samples keep their form, with c summed out or drawn. One
prototype per class draws the class's average, a speckled blob; C of them draw the class's writing styles.

Floors: BernoulliNB's Laplace smoothing alpha keeps every p_yd inside (0, 1); the Gaussian variant is
fitted on the bin centres of 8-bit pixels with the dequantization variance added to every v_yd
(common.py), which keeps a constant pixel's density finite; `var_smoothing` adds more (scikit-learn's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from genlab.config import bounded
from genlab.data.base import DataSpec
from genlab.models.base import GenerativeModel, ProgressHook, Samples
from genlab.models.classical.common import (
    DEQUANT_VARIANCE,
    as_images,
    bin_centres,
    blas_threads,
    class_labels,
    exact_dtype,
    flat,
    gaussian_noise,
    grey_levels,
    pixel_count,
    put,
    seed_from,
)
from genlab.nn.distributions import LOG_2PI


@dataclass(frozen=True)
class NBConfig:
    """Options of `nb`.

    Args:
        likelihood: "bernoulli" on pixels binarized at `threshold`, or "gaussian" on grey levels.
        threshold: a pixel is 1 when its grey level is above this (bernoulli).
        alpha: Laplace smoothing of the Bernoulli probabilities (pseudo-counts).
        var_smoothing: extra variance added to every pixel of the Gaussian variant, as a fraction of the
            largest pixel variance (scikit-learn's var_smoothing); 0 = only the dequantization variance.
        conditional: score and sample given the class (True), or from the mixture over classes (False).
        components: latent classes C per class: p(x | y) is a mixture of C naive Bayes models, fitted by EM
            (1 = naive Bayes itself, fitted in closed form).
        max_iter: EM iterations at most, per class (components > 1).
        tol: EM stops when the mean log-likelihood per image gains less than this many nats (components > 1).
    """

    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"
    threshold: float = bounded(0.5, gt=0, lt=1)
    alpha: float = bounded(1.0, gt=0)
    var_smoothing: float = bounded(0.0, ge=0)
    conditional: bool = True
    components: int = bounded(1, ge=1)
    max_iter: int = bounded(100, ge=1)
    tol: float = bounded(1e-3, gt=0)


class NB(GenerativeModel):
    """Naive Bayes: classifies by Bayes' rule (missing pixels marginalized exactly), samples p(x | y); with
    components C > 1, a mixture of C naive Bayes models per class."""

    family: ClassVar[str] = "nb"
    Config: ClassVar[type] = NBConfig
    likelihood_exact: ClassVar[bool] = True

    def __init__(self, config: NBConfig, spec: DataSpec):
        super().__init__(config, spec)
        if self.num_classes < 2:
            raise ValueError("an nb model is a classifier: it needs labelled data with at least 2 classes; train it "
                             "on a labelled dataset (e.g. --data mnist), or use an unconditional family (gmm, pca)")
        k, c, d = self.num_classes, config.components, pixel_count(self.shape)
        self.register_buffer("class_log_prior", torch.full((k,), -float(np.log(k))))
        # row y C + c: p_ycd (bernoulli) or m_ycd (gaussian); with C = 1, p_yd or m_yd
        self.register_buffer("means", torch.full((k * c, d), 0.5))
        if config.likelihood == "gaussian":
            self.register_buffer("variances", torch.ones(k * c, d))  # v_ycd
        if c > 1:  # log pi_yc (C = 1 keeps the state dict of naive Bayes itself)
            self.register_buffer("component_log_weights", torch.full((k, c), -float(np.log(c))))

    @property
    def likelihood_kind(self) -> str:
        """Bernoulli: a likelihood of binary pixels; Gaussian: a density of dequantized pixels."""
        return "binary" if self.config.likelihood == "bernoulli" else "continuous"

    # --- fit ------------------------------------------------------------------------------------
    @blas_threads()
    def fit(self, data: Any, *, generator: torch.Generator | None = None, time_budget: float = 0.0,
            progress: ProgressHook | None = None) -> dict:
        """scikit-learn's BernoulliNB (grey levels binarized at threshold) or GaussianNB (bin centres); with
        components > 1, EM per class (a time budget, wall seconds shared by the classes, stops EM early), each
        class reported to `progress` as it is done."""
        from sklearn.naive_bayes import BernoulliNB, GaussianNB

        c = self.config
        y = class_labels(data, self.family)
        missing = sorted(set(range(self.num_classes)) - set(np.unique(y).tolist()))
        if missing:
            raise ValueError(f"an nb model needs training images of every class; none of class {missing}")
        counts = np.bincount(y, minlength=self.num_classes)
        stats: dict = {}
        if c.components > 1:
            x = grey_levels(data) if c.likelihood == "bernoulli" else bin_centres(data)
            stats = self._fit_mixtures(x, y, generator, time_budget, progress)
        elif c.likelihood == "bernoulli":
            x = grey_levels(data)
            nb = BernoulliNB(alpha=c.alpha, binarize=c.threshold, force_alpha=True).fit(x, y)
            put(self.means, np.exp(nb.feature_log_prob_))
        else:
            x = bin_centres(data)
            nb = GaussianNB(var_smoothing=c.var_smoothing).fit(x, y)
            put(self.means, nb.theta_)
            put(self.variances, nb.var_ + DEQUANT_VARIANCE)
        put(self.class_log_prior, np.log(counts / counts.sum()))
        xt = torch.from_numpy(x).to(self.means.device)
        hits = sum(int((self.predict(xt[i:i + 5000]).cpu().numpy() == y[i:i + 5000]).sum())
                   for i in range(0, len(y), 5000))
        return {"train_accuracy": hits / len(y), **stats}

    def _fit_mixtures(self, x: np.ndarray, y: np.ndarray, generator: torch.Generator | None,
                      time_budget: float, progress: ProgressHook | None = None) -> dict:
        """One mixture of C components per class: Bernoulli EM (bernoulli_mixture.py) on the pixels binarized at
        the threshold (more components than a class has images is well defined: the smoothing keeps them apart),
        or scikit-learn's diagonal GaussianMixture on the bin centres (its reg_covar adds the dequantization
        variance, plus var_smoothing's share of the largest pixel variance), at most one component per image."""
        from sklearn.mixture import GaussianMixture

        from genlab.models.classical.bernoulli_mixture import fit_bernoulli_mixture
        from genlab.models.classical.gmm import em_within

        c, k = self.config, self.config.components
        deadline = time.perf_counter() + time_budget if time_budget > 0 else float("inf")
        iterations, converged = 0, True
        if c.likelihood == "gaussian":
            floor = DEQUANT_VARIANCE + c.var_smoothing * float(x.var(0).max())
        for label in range(self.num_classes):
            if progress:
                progress("classes", label, self.num_classes)
            rows = slice(label * k, (label + 1) * k)
            xk = x[y == label]
            if c.likelihood == "bernoulli":
                xb = torch.from_numpy(xk > c.threshold).to(self.means.device, torch.float32)
                mix = fit_bernoulli_mixture(xb, k, alpha=c.alpha, max_iter=c.max_iter, tol=c.tol,
                                            generator=generator, deadline=deadline)
                self.means[rows] = mix.probs.to(self.means.dtype)
                weights, n_iter, done = mix.weights.cpu().numpy(), mix.iterations, mix.converged
            else:  # at most one component per image; the rest get weight 0 (the class's moments, never drawn)
                used = min(k, len(xk))
                gm = GaussianMixture(used, covariance_type="diag", tol=c.tol, reg_covar=floor, max_iter=c.max_iter,
                                     random_state=seed_from(generator) + label)
                gm = em_within(gm, xk, deadline) if time_budget > 0 else gm.fit(xk)
                rest = np.ones((k - used, 1))
                put(self.means[rows], np.concatenate([gm.means_, rest * xk.mean(0)]))
                put(self.variances[rows], np.concatenate([gm.covariances_, rest * (xk.var(0) + floor)]))
                weights = np.concatenate([gm.weights_, np.zeros(k - used)])
                n_iter, done = int(gm.n_iter_), bool(gm.converged_)
            put(self.component_log_weights[label], np.log(np.maximum(weights, np.finfo(np.float64).tiny)))
            iterations, converged = max(iterations, n_iter), converged and done
        if progress:
            progress("classes", self.num_classes, self.num_classes)
        return {"em_iterations": iterations, "converged": int(converged)}

    # --- Bayes' rule ----------------------------------------------------------------------------
    def binarize(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels above the threshold are 1 (what the Bernoulli variant classifies)."""
        return (x > self.config.threshold).to(x.dtype)

    def log_likelihoods(self, x: torch.Tensor, missing_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(b, K) log p(x_obs | y) for every class, nats: the observed pixels' factors only (missing_mask 1 =
        missing, same shape as x or (b, D)), with the latent classes summed out; x binary (bernoulli) or
        continuous (gaussian)."""
        dtype = exact_dtype(self.means.device)
        xf = flat(x, dtype)
        obs = torch.ones_like(xf) if missing_mask is None else 1.0 - flat(missing_mask, dtype)
        if obs.shape != xf.shape:
            raise ValueError(f"missing_mask must have x's shape {tuple(x.shape)}, got {tuple(missing_mask.shape)}")
        m = self.means.to(dtype)
        if self.config.likelihood == "bernoulli":  # x log p + (1 - x) log(1 - p), summed over observed pixels
            ll = (obs * xf) @ m.log().T + (obs * (1 - xf)) @ torch.log1p(-m).T
        else:
            v = self.variances.to(dtype)  # -(x - m)^2 / 2v - (log v + log 2 pi) / 2, expanded as matrix products
            quad = (obs * xf * xf) @ (1 / v).T - 2 * (obs * xf) @ (m / v).T + obs @ (m * m / v).T
            ll = -0.5 * (quad + obs @ (v.log() + LOG_2PI).T)
        if self.config.components == 1:
            return ll
        joint = ll.view(ll.shape[0], self.num_classes, -1) + self.component_log_weights.to(dtype)
        return torch.logsumexp(joint, dim=2)  # log sum_c pi_yc p(x_obs | y, c)

    def class_log_joint(self, x: torch.Tensor, missing_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(b, K) log p(y) + log p(x_obs | y); the Bernoulli variant binarizes x at the threshold first."""
        xb = self.binarize(x) if self.config.likelihood == "bernoulli" else x
        return self.class_log_prior.to(exact_dtype(self.means.device)) + self.log_likelihoods(xb, missing_mask)

    def class_log_posterior(self, x: torch.Tensor, missing_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(b, K) log p(y | x_obs) by Bayes' rule, missing pixels marginalized out exactly."""
        return torch.log_softmax(self.class_log_joint(x, missing_mask), dim=1)

    def predict(self, x: torch.Tensor, missing_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(b,) the most probable class given the observed pixels."""
        return self.class_log_joint(x, missing_mask).argmax(1)

    # --- likelihood and samples -----------------------------------------------------------------
    def nll(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
            generator: torch.Generator | None = None) -> torch.Tensor:
        """(b,) nats: -log p(x | y) for a conditional model given labels, else -log sum_y p(y) p(x | y);
        x as given (binary pixels for the Bernoulli variant, grey levels read as probabilities otherwise)."""
        ll = self.log_likelihoods(x)
        if self.conditional and y is not None:
            out = ll.gather(1, self.labels_for(x.shape[0], y)[:, None]).squeeze(1)
        else:
            out = torch.logsumexp(ll + self.class_log_prior.to(ll.dtype), dim=1)
        return -out.to(x.dtype)

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None) -> Samples:
        """x ~ p(x | y): per class (every class in turn when cond is None), or y ~ p(y) first when unconditional;
        with latent classes, c ~ pi_y, then x ~ p(x | y, c)."""
        labels = self.labels_for(n, cond)
        y = labels if labels is not None else torch.multinomial(self.class_log_prior.exp(), n, replacement=True,
                                                                generator=generator)
        row = y
        if self.config.components > 1:
            c = torch.multinomial(self.component_log_weights.exp()[y], 1, generator=generator).squeeze(1)
            row = y * self.config.components + c
        m = self.means[row]
        if self.config.likelihood == "bernoulli":
            u = torch.rand(m.shape, generator=generator, device=m.device, dtype=m.dtype)
            x = (u < m).to(m.dtype)
        else:
            x = m + self.variances[row].sqrt() * gaussian_noise(n, m.shape[1], m, generator)
        return Samples(as_images(x, self.shape), labels)

    def class_means(self) -> torch.Tensor:
        """(K, c, h, w) E[x | y] = sum_c pi_yc E[x | y, c] as images: pixel probabilities or mean grey levels."""
        if self.config.components == 1:
            return as_images(self.means, self.shape)
        weights = self.component_log_weights.exp().to(self.means.dtype)
        return as_images(torch.einsum("kc,kcd->kd", weights, self.means.view(*weights.shape, -1)), self.shape)

    def basis_images(self) -> torch.Tensor:
        """What to draw for this model: the class means."""
        return self.class_means()
