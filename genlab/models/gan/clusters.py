"""Self-conditioning of an unconditional GAN on clusters of its training images (Liu et al. 2020, "Diverse
Image Generation via Self-Conditioned GANs"; they cluster D's features, this module clusters pixels).

Before training, k-means splits the training images into k clusters in the space of their top principal
components. G and D are then conditioned on an image's cluster the way a cgan is on its class, and the
GAN stays unconditional for its users: the cluster of a sample is read off the first latent coordinate,

    c(z) = the cluster whose band of [0, 1] holds Phi(z_1),   band widths = the clusters' shares,

so z ~ N(0, I) draws every cluster with its share of the training images and G(z) stays a function of z
alone. A GAN tends to over-draw the modes it renders well and under-draw the rest; tied to the data's
cluster shares, it cannot drift far from them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

PCA_DIMS = 32  # principal components the clusters live in
FIT_IMAGES = 20000  # at most this many training images (a seeded random subset) are clustered


class ClusterMap(nn.Module):
    """k clusters of images (c, h, w): the projection, the centroids and the clusters' shares, as buffers
    (saved with the model)."""

    def __init__(self, k: int, shape: tuple[int, int, int]):
        super().__init__()
        d = math.prod(shape)
        self.k, self.dims = k, min(PCA_DIMS, d)
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("basis", torch.zeros(d, self.dims))
        self.register_buffer("centroids", torch.zeros(k, self.dims))
        self.register_buffer("share", torch.zeros(k))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fit(self, images: torch.Tensor, seed: int = 0) -> None:
        """k-means (scikit-learn) on the images (n, c, h, w) projected on their top principal components."""
        from sklearn.cluster import KMeans

        n = images.shape[0]
        if n < self.k:
            raise ValueError(f"clusters={self.k} needs at least {self.k} training images, got {n}; "
                             "use fewer clusters")
        g = torch.Generator().manual_seed(seed)
        x = images[torch.randperm(n, generator=g)[:FIT_IMAGES]].flatten(1).float().cpu()
        mean = x.mean(0)
        dims = min(self.dims, x.shape[0])
        _, _, v = torch.pca_lowrank(x - mean, q=dims, center=False, niter=4)
        basis = torch.zeros_like(self.basis, device="cpu")
        basis[:, :dims] = v[:, :dims]
        proj = (x - mean) @ basis
        km = KMeans(self.k, n_init=3, random_state=seed).fit(proj.numpy())
        counts = torch.bincount(torch.as_tensor(km.labels_, dtype=torch.long), minlength=self.k).float()
        for name, value in (("mean", mean), ("basis", basis), ("share", counts / counts.sum()),
                            ("centroids", torch.as_tensor(km.cluster_centers_, dtype=torch.float32))):
            getattr(self, name).copy_(value)
        self.fitted.fill_(True)

    def check(self) -> None:
        if not bool(self.fitted):
            raise ValueError("this GAN conditions on clusters of its training images (clusters > 0), which are "
                             "not fitted yet: call model.prepare(data) first (the trainer does, on a fresh run)")

    def assign(self, images: torch.Tensor) -> torch.Tensor:
        """The nearest centroid of each image (b, c, h, w) in [0, 1]: (b,) cluster indices."""
        self.check()
        proj = (images.flatten(1).float() - self.mean) @ self.basis
        return torch.cdist(proj, self.centroids).argmin(1)

    def bands(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, high) ends of each cluster's band of [0, 1], (k,) each."""
        high = self.share.cumsum(0)
        return high - self.share, high

    def of_latent(self, z1: torch.Tensor) -> torch.Tensor:
        """c(z): the cluster of each first latent coordinate z1 (b,)."""
        self.check()
        u = 0.5 * (1.0 + torch.erf(z1.float() / math.sqrt(2.0)))
        return torch.searchsorted(self.bands()[1], u.contiguous(), right=True).clamp(max=self.k - 1)

    def latent_for(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """First latent coordinates z1 (b,) with c(z1) = y: N(0, 1) restricted to cluster y's band."""
        self.check()
        low, _ = self.bands()
        u = low[y] + torch.rand(y.shape[0], generator=generator, device=y.device) * self.share[y]
        u = u.clamp(1e-6, 1.0 - 1e-6)
        return math.sqrt(2.0) * torch.erfinv(2.0 * u - 1.0)


__all__ = ["ClusterMap"]
