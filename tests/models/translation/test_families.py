"""pix2pix, cyclegan, sr, srgan beyond the shared contract: the data they take, how they translate."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import DataSpec
from genlab.data.pairs import derive
from genlab.models import build_model
from genlab.training.callbacks import attach_feature_net, classifier_features
from tests.conftest import TINY, tiny_images
from tests.models.tiny_families import tiny_domains, tiny_pairs

PAIRS = ("pix2pix", "cyclegan", "sr", "srgan")


@pytest.mark.parametrize("family", PAIRS)
def test_refuses_image_data_in_one_line(family):
    with pytest.raises(ValueError, match=f"a {family} model trains on image-pair data, not image") as e:
        build_model(family, TINY[family], spec=tiny_images(4).spec)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("family", ["sr", "srgan"])
def test_super_resolution_refuses_pairs_of_one_size(family):
    with pytest.raises(ValueError, match="upscales by an integer factor >= 2 .* train it on sr2:DATASET") as e:
        build_model(family, TINY[family], spec=derive("edges", tiny_images(4)).spec)
    assert "\n" not in str(e.value)


def test_cyclegan_refuses_domains_of_two_shapes():
    with pytest.raises(ValueError, match=r"one image shape, got sources \(1, 4, 4\) and targets \(1, 8, 8\)"):
        build_model("cyclegan", TINY["cyclegan"], spec=tiny_pairs(4).spec)


@pytest.mark.parametrize("family", PAIRS)
def test_sample_needs_sources_of_the_right_shape(family):
    data = tiny_domains(4) if family == "cyclegan" else tiny_pairs(4)
    model = build_model(family, TINY[family], spec=data.spec)
    with pytest.raises(ValueError, match="translates source images: pass cond="):
        model.sample(2)
    with pytest.raises(ValueError, match=r"translates \(n, 1, .*\) images, got \(2, 3, 4, 4\)"):
        model.sample(2, cond=torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError, match="asked for 3 translations of 2 source images"):
        model.sample(3, cond=data.sources(slice(0, 2)))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sr_upscales_any_size_by_its_factor(scale):
    data = derive(f"sr{scale}", tiny_images(4, shape=(1, 12, 12)))
    model = build_model("sr", TINY["sr"], spec=data.spec)
    assert model.scale == scale
    assert model.sample(2, cond=data.sources(slice(0, 2))).x.shape == (2, 1, 12, 12)
    assert model.sample(1, cond=torch.rand(1, 1, 5, 3)).x.shape == (1, 1, 5 * scale, 3 * scale)


def test_sr_without_gan_has_one_player_and_srgan_two():
    data = tiny_pairs(4)
    assert [p.name for p in build_model("sr", TINY["sr"], spec=data.spec).players()] == ["model"]
    gan = build_model("srgan", TINY["srgan"], spec=data.spec)
    assert [p.name for p in gan.players()] == ["d", "g"]
    assert set(gan.training_losses(data.batch(torch.arange(4)), player="g")) >= {"loss", "pixel", "adversarial"}


def test_feature_loss_needs_the_classifier_and_uses_it():
    data = derive("sr2", tiny_images(8, shape=(1, 28, 28)))
    model = build_model("srgan", {**TINY["srgan"], "feature_weight": 1.0}, spec=data.spec)
    batch = data.batch(torch.arange(4))
    with pytest.raises(ValueError, match="feature loss needs genlab's mnist classifier"):
        model.training_losses(batch, player="g")
    attach_feature_net(model)  # the shipped genlab-mnist classifier
    losses = model.training_losses(batch, player="g")
    assert losses["feature"] > 0
    losses["loss"].backward()
    assert all(p.grad is not None for p in model.G.parameters())
    assert not any("phi" in k for k in model.state_dict())  # the classifier stays out of checkpoints


def test_classifier_features_take_rgb_as_luma():
    from genlab.eval.classifier import available_classifier

    phi = classifier_features(available_classifier("mnist"))
    grey = torch.rand(2, 1, 28, 28)
    assert phi(grey).shape == (2, 64, 14, 14)
    assert torch.allclose(phi(grey.expand(2, 3, 28, 28)), phi(grey), atol=1e-5)


def test_attach_feature_net_names_the_classifiers_there_are():
    data = tiny_pairs(4)
    model = build_model("srgan", {**TINY["srgan"], "feature_weight": 1.0, "feature_net": "emoji"}, spec=data.spec)
    with pytest.raises(ValueError, match="feature_net 'emoji' has no genlab classifier on this machine; use one of"):
        attach_feature_net(model)


def test_cyclegan_translates_both_ways():
    data = tiny_domains(4)
    model = build_model("cyclegan", TINY["cyclegan"], spec=data.spec)
    a = data.sources(slice(0, 2))
    ab, ba = model.sample(2, cond=a).x, model.sample(2, cond=a, direction="ba").x
    assert torch.equal(ab, model.G(a)) and torch.equal(ba, model.F(a))
    with pytest.raises(ValueError, match="unknown direction 'up'"):
        model.translate(a, "up")


def test_pix2pix_augmentation_trains():
    data = tiny_pairs(8)
    model = build_model("pix2pix", {**TINY["pix2pix"], "augment": True}, spec=data.spec)
    losses = model.training_losses(data.batch(torch.arange(8)), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(losses["loss"]) and losses["l1"] > 0


def test_spec_without_source_shape_is_refused():
    with pytest.raises(ValueError, match="needs the source image shape"):
        build_model("pix2pix", TINY["pix2pix"], spec=DataSpec("image-pair", (1, 8, 8)))
