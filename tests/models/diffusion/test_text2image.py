"""The t2i family: text conditioning through a frozen clip, guidance on the caption."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import DataError, DataSpec, Vocab
from genlab.models import build_model, model_record
from genlab.pipelines import TextToImage
from tests.conftest import TINY, TINY_CLIP
from tests.models.tiny_families import tiny_image_text


def tiny_t2i(**extra):
    torch.manual_seed(0)
    model = build_model("t2i", {**TINY["t2i"], **extra}, spec=tiny_image_text(4).spec).eval()
    with torch.no_grad():  # a fresh cond_proj is small: make the condition matter
        model.net.time.cond_proj.weight.normal_(0, 1.0)
    return model


def test_guidance_zero_equals_the_unconditional_model():
    model = tiny_t2i()
    pipe = TextToImage(model)
    g0 = pipe("bright top left", n=4, guidance=0, seed=3)
    uncond = model.sample(4, cond=None, generator=torch.Generator().manual_seed(3)).x
    assert torch.equal(g0, uncond)
    g1 = pipe("bright top left", n=4, guidance=1, seed=3)
    assert not torch.equal(g1, uncond)


def test_prompts_condition_the_samples():
    model = tiny_t2i()
    a = model.sample(2, cond="bright top left", generator=torch.Generator().manual_seed(0), guidance=1).x
    b = model.sample(2, cond="bright bottom right", generator=torch.Generator().manual_seed(0), guidance=1).x
    c = model.sample(2, cond=["bright top left"] * 2, generator=torch.Generator().manual_seed(0), guidance=1).x
    assert not torch.allclose(a, b, atol=1e-3) and torch.allclose(a, c, atol=1e-5)


def test_the_text_encoder_is_frozen_and_dropped_captions_are_zero():
    model = tiny_t2i()
    assert not any(p.requires_grad for p in model.clip.parameters())
    c = torch.ones(1000, 8)
    dropped = model.drop_labels(c, torch.Generator().manual_seed(0))
    share = (dropped.abs().sum(1) == 0).float().mean().item()
    assert share == pytest.approx(0.3, abs=0.05)


@pytest.mark.parametrize("bad", ["", "   ", 5])
def test_bad_prompts_are_refused(bad):
    with pytest.raises(DataError, match="caption"):
        TextToImage(tiny_t2i())(bad, n=2)


def test_a_clip_of_another_vocabulary_is_refused():
    other = DataSpec("image-text", (1, 8, 8), 4, None, Vocab(("<pad>", "x", "y"), pad=True))
    with pytest.raises(ValueError, match="vocabulary"):
        build_model("t2i", {**TINY["t2i"], "text_encoder_config": model_record("clip", TINY_CLIP, other)},
                    spec=tiny_image_text(4).spec)


def test_t2i_needs_a_text_encoder_and_no_class_labels():
    spec = tiny_image_text(4).spec
    with pytest.raises(ValueError, match="--text-encoder"):
        build_model("t2i", {"preset": "tiny"}, spec=spec)
    with pytest.raises(ValueError, match="drop --conditional"):
        build_model("t2i", {**TINY["t2i"], "conditional": True}, spec=spec)


def test_the_pipeline_refuses_other_families():
    from tests.conftest import tiny_images

    ddpm = build_model("ddpm", TINY["ddpm"], spec=tiny_images(4).spec)
    with pytest.raises(ValueError, match="family t2i"):
        TextToImage(ddpm)


def test_the_caption_reaches_the_network_at_every_width():
    """A per-channel shift before a one-channel-per-group GroupNorm is erased: t2i keeps >= 2 channels per group."""
    torch.manual_seed(0)
    model = build_model("t2i", {**TINY["t2i"], "preset": "28", "channels": (16, 32, 32)}, spec=tiny_image_text(4).spec)
    c = torch.nn.functional.normalize(torch.randn(2, 8), dim=1)
    x, t = torch.randn(2, 1, 8, 8), torch.full((2,), 10)
    with torch.no_grad():
        diff = (model.net(x, t, c) - model.net(x, t, torch.zeros_like(c))).abs().max()
    assert diff > 1e-3
