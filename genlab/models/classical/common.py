"""What the classical families share: pixels as scikit-learn arrays, the variance floor, seeds, and exact
Gaussian log-densities computed in torch from the fitted arrays.

Notation: D pixels (c * h * w), q latent dimensions, x in [0, 1]^D. The likelihoods are densities of
uniformly dequantized 8-bit pixels, y = (k + u) / 256 with u ~ U[0, 1) (Theis et al. 2016), as
`genlab.eval.likelihood` scores them. For such data
    E[y] = (k + 1/2) / 256        Cov[y] = Cov[k / 256] + I / (12 * 256^2),
so a Gaussian family is fitted on the bin centres (k + 1/2) / 256 and gets the dequantization variance
1 / (12 * 256^2) ~ 1.27e-6 (`DEQUANT_VARIANCE`) added to every pixel's variance: the Gaussian that matches
the mean and covariance of the dequantized data. That is also the variance floor: a pixel that is
constant in the training set (MNIST's borders) gets exactly this variance, the smallest one the
evaluation data justifies, and its density stays finite.

Fitted arrays are stored as float32 buffers in forms that stay valid after rounding (a low-rank factor
and a positive diagonal; Cholesky factors of covariances), and every log-density is computed in float64
from them, so the likelihood is exact for the stored model.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

DEQUANT_VARIANCE = 1.0 / (12.0 * 256.0 ** 2)


@contextmanager
def blas_threads() -> Iterator[None]:
    """Limit scikit-learn's BLAS and OpenMP threads to torch's thread count (TrainConfig.threads), so one
    setting governs both; a context manager, or a decorator (`@blas_threads()`). On a busy 2-core machine,
    OpenBLAS threads waiting for each other at every small matrix product made a 1.8k-image GMM fit 70x
    slower with 2 threads (33 s) than with 1 (0.5 s)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=torch.get_num_threads()):
        yield


def pixel_count(shape: tuple[int, ...]) -> int:
    """D = c * h * w."""
    return int(math.prod(shape))


def pixels_of(shape: tuple[int, ...]) -> str:
    """'pixels of a 1x28x28 image', for the messages of check_at_most."""
    return "pixels of a " + "x".join(map(str, shape)) + " image"


def check_at_most(option: str, value: int, limit: int, what: str) -> None:
    """One-line ValueError when an option asks for more than the data has (e.g. components > pixels)."""
    if value > limit:
        raise ValueError(f"{option}={value} exceeds the {limit} {what}; choose {option} <= {limit}")


def bin_centres(data: Any) -> np.ndarray:
    """(n, D) float64 bin centres (k + 1/2) / 256 of 8-bit images: the mean of their dequantized values."""
    return (data.x.detach().cpu().flatten(1).double().numpy() + 0.5) / 256.0


def grey_levels(data: Any) -> np.ndarray:
    """(n, D) float64 grey levels k / 255 in [0, 1], as `ImageData.images` gives them."""
    return data.x.detach().cpu().flatten(1).double().numpy() / 255.0


def class_labels(data: Any, family: str) -> np.ndarray:
    """(n,) int64 labels, or a one-line ValueError for unlabelled data."""
    y = data.labels()
    if y is None:
        raise ValueError(f"a {family} model needs labelled images; choose a labelled dataset")
    return y.detach().cpu().numpy().astype(np.int64)


def check_examples(family: str, n: int, needed: int, what: str, option: str) -> None:
    """One-line ValueError when there are fewer training examples than the fit needs, naming the option to lower."""
    if n < needed:
        raise ValueError(f"a {family} model with {what} needs at least {needed} training images, got {n}: choose "
                         f"--{option.replace('_', '-')} {n} or fewer, or train on more images")


def moment_rows(x: np.ndarray, extra_variance: float = 0.0) -> np.ndarray:
    """(2D, D) rows with exactly the mean of x (n, D) and its covariance (1/n) plus extra_variance * I: the
    sufficient statistics of a Gaussian model (factor analysis), in 2D rows instead of n. With
    cov + extra I = sum_i lambda_i v_i v_i^T, the rows are mean +- sqrt(D lambda_i) v_i."""
    mean = x.mean(0)
    r = x - mean
    cov = r.T @ r / x.shape[0] + extra_variance * np.eye(x.shape[1])
    lam, v = np.linalg.eigh(cov)
    half = (v * np.sqrt(x.shape[1] * np.clip(lam, 0.0, None))).T  # (D, D), row i = sqrt(D lambda_i) v_i
    return mean + np.concatenate([half, -half])


def seed_from(generator: torch.Generator | None) -> int:
    """A scikit-learn random_state drawn from the torch generator (torch's global RNG when None)."""
    device = generator.device if generator is not None else "cpu"
    return int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator, device=device).item())


def put(buffer: torch.Tensor, array: np.ndarray) -> None:
    """Copy a fitted numpy array into a registered buffer (its shape must match)."""
    value = torch.as_tensor(np.array(array, dtype=np.float64), dtype=buffer.dtype)  # a copy: no negative strides
    if tuple(value.shape) != tuple(buffer.shape):
        raise ValueError(f"fitted array of shape {tuple(value.shape)} does not fit a buffer of {tuple(buffer.shape)}")
    buffer.copy_(value.to(buffer.device))


def exact_dtype(device: torch.device) -> torch.dtype:
    """float64 for the log-densities, except on Apple's MPS, which has none."""
    return torch.float32 if device.type == "mps" else torch.float64


def flat(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(b, c, h, w) -> (b, D) in `dtype`."""
    return x.reshape(x.shape[0], -1).to(dtype)


def low_rank_normal(mean: torch.Tensor, factors: torch.Tensor, psi: torch.Tensor,
                    dtype: torch.dtype) -> torch.distributions.LowRankMultivariateNormal:
    """N(mean, W^T W + diag(psi)) for W = factors (q, D): PPCA and factor analysis (Tipping & Bishop 1999;
    Bishop 2006, sec. 12.2.4), log-density by the Woodbury identity and the matrix determinant lemma; a batch of
    them for mean (G, D) and factors (G, q, D)."""
    d = mean.shape[-1]
    return torch.distributions.LowRankMultivariateNormal(
        mean.to(dtype), factors.to(dtype).transpose(-1, -2), psi.to(dtype).expand(d), validate_args=False)


def gaussian_noise(n: int, d: int, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(n, d) standard normal draws on `like`'s device and dtype."""
    return torch.randn(n, d, generator=generator, device=like.device, dtype=like.dtype)


def as_images(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """(b, D) -> (b, c, h, w) float32 clamped to [0, 1]."""
    return x.float().clamp(0.0, 1.0).reshape(-1, *shape)


def unit_range(images: torch.Tensor) -> torch.Tensor:
    """Each image scaled so that its largest |value| maps to 0 or 1 and 0 to 1/2 (signed basis images for
    display: eigen-images, factors)."""
    peak = images.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, *([1] * (images.ndim - 1)))
    return 0.5 + 0.5 * images / peak
