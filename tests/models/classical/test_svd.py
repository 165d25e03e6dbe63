"""Checks of `svd`: the factors are the right singular vectors of the uncentred data, exact
reconstruction with every factor, its relation to PCA, bad options."""

from __future__ import annotations

import pytest
import torch

from genlab.config import ConfigError
from genlab.models import build_model
from tests.conftest import tiny_images
from tests.models.classical.helpers import fitted, one_line_error


def test_factors_are_the_right_singular_vectors_of_the_uncentred_data():
    data = tiny_images(64)
    model = fitted("svd", data=data, components=4, algorithm="arpack")
    x = data.images().flatten(1).double()
    _, s, vt = torch.linalg.svd(x, full_matrices=False)
    cos = (model.components.double() @ vt[:4].T).diagonal().abs()
    assert torch.allclose(cos, torch.ones(4, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(model.singular_values.double(), s[:4], rtol=1e-5)


def test_encode_decode_with_all_components_reconstructs_exactly():
    model = fitted("svd", n=100, components=64)
    x = tiny_images(8, seed=3).images()
    assert model.encode(x).shape == (8, 64)
    assert torch.allclose(model.decode(model.encode(x)), x, atol=1e-5)
    assert torch.allclose(model.reconstruct(x), x, atol=1e-5)


def test_the_first_factor_is_nearly_the_mean_image_and_the_next_ones_span_pca():
    """Uncentred SVD vs PCA: the first factor points at the mean image; the top q + 1 factors span (nearly)
    the mean and the top q principal directions."""
    data = tiny_images(200)
    svd, pca = fitted("svd", data=data, components=4), fitted("pca", data=data, components=3)
    mean = pca.mean / pca.mean.norm()
    assert (svd.components[0] @ mean).abs().item() > 0.95
    span = svd.components.double()  # orthonormal rows
    for u in pca.components.double():
        assert (span @ u).norm().item() > 0.9  # each principal direction lies (nearly) in the factors' span


def test_samples_from_the_gaussian_on_the_codes():
    model = fitted("svd", components=3)
    out = model.sample(6, generator=torch.Generator().manual_seed(0))
    assert out.x.shape == (6, 1, 8, 8) and out.y is None
    assert model.basis_images().shape == (3, 1, 8, 8)
    codes = model.encode(tiny_images(64).images())
    assert torch.allclose(codes.mean(0), model.code_mean, atol=1e-4)


def test_bad_options_give_one_line_errors():
    spec = tiny_images(4).spec
    with pytest.raises(ValueError) as e:
        build_model("svd", {"components": 65}, spec=spec)
    assert "components=65 exceeds the 64 pixels" in one_line_error(e)
    with pytest.raises(ValueError) as e:
        build_model("svd", {"components": 64, "algorithm": "arpack"}, spec=spec)
    assert "choose components <= 63" in one_line_error(e)
    with pytest.raises(ConfigError, match="unknown algorithm 'lapack'; valid: randomized, arpack"):
        build_model("svd", {"algorithm": "lapack"}, spec=spec)


def test_fit_is_deterministic_for_a_seed():
    a, b = fitted("svd", components=3, seed=2), fitted("svd", components=3, seed=2)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
