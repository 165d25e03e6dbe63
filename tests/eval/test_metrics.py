"""Metrics against closed forms, scipy and torchmetrics references, and synthetic manifolds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.eval import metrics as M


def _gaussian(n, mean, cov_sqrt, seed):
    g = np.random.default_rng(seed)
    return mean + g.standard_normal((n, len(mean))) @ cov_sqrt.T


def _fid_scipy(a, b):
    """The pytorch-fid reference: scipy.linalg.sqrtm of the product."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_of_two_gaussians_matches_the_closed_form():
    # Stats given directly: N(m1, diag(a)) vs N(m2, diag(b)) -> |m1-m2|^2 + sum (sqrt(a) - sqrt(b))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert M.fid_from_stats(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    # Non-commuting covariances: rotate one of them; check against the eigen-free formula for 2x2.
    r = np.array([[math.cos(0.7), -math.sin(0.7)], [math.sin(0.7), math.cos(0.7)]])
    s1, s2 = np.diag([1.0, 3.0]), r @ np.diag([2.0, 0.5]) @ r.T
    # tr sqrt(M) for a 2x2 M with real positive eigenvalues = sqrt(tr M + 2 sqrt(det M)).
    prod = s1 @ s2
    tr_sqrt = math.sqrt(np.trace(prod) + 2 * math.sqrt(np.linalg.det(prod)))
    assert M.trace_sqrt_product(s1, s2) == pytest.approx(tr_sqrt, rel=1e-12)


def test_fid_of_samples_approaches_the_population_value():
    d = 4
    x = _gaussian(20000, np.zeros(d), np.eye(d), 0)
    y = _gaussian(20000, np.full(d, 0.5), np.eye(d) * 2.0, 1)
    expected = d * 0.25 + d * (1.0 - 2.0) ** 2  # |dm|^2 + sum (1 - 2)^2
    assert M.fid(x, y) == pytest.approx(expected, rel=0.03)


def test_fid_equals_scipy_sqrtm_reference():
    g = np.random.default_rng(0)
    a = g.standard_normal((500, 32)) @ g.standard_normal((32, 32))
    b = g.standard_normal((400, 32)) @ g.standard_normal((32, 32)) + 0.3
    assert M.fid(a, b) == pytest.approx(_fid_scipy(a, b), rel=1e-4)
    assert M.fid(torch.tensor(a), torch.tensor(b)) == pytest.approx(M.fid(a, b), rel=1e-12)


def test_fid_and_kid_agree_with_torchmetrics_on_given_features():
    torchmetrics = pytest.importorskip("torchmetrics")
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    class Identity(torch.nn.Module):
        num_features = 16

        def forward(self, x):
            return x

    g = torch.Generator().manual_seed(0)
    a = torch.randn(300, 16, generator=g, dtype=torch.float64)
    b = torch.randn(300, 16, generator=g, dtype=torch.float64) * 1.3 + 0.2
    tm = FrechetInceptionDistance(feature=Identity(), normalize=True)
    tm.update(a, real=True)
    tm.update(b, real=False)
    assert M.fid(a, b) == pytest.approx(float(tm.compute()), rel=1e-6)
    # KID with one subset of all samples is permutation invariant, so both must agree exactly.
    kt = KernelInceptionDistance(feature=Identity(), subsets=1, subset_size=300, normalize=True)
    kt.update(a, real=True)
    kt.update(b, real=False)
    mean, _ = M.kid(a, b, subset_size=300, subsets=1)
    assert mean == pytest.approx(float(kt.compute()[0]), rel=1e-6)
    assert torchmetrics.__version__


def test_kid_is_unbiased_for_one_distribution():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 8, generator=g)
    y = torch.randn(4000, 8, generator=g)
    mean, std = M.kid(x, y, subset_size=200, subsets=200, generator=torch.Generator().manual_seed(1))
    # Unbiased: the mean over subsets is within a few standard errors of 0 (a biased MMD^2 would be
    # > 0 by about 2 E[k(x,x)] / m, far above this bound).
    assert abs(mean) < 3 * std / math.sqrt(200) + 1e-6
    shifted, _ = M.kid(x, y + 0.5, subset_size=200, subsets=50, generator=torch.Generator().manual_seed(1))
    assert shifted > 20 * std / math.sqrt(200)


def test_kid_subset_size_adapts_and_validates():
    assert M.kid_subset_size(10000, 10000) == 1000
    assert M.kid_subset_size(300, 5000) == 300
    with pytest.raises(ValueError, match="subset_size"):
        M.kid(torch.randn(10, 3), torch.randn(10, 3), subset_size=11)


