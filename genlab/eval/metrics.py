"""Sample-quality metrics on feature vectors, and reconstruction metrics on images.

Notation: X = real features (N, d), Y = generated features (M, d), rows are samples.
- FID (Heusel et al. 2017): ||mu_X - mu_Y||^2 + tr(S_X + S_Y - 2 (S_X S_Y)^(1/2)), Gaussians fitted with
  the unbiased covariance (as pytorch-fid and torchmetrics do).
- KID (Binkowski et al. 2018): unbiased MMD^2 with the cubic kernel k(a, b) = (a.b / d + 1)^3, averaged
  over random subsets of m samples from each side; (mean, std over subsets).
- Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))) over `splits` chunks.
- Improved precision and recall (Kynkaanniemi et al. 2019): the real (resp. generated) manifold is the
  union of balls around each sample with radius its distance to its k-th nearest neighbour; precision
  is the fraction of generated samples inside the real manifold, recall the fraction of real samples
  inside the generated one.
- Density and coverage (Naeem et al. 2020): density = (1 / kM) sum_j sum_i 1[Y_j in B(X_i, r_i)],
  coverage = (1 / N) sum_i 1[some Y_j in B(X_i, r_i)], with r_i the k-NN radius of X_i among X.
Inputs may be torch tensors or numpy arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def _t32(a: Any) -> torch.Tensor:
    t = a.detach().cpu() if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    if t.ndim != 2:
        raise ValueError(f"features must be a 2-D (n, d) array, got shape {tuple(t.shape)}")
    return t.float().contiguous()


def _check_pair(real: Any, fake: Any, min_n: int = 2) -> None:
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real and generated features differ in dimension: {real.shape[1]} vs {fake.shape[1]}")
    if real.shape[0] < min_n or fake.shape[0] < min_n:
        raise ValueError(f"need at least {min_n} real and {min_n} generated samples, got {real.shape[0]} "
                         f"and {fake.shape[0]}")


# --- FID --------------------------------------------------------------------------------------------
def _t64(a: Any) -> torch.Tensor:
    t = a.detach().cpu() if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))
    return t.double()


def gaussian_stats(feats: Any) -> tuple[np.ndarray, np.ndarray]:
    """(mu (d,), sigma (d, d)) in float64, sigma the unbiased sample covariance."""
    f = _t64(feats)
    if f.ndim != 2:
        raise ValueError(f"features must be a 2-D (n, d) array, got shape {tuple(f.shape)}")
    if f.shape[0] < 2:
        raise ValueError(f"need at least 2 samples for a covariance, got {f.shape[0]}")
    mu = f.mean(0)
    c = f - mu
    return mu.numpy(), (c.T @ c / (f.shape[0] - 1)).numpy()


def trace_sqrt_product(sigma1: Any, sigma2: Any) -> float:
    """tr((S1 S2)^(1/2)) for symmetric PSD S1, S2: the eigenvalues of S1 S2 equal those of the symmetric
    PSD matrix S1^(1/2) S2 S1^(1/2), so this needs only two `eigh` calls (stable, no complex parts)."""
    s1, s2 = _t64(sigma1), _t64(sigma2)
    e1, v1 = torch.linalg.eigh(s1)
    sq1 = (v1 * e1.clamp_min(0.0).sqrt()) @ v1.T  # S1^(1/2)
    m = sq1 @ s2 @ sq1
    ev = torch.linalg.eigvalsh((m + m.T) / 2.0)
    return float(ev.clamp_min(0.0).sqrt().sum())


def fid_from_stats(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = _t64(mu1).reshape(-1), _t64(mu2).reshape(-1)
    sigma1, sigma2 = torch.atleast_2d(_t64(sigma1)), torch.atleast_2d(_t64(sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics differ in shape: {tuple(mu1.shape)}/{tuple(sigma1.shape)} vs "
                         f"{tuple(mu2.shape)}/{tuple(sigma2.shape)}")
    diff = mu1 - mu2
    value = float(diff @ diff + sigma1.trace() + sigma2.trace()) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return float(max(value, 0.0))


def fid(real_feats: Any, fake_feats: Any) -> float:
    """FID between two sets of features (N, d) and (M, d)."""
    r, f = _t64(real_feats), _t64(fake_feats)
    if r.ndim != 2 or f.ndim != 2:
        raise ValueError(f"features must be 2-D (n, d) arrays, got shapes {tuple(r.shape)} and {tuple(f.shape)}")
    _check_pair(r, f)
    return fid_from_stats(*gaussian_stats(r), *gaussian_stats(f))


# --- KID --------------------------------------------------------------------------------------------
def kid_subset_size(n_real: int, n_fake: int, cap: int = 1000) -> int:
    """The subset size used when none is given: 1000, or fewer when there are fewer samples."""
    return max(2, min(cap, n_real, n_fake))


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 with the cubic kernel; kernels in the inputs' dtype, sums in float64."""
    d = x.shape[1]
    m = x.shape[0]
    kxx = (x @ x.T / d + 1.0).pow_(3)
    kyy = (y @ y.T / d + 1.0).pow_(3)
    kxy = (x @ y.T / d + 1.0).pow_(3)
    f64 = torch.float64
    sxx = (kxx.sum(dtype=f64) - kxx.diagonal().sum(dtype=f64)) / (m * (m - 1))
    syy = (kyy.sum(dtype=f64) - kyy.diagonal().sum(dtype=f64)) / (m * (m - 1))
    return float(sxx + syy - 2.0 * kxy.sum(dtype=f64) / (m * m))


