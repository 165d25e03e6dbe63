"""A Gaussian mixture over a deterministic autoencoder's codes, fitted once training ends, to sample from.

A plain autoencoder has no prior, so decoding z ~ N(0, I), or a diagonal Gaussian of the codes' moments,
lands mostly between the regions its decoder learnt: blurry strokes, few legible digits. Ghosh et al. (2020,
"From variational to deterministic autoencoders") fit a 10-component full-covariance Gaussian mixture to the
training codes after training ("ex-post density estimation") and sample from that; their FIDs come close to
a VAE's. genlab does the same at the end of every `ae`, `dae` and `cae` run (`GenerativeModel.finish`).

Notation: z (n, D) codes; with D > max_dims (a compressive autoencoder's latent maps, D = C h' w') the mixture
lives on the q = max_dims leading principal components, z ~ c + U^T u with u ~ sum_k pi_k N(m_k, L_k L_k^T)
and U (q, D) orthonormal rows; otherwise U = I and c = 0. EM is scikit-learn's GaussianMixture.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

FIT_IMAGES = 10_000  # training images encoded for the fit (a seeded random subset)
COMPONENTS = 10  # Ghosh et al.'s choice
MAX_DIMS = 64  # codes wider than this are fitted on their leading principal components


class CodePrior(nn.Module):
    """sum_k pi_k N(m_k, L_k L_k^T) over (a principal subspace of) D-dimensional codes; unfitted until `fit`.

    Args:
        dim: D, the code size.
        components: K.
        max_dims: q, the largest space the mixture is fitted in (PCA above it).
    """

    def __init__(self, dim: int, components: int = COMPONENTS, max_dims: int = MAX_DIMS):
        super().__init__()
        q = min(dim, max_dims)
        self.dim, self.components, self.subspace = dim, components, q < dim
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("log_weights", torch.full((components,), -float(np.log(components))))
        self.register_buffer("means", torch.zeros(components, q))
        self.register_buffer("scale_tril", torch.eye(q).expand(components, q, q).clone())
        self.register_buffer("center", torch.zeros(dim))
        self.register_buffer("basis", torch.eye(q, dim))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Runs saved before the prior existed have none of its buffers: they load as "not fitted".
        for name, buf in self.named_buffers():
            state_dict.setdefault(prefix + name, buf.clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def fit(self, z: torch.Tensor, seed: int = 0) -> dict:
        """EM on the (n, D) codes z; returns {"components", "dims", "iterations", "converged"}."""
        from sklearn.decomposition import PCA
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"the code prior fits (n, {self.dim}) codes, got shape {tuple(z.shape)}")
        if z.shape[0] < 2 * self.components:
            raise ValueError(f"the code prior needs >= {2 * self.components} codes to fit {self.components} "
                             f"components, got {z.shape[0]}")
        x = z.detach().double().cpu().numpy()
        if self.subspace:
            with threadpool_limits(limits=1):
                pca = PCA(self.means.shape[1], random_state=seed).fit(x)
            self.center.copy_(torch.from_numpy(pca.mean_))
            self.basis.copy_(torch.from_numpy(pca.components_))
            x = (x - pca.mean_) @ pca.components_.T
        spread = float(x.var(0).mean())
        if not spread > 1e-12:
            raise ValueError("the codes have no spread (every image has the same code)")
        with threadpool_limits(limits=1), warnings.catch_warnings():  # small products: BLAS threads only wait for
            warnings.simplefilter("ignore", ConvergenceWarning)  # each other (10x slower on a busy 2-core machine)
            gm = GaussianMixture(self.components, covariance_type="full", reg_covar=1e-4 * spread, max_iter=200,
                                 random_state=seed).fit(x)  # reg_covar relative to the codes' scale
        self.log_weights.copy_(torch.from_numpy(np.log(gm.weights_)))
        self.means.copy_(torch.from_numpy(gm.means_))
        self.scale_tril.copy_(torch.from_numpy(np.linalg.cholesky(gm.covariances_)))
        self.fitted.fill_(True)
        return {"components": self.components, "dims": int(self.means.shape[1]), "iterations": int(gm.n_iter_),
                "converged": float(gm.converged_)}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, D) codes: a component by its weight, then its Gaussian."""
        k = torch.multinomial(self.log_weights.exp(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.means.shape[1], generator=generator, device=self.means.device)
        u = self.means[k] + torch.einsum("nij,nj->ni", self.scale_tril[k], eps)
        return self.center + u @ self.basis


def fit_code_prior(prior: CodePrior, encode, data, device: torch.device) -> dict:
    """`prior.fit` on the codes of the training images, for a model's `finish`: its figures, "code_prior_" first.
    Fewer images than twice the components leave the prior unfitted; codes EM cannot fit (a collapsed encoder
    gives one point) do too, with a one-line warning. `sample` then keeps the model's fallback."""
    import time

    t0 = time.perf_counter()
    if len(data) < 2 * prior.components:
        return {"code_prior_fitted": 0.0}
    try:
        info = prior.fit(training_codes(encode, data, device))
    except ValueError as e:  # scikit-learn's: a singular covariance even after regularization, and the like
        warnings.warn(f"the code prior could not be fitted ({str(e).splitlines()[0]}); samples come from the "
                      "fallback prior", stacklevel=2)
        return {"code_prior_fitted": 0.0}
    return {"code_prior_fitted": 1.0} | {f"code_prior_{k}": v for k, v in info.items()} | {
        "code_prior_seconds": round(time.perf_counter() - t0, 2)}


@torch.no_grad()
def training_codes(encode, data, device: torch.device, n: int = FIT_IMAGES, batch: int = 500,
                   seed: int = 0) -> torch.Tensor:
    """(min(n, len(data)), D) codes `encode(x)` of a seeded random subset of the training images (on the CPU)."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[:n]
    return torch.cat([encode(data.images(idx[i:i + batch]).to(device)).float().flatten(1).cpu()
                      for i in range(0, len(idx), batch)])


__all__ = ["CodePrior", "fit_code_prior", "training_codes"]
