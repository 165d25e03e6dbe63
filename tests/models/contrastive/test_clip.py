"""The clip family: unit-norm embeddings, both text encoders, zero-shot after a few steps, bad input."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import DataError, ImageTextData
from genlab.data.captions import caption_vocab
from genlab.models import build_model
from genlab.models.base import capabilities


def two_classes(n: int = 64, seed: int = 0) -> ImageTextData:
    """Bright top half ("sky") or bright bottom half ("sea") 8x8 images, captioned by class."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    x[y == 0, :, :4] += 0.7
    x[y == 1, :, 4:] += 0.7
    names = ("sky", "sea")
    caps = tuple((f"a picture of the {names[k]}", f"the {names[k]}") for k in y.tolist())
    return ImageTextData((x.clamp(0, 1) * 255).to(torch.uint8), caps, caption_vocab(), "toy", "train", y=y,
                         classes=names, max_len=24)


TINY = {"embed_dim": 8, "channels": (8, 8), "text_dim": 16, "text_depth": 1, "text_heads": 2, "context": 24}


@pytest.mark.parametrize("encoder", ["words", "transformer", "bow"])
def test_embeddings_are_unit_norm(encoder):
    data = two_classes(8)
    torch.manual_seed(0)
    model = build_model("clip", {**TINY, "text_encoder": encoder}, spec=data.spec)
    b = data.batch(torch.arange(8))
    for e in (model.embed_images(b.x), model.embed_text(b.text)):
        assert e.shape == (8, 8)
        assert torch.allclose(e.norm(dim=1), torch.ones(8), atol=1e-5)
    assert {"embed"} <= capabilities(model) and "sample" not in capabilities(model)


@pytest.mark.parametrize("encoder", ["words", "transformer", "bow"])
def test_zero_shot_is_perfect_on_a_toy_two_class_set_after_a_few_steps(encoder):
    data = two_classes(64)
    torch.manual_seed(0)
    model = build_model("clip", {**TINY, "text_encoder": encoder}, spec=data.spec)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(60):
        b = data.batch(torch.randperm(64, generator=g)[:32], generator=g)
        loss = model.training_losses(b, generator=g)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = two_classes(64, seed=1)
    # prompts in a phrasing not used in training
    pred = model.zero_shot(test.images(), [["this is the sky"], ["this is the sea"]]).argmax(1)
    assert (pred == test.y).all()


def test_padding_after_the_caption_changes_nothing():
    data = two_classes(4)
    torch.manual_seed(0)
    model = build_model("clip", TINY, spec=data.spec).eval()
    ids = model.tokenize(["the sky", "the sea"])
    assert torch.allclose(model.embed_text(ids), model.embed_text(ids[:, :7]), atol=1e-6)


def test_tokenize_refuses_empty_or_non_text_captions():
    data = two_classes(4)
    model = build_model("clip", TINY, spec=data.spec)
    with pytest.raises(DataError, match="caption is empty"):
        model.tokenize(["the sky", "  "])
    with pytest.raises(DataError, match="must be text"):
        model.tokenize([3])


def test_clip_refuses_plain_image_data():
    from tests.conftest import tiny_images

    with pytest.raises(ValueError, match="image-text"):
        build_model("clip", TINY, spec=tiny_images(4).spec)


def test_hashed_words_split_on_spaces_and_punctuation():
    from genlab.models.contrastive.clip import hashed_words

    v = caption_vocab()
    ids = torch.tensor([v.encode("a thick, slanted seven") + [0] * 3, v.encode("seven") + [0] * 20])
    w = hashed_words(ids, v, 4096)
    assert w.shape == (2, 4) and (w[1, 1:] == 0).all()
    assert w[0, 3] == w[1, 0]  # the same word, the same id
    assert hashed_words(ids, v, 4096, max_words=2).shape == (2, 2)