def kid(real_feats: Any, fake_feats: Any, *, subset_size: int | None = None, subsets: int = 100,
        generator: torch.Generator | None = None) -> tuple[float, float]:
    """Kernel Inception Distance: (mean, std) of the unbiased MMD^2 over `subsets` random subsets of
    `subset_size` samples (without replacement) from each side; subset_size defaults to
    min(1000, N, M). Unbiased: its expectation is 0 when both sets come from one distribution.
    Kernel matrices are computed in float64 when either input is float64, else in float32 (sums in
    float64 either way)."""
    exact = any(isinstance(a, torch.Tensor) and a.dtype == torch.float64 or
                isinstance(a, np.ndarray) and a.dtype == np.float64 for a in (real_feats, fake_feats))
    # float64 in, float64 kernels; float32 features (the usual case) use float32 kernels
    x, y = (_t64(real_feats), _t64(fake_feats)) if exact else (_t32(real_feats), _t32(fake_feats))
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"features must be 2-D (n, d) arrays, got shapes {tuple(x.shape)} and {tuple(y.shape)}")
    _check_pair(x, y)
    m = subset_size or kid_subset_size(x.shape[0], y.shape[0])
    if not 2 <= m <= min(x.shape[0], y.shape[0]):
        raise ValueError(f"subset_size must be in [2, {min(x.shape[0], y.shape[0])}] (the smaller sample "
                         f"count), got {m}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    values = []
    for _ in range(subsets):
        ix = torch.randperm(x.shape[0], generator=generator)[:m]
        iy = torch.randperm(y.shape[0], generator=generator)[:m]
        values.append(_mmd2_unbiased(x[ix], y[iy]))
    v = np.asarray(values)
    return float(v.mean()), float(v.std())


# --- Inception Score and accuracy ------------------------------------------------------------------
def _as_probs(logits_or_probs: Any) -> torch.Tensor:
    t = _t32(logits_or_probs).double()
    in_range = bool((t >= 0).all() and (t <= 1).all())
    is_probs = in_range and bool(torch.allclose(t.sum(1), torch.ones(t.shape[0], dtype=t.dtype), atol=1e-4))
    return t / t.sum(1, keepdim=True) if is_probs else torch.softmax(t, dim=1)


def inception_score(logits_or_probs: Any, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over `splits` chunks of exp(E_x KL(p(y|x) || p(y))). Rows that are non-negative and
    sum to 1 are read as probabilities, anything else as logits."""
    p = _as_probs(logits_or_probs)
    n = p.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"splits must be in [1, {n}] (the number of samples), got {splits}")
    scores = []
    for chunk in torch.tensor_split(p, splits):
        py = chunk.mean(0, keepdim=True)
        kl = (chunk * (torch.log(chunk.clamp_min(1e-12)) - torch.log(py.clamp_min(1e-12)))).sum(1)
        scores.append(math.exp(float(kl.mean())))
    s = np.asarray(scores)
    return float(s.mean()), float(s.std())


def class_accuracy(logits: Any, labels: Any) -> float:
    """Fraction of rows whose argmax equals the label (accuracy of class-conditional samples)."""
    lg = _t32(logits)
    lab = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)).long().view(-1)
    if lab.shape[0] != lg.shape[0]:
        raise ValueError(f"{lg.shape[0]} rows of logits but {lab.shape[0]} labels")
    return float((lg.argmax(1) == lab).double().mean()) if lab.numel() else float("nan")


# --- k-NN manifolds ---------------------------------------------------------------------------------
_CHUNK = 2048


def knn_radii(x: torch.Tensor, k: int | tuple[int, ...]) -> torch.Tensor:
    """Distance of each row of x to its k-th nearest other row; (n,) for an int k, (n, len(k)) for a tuple."""
    ks = (k,) if isinstance(k, int) else tuple(k)
    kmax = max(ks)
    if not 1 <= min(ks) or kmax >= x.shape[0]:
        raise ValueError(f"k must be in [1, {x.shape[0] - 1}] (samples - 1), got {k}")
    out = []
    for i in range(0, x.shape[0], _CHUNK):
        d = torch.cdist(x[i:i + _CHUNK], x)  # (c, n)
        vals = d.topk(kmax + 1, dim=1, largest=False).values  # column 0 is the point itself
        out.append(vals[:, list(ks)])
    r = torch.cat(out)
    return r[:, 0] if isinstance(k, int) else r


def manifold_metrics(real: Any, fake: Any, *, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """Precision, recall (k_pr) and density, coverage (k_dc) from one pass over the distance matrices."""
    x, y = _t32(real), _t32(fake)
    _check_pair(x, y, min_n=max(k_pr, k_dc) + 1)
    r_x = knn_radii(x, (k_pr, k_dc))  # (N, 2)
    r_x_pr, r_x_dc = r_x[:, 0], r_x[:, 1]
    r_y = knn_radii(y, k_pr)  # (M,)
    in_real = torch.zeros(y.shape[0], dtype=torch.bool)
    density_count = torch.zeros(y.shape[0], dtype=torch.float64)
    covered = torch.zeros(x.shape[0], dtype=torch.bool)
    recalled = torch.zeros(x.shape[0], dtype=torch.bool)
    for j in range(0, y.shape[0], _CHUNK):
        d = torch.cdist(y[j:j + _CHUNK], x)  # (c, N): generated rows, real columns
        in_real[j:j + _CHUNK] = (d <= r_x_pr[None]).any(1)
        inside_dc = d <= r_x_dc[None]
        density_count[j:j + _CHUNK] = inside_dc.float().sum(1).double()  # float sums beat bool sums here
        covered |= inside_dc.any(0)
        recalled |= (d <= r_y[j:j + _CHUNK, None]).any(0)
    return {"precision": float(in_real.double().mean()), "recall": float(recalled.double().mean()),
            "density": float(density_count.sum() / (k_dc * y.shape[0])),
            "coverage": float(covered.double().mean())}


def precision_recall(real: Any, fake: Any, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall with k-NN manifolds (Kynkaanniemi et al. 2019)."""
    m = manifold_metrics(real, fake, k_pr=k, k_dc=k)
    return m["precision"], m["recall"]


def density_coverage(real: Any, fake: Any, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020); density can exceed 1."""
    m = manifold_metrics(real, fake, k_pr=k, k_dc=k)
    return m["density"], m["coverage"]


# --- reconstruction ---------------------------------------------------------------------------------
def _check_images(x_hat: torch.Tensor, x: torch.Tensor) -> None:
    if x_hat.shape != x.shape or x.ndim != 4:
        raise ValueError(f"reconstructions and originals must both be (n, c, h, w) of one shape, got "
                         f"{tuple(x_hat.shape)} and {tuple(x.shape)}")


def mse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, (n,)."""
    _check_images(x_hat, x)
    return (x_hat.double() - x.double()).pow(2).flatten(1).mean(1)


def psnr(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, (n,): 10 log10(range^2 / MSE)."""
    return 10.0 * torch.log10(data_range ** 2 / mse(x_hat, x).clamp_min(1e-20))


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    a = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-a.pow(2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]  # (size, size)


def ssim_window(h: int, w: int, window: int = 11) -> int:
    """The side of the SSIM window used on h x w images: `window`, shrunk to the largest odd size that fits
    (11 on 28x28 images, 7 on 8x8)."""
    size = min(window, h, w)
    return size - (size + 1) % 2


def ssim_note(h: int, w: int, window: int = 11) -> str:
    """What the SSIM of h x w images was measured with, e.g. '7x7 Gaussian window (sigma 1.5; 11x11 shrunk
    to fit 8x8 images)'."""
    s = ssim_window(h, w, window)
    shrunk = f"; {window}x{window} shrunk to fit {h}x{w} images" if s != window else ""
    return f"{s}x{s} Gaussian window (sigma 1.5{shrunk})"


def ssim(x_hat: torch.Tensor, x: torch.Tensor, data_range: float = 1.0, window: int = 11,
         sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity per image, (n,) (Wang et al. 2004): Gaussian window (11, sigma 1.5, shrunk to
    the largest odd size that fits small images: `ssim_window`), K1 = 0.01, K2 = 0.03, 'valid' filtering,
    mean over the map and the channels."""
    _check_images(x_hat, x)
    _, c, h, w = x.shape
    size = ssim_window(h, w, window)
    kern = _gaussian_window(size, sigma).to(x.device)[None, None].repeat(c, 1, 1, 1)  # (c, 1, s, s)
    a, b = x_hat.double(), x.double()

    def filt(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(t, kern, groups=c)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = filt(a), filt(b)
    s_aa = filt(a * a) - mu_a ** 2
    s_bb = filt(b * b) - mu_b ** 2
    s_ab = filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * s_ab + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (s_aa + s_bb + c2)
    return (num / den).flatten(1).mean(1)


def reconstruction_metrics(x_hat: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    """Mean MSE, PSNR (dB) and SSIM over a batch of reconstructions in [0, 1]."""
    return {"mse": float(mse(x_hat, x).mean()), "psnr": float(psnr(x_hat, x).mean()),
            "ssim": float(ssim(x_hat, x).mean())}


__all__ = ["class_accuracy", "density_coverage", "fid", "fid_from_stats", "gaussian_stats",
           "inception_score", "kid", "kid_subset_size", "knn_radii", "manifold_metrics", "mse", "precision_recall",
           "psnr", "reconstruction_metrics", "ssim", "ssim_note", "ssim_window", "trace_sqrt_product"]