def test_inception_score_extremes_and_input_forms():
    k = 10
    one_hot = torch.eye(k).repeat(50, 1)  # confident and balanced -> IS = k
    assert M.inception_score(one_hot, splits=5)[0] == pytest.approx(k, rel=1e-6)
    uniform = torch.full((500, k), 1.0 / k)  # no information -> IS = 1
    assert M.inception_score(uniform, splits=5)[0] == pytest.approx(1.0, abs=1e-9)
    logits = torch.randn(500, k, generator=torch.Generator().manual_seed(0)) * 3
    a = M.inception_score(logits, splits=5)
    b = M.inception_score(torch.softmax(logits, 1), splits=5)
    assert a[0] == pytest.approx(b[0], rel=1e-6) and a[1] == pytest.approx(b[1], rel=1e-5)


def test_class_accuracy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    assert M.class_accuracy(logits, torch.tensor([0, 1, 1, 1])) == 0.75
    with pytest.raises(ValueError, match="labels"):
        M.class_accuracy(logits, torch.tensor([0, 1]))


def test_precision_recall_exact_on_a_line():
    # Real points 0,1,2,3 (k=1 radius 1 each) cover [-1, 4]; fakes at 0.5 (in) and 10 (out).
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    fake = torch.tensor([[0.5], [10.0], [10.5]])  # fake radii (k=1): 9.5, 0.5, 0.5
    p, r = M.precision_recall(real, fake, k=1)
    assert p == pytest.approx(1 / 3)
    assert r == 1.0  # the 0.5 fake's ball (radius 9.5) holds every real point
    d, c = M.density_coverage(real, fake, k=1)
    assert d == pytest.approx(2 / 3)  # 0.5 lies in the balls of 0 and 1 -> 2 / (k M) = 2/3
    assert c == pytest.approx(2 / 4)  # real 0 and 1 have a fake inside their ball


def test_precision_recall_on_overlapping_squares():
    # Real uniform on [0,1]^2, fake uniform on [0.5,1.5]x[0,1]: half of each lies in the other.
    g = torch.Generator().manual_seed(0)
    real = torch.rand(3000, 2, generator=g)
    fake = torch.rand(3000, 2, generator=g) + torch.tensor([0.5, 0.0])
    p, r = M.precision_recall(real, fake, k=3)
    assert p == pytest.approx(0.5, abs=0.04) and r == pytest.approx(0.5, abs=0.04)
    same = torch.rand(3000, 2, generator=g)
    d, c = M.density_coverage(real, same, k=5)
    assert d == pytest.approx(1.0, abs=0.1) and c > 0.95  # density ~1 for one distribution
    far = M.manifold_metrics(real, real + 10.0)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_psnr_and_ssim():
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x_hat = (x + 0.1).clamp(0, 1)
    err = (x_hat - x).pow(2).flatten(1).mean(1).double()
    assert torch.allclose(M.psnr(x_hat, x), 10 * torch.log10(1 / err))
    assert torch.allclose(M.ssim(x, x), torch.ones(3, dtype=torch.float64))
    noisy = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert (M.ssim(noisy, x) < M.ssim(x_hat, x)).all()
    with pytest.raises(ValueError, match="one shape"):
        M.ssim(x[:, :, :10], x)


def test_ssim_window_says_what_small_images_get():
    assert [M.ssim_window(s, s) for s in (28, 11, 10, 8, 3)] == [11, 11, 9, 7, 3]
    assert M.ssim_note(28, 28) == "11x11 Gaussian window (sigma 1.5)"
    assert M.ssim_note(8, 8) == "7x7 Gaussian window (sigma 1.5; 11x11 shrunk to fit 8x8 images)"
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = (x + 0.2).clamp(0, 1)
    assert torch.allclose(M.ssim(y, x), M.ssim(y, x, window=7))  # the 7x7 window is what 8x8 images get


def test_ssim_matches_torchmetrics_on_the_valid_region():
    # torchmetrics averages the SSIM map over a reflect-padded image; Wang et al. (and scikit-image)
    # average only where the 11x11 window lies inside the image, which is what genlab does.
    pytest.importorskip("torchmetrics")
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28, generator=g, dtype=torch.float64)
    y = (x + 0.2 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    _, full = tm_ssim(y, x, data_range=1.0, return_full_image=True)
    ref = full[..., 5:-5, 5:-5].flatten(1).mean(1)
    assert torch.allclose(M.ssim(y, x), ref, rtol=1e-6)


def test_feature_shape_errors_are_clear():
    with pytest.raises(ValueError, match="dimension"):
        M.fid(torch.randn(10, 3), torch.randn(10, 4))
    with pytest.raises(ValueError, match="2-D"):
        M.fid(torch.randn(10), torch.randn(10))
