"""Self-conditioning of GANs on k-means clusters of the training images (genlab/models/gan/clusters.py)."""

from __future__ import annotations

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.data.base import Batch, ImageData
from genlab.models import build_model
from genlab.models.gan.clusters import ClusterMap
from genlab.runs import load_run, train
from tests.conftest import TINY


def two_groups(n_dark: int = 30, n_bright: int = 70) -> ImageData:
    """Dark and bright 8x8 images with a little noise: two clusters, 30% and 70% of the data."""
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.rand(n_dark, 1, 8, 8, generator=g) * 0.2,
                   0.8 + torch.rand(n_bright, 1, 8, 8, generator=g) * 0.2])
    y = torch.cat([torch.zeros(n_dark, dtype=torch.long), torch.ones(n_bright, dtype=torch.long)])
    return ImageData((x * 255).round().to(torch.uint8), y, "two-groups", "train", ("dark", "bright"), "synthetic")


def fitted_map() -> tuple[ClusterMap, ImageData]:
    data = two_groups()
    cm = ClusterMap(2, (1, 8, 8))
    cm.fit(data.images())
    return cm, data


def test_kmeans_finds_the_groups_and_their_shares():
    cm, data = fitted_map()
    a = cm.assign(data.images())
    assert len(set(a[:30].tolist())) == 1 and len(set(a[30:].tolist())) == 1 and a[0] != a[-1]
    assert sorted(cm.share.tolist()) == pytest.approx([0.3, 0.7])
    assert cm.share[a[0]] == pytest.approx(0.3)


def test_a_standard_normal_first_coordinate_draws_each_cluster_with_its_share():
    cm, _ = fitted_map()
    z1 = torch.randn(200000, generator=torch.Generator().manual_seed(1))
    freq = torch.bincount(cm.of_latent(z1), minlength=2).float() / z1.numel()
    assert torch.allclose(freq, cm.share, atol=0.005)
    y = torch.randint(0, 2, (1000,), generator=torch.Generator().manual_seed(2))
    assert torch.equal(cm.of_latent(cm.latent_for(y, torch.Generator().manual_seed(3))), y)


def test_a_gan_with_clusters_needs_them_fitted_then_samples_unconditionally():
    model = build_model("dcgan", {**TINY["dcgan"], "clusters": 2}, shape=(1, 8, 8), num_classes=2)
    data = two_groups()
    with pytest.raises(ValueError, match="prepare"):
        model.training_losses(Batch(data.images()), player="d")
    model.prepare(data)
    assert set(model.training_losses(Batch(data.images()), player="d")) >= {"loss"}
    model.eval()
    z = torch.randn(6, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model.generate(z), model.generate(z))  # G(z) is a function of z alone
    assert model.sample(5, generator=torch.Generator().manual_seed(0)).x.shape == (5, 1, 8, 8)
    # truncation shrinks z but keeps each sample in its cluster (z_1 is left alone)
    a = model.sample(8, generator=torch.Generator().manual_seed(4)).x
    b = model.sample(8, generator=torch.Generator().manual_seed(4), truncation=0.5).x
    assert a.shape == b.shape and not torch.equal(a, b)


def test_the_style_generator_is_self_conditioned_through_its_mapping_network():
    model = build_model("stylegan", {**TINY["stylegan"], "clusters": 2}, shape=(1, 8, 8))
    data = two_groups()
    model.prepare(data)
    for player in ("d", "g"):
        losses = model.training_losses(Batch(data.images()), generator=torch.Generator().manual_seed(0), player=player)
        losses["loss"].backward()
        assert torch.isfinite(losses["loss"])
    assert model.G.mapping.embed.weight.grad.abs().sum() > 0  # the cluster's embedding is trained
    model.eval()
    z = torch.randn(6, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    w = model.mapping(z)  # the cluster of each z is read off z_1
    clusters = model.cluster_map.of_latent(z[:, 0])
    assert torch.allclose(w, model.G.mapping(z, clusters)) and not torch.allclose(w, model.G.mapping(z, 1 - clusters))
    assert model.sample(5, generator=torch.Generator().manual_seed(0), truncation=0.5).x.shape == (5, 1, 8, 8)


def test_bad_cluster_options_name_the_fix():
    with pytest.raises(ValueError, match="conditions on the labels"):
        build_model("cgan", {**TINY["cgan"], "clusters": 4}, shape=(1, 8, 8), num_classes=4)
    with pytest.raises(ValueError, match="clusters >= 2"):
        build_model("dcgan", {**TINY["dcgan"], "clusters": 1}, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="at least 200 training images"):
        ClusterMap(200, (1, 8, 8)).fit(two_groups().images())


def test_the_trainer_fits_the_clusters_once_and_a_resumed_run_keeps_them(tmp_path, monkeypatch):
    calls = []
    fit = ClusterMap.fit
    monkeypatch.setattr(ClusterMap, "fit", lambda self, *a, **k: (calls.append(1), fit(self, *a, **k))[1])
    tc = TrainConfig(steps=4, batch_size=16, log_every=2, ema_decay=0.9, progress=False, checkpoint_every=2)
    config = RunConfig("dcgan", {**TINY["dcgan"], "clusters": 2}, DataConfig("two-groups"), tc)
    train(config, tmp_path / "run", data=two_groups())
    assert calls == [1]
    run = load_run(tmp_path / "run")  # EMA weights: the clusters came along
    clusters = run.model.cluster_map
    assert bool(clusters.fitted) and sorted(clusters.share.tolist()) == pytest.approx([0.3, 0.7])
    longer = RunConfig("dcgan", config.model, config.data, TrainConfig(**{**tc.__dict__, "steps": 6}))
    train(longer, tmp_path / "run", data=two_groups(), resume=True)
    assert calls == [1]
