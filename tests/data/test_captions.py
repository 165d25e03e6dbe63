"""Captions from class names and measured attributes (genlab.data.captions, genlab.data.captioned)."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import DataError, ImageData, ImageTextData
from genlab.data.captioned import caption_images, thresholds_for
from genlab.data.captions import (
    FASHION_CAPTIONS,
    MNIST_CAPTIONS,
    caption_vocab,
    class_prompts,
    measure,
    normalize_caption,
)


def strokes(n: int = 40, seed: int = 0) -> ImageData:
    """Vertical bars of width 1..4 with labels 0..9 (each label gets one bar of every width)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    for i in range(n):
        w = 1 + i % 4
        c = 10 + int(torch.randint(0, 4, (1,), generator=g))
        x[i, 0, 6:22, c:c + w] = 255
    y = (torch.arange(n) // 4) % 10  # four consecutive widths per label
    return ImageData(x, y, "strokes", "train", tuple(str(k) for k in range(10)))


def test_thickness_is_the_stroke_width():
    x = torch.zeros(3, 1, 28, 28)
    for i, w in enumerate((1, 2, 4)):
        x[i, 0, 4:24, 10:10 + w] = 1.0
    t = measure(x)["thickness"]
    # area w*20, perimeter 2*20 + 2*w: the measure is within 20% of w
    assert torch.allclose(t, torch.tensor([1.0, 2.0, 4.0]), rtol=0.2), t


def test_slant_sign_and_size():
    x = torch.zeros(2, 1, 28, 28)
    for r in range(4, 24):
        x[0, 0, r, 14 + (24 - r) // 3] = 1.0  # the top further right: leans right
        x[1, 0, r, 14] = 1.0
    m = measure(x)
    assert m["slant"][0] > 0.2 and abs(float(m["slant"][1])) < 1e-4
    assert m["size"][1] == pytest.approx(20 * 1 / 784)


def test_training_captions_use_only_training_templates_and_names():
    data = strokes()
    th = thresholds_for(data, MNIST_CAPTIONS)
    train = caption_images(data, MNIST_CAPTIONS, th, split="train", name="s")
    heldout_prefixes = [t.split("{")[0] for t in MNIST_CAPTIONS.heldout_templates]
    for k, caps in zip(train.y.tolist(), train.captions):
        for c in caps:
            assert not any(c.startswith(p) for p in heldout_prefixes), c
            # every template ends with the name: the caption ends with a training name of its class, and
            # not with the held-out name (unless that is the end of a longer training name)
            ends = [n for n in MNIST_CAPTIONS.names[k] if c == n or c.endswith(" " + n)]
            assert ends and max(ends, key=len) in MNIST_CAPTIONS.train_names(k), (c, ends)
            assert not ("thick" in c.split() and "slanted" in c.split()), c
    test = caption_images(data, MNIST_CAPTIONS, th, split="test", name="s")
    assert all(any(c.startswith(p) for p in heldout_prefixes) for caps in test.captions for c in caps)


def test_held_out_templates_never_appear_in_training_batches():
    data = strokes()
    train = caption_images(data, MNIST_CAPTIONS, thresholds_for(data, MNIST_CAPTIONS), split="train", name="s")
    g = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(30):
        b = train.batch(torch.randint(0, len(train), (16,), generator=g), generator=g)
        seen |= {train.vocab.decode(row) for row in b.text.tolist()}
    assert len(seen) > 20
    for p in (t.format(a="", n="").strip() for t in MNIST_CAPTIONS.heldout_templates):
        assert not any(s.startswith(p) for s in seen), p


def test_thick_words_go_to_thick_strokes():
    data = strokes()
    train = caption_images(data, MNIST_CAPTIONS, thresholds_for(data, MNIST_CAPTIONS), split="test", name="s")
    widths = [1 + i % 4 for i in range(len(data))]
    said_thick = [w for w, caps in zip(widths, train.captions) if any("thick" in c.split() for c in caps)]
    said_thin = [w for w, caps in zip(widths, train.captions) if any("thin" in c.split() for c in caps)]
    assert said_thick and said_thin and min(said_thick) > max(said_thin)


def test_prompts_cover_every_class():
    p = class_prompts(FASHION_CAPTIONS, templates=FASHION_CAPTIONS.heldout_templates)
    assert len(p) == 10 and "a picture of a ankle boot" in p[9]
    q = class_prompts(FASHION_CAPTIONS, templates=("{a}{n}",), heldout_names=True)
    assert q[9] == ["short boot"]


@pytest.mark.parametrize("bad", ["", "   ", None, 7, b"bytes"])
def test_bad_captions_are_refused(bad):
    with pytest.raises(DataError, match="caption"):
        normalize_caption(bad)
    x = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(DataError, match="caption"):
        ImageTextData(x, ((bad,),), caption_vocab(), "bad", "train")


def test_images_without_captions_are_refused():
    x = torch.zeros(2, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(DataError, match="2 images but 1 caption"):
        ImageTextData(x, (("a one",),), caption_vocab(), "bad", "train")
    with pytest.raises(DataError, match="at least one"):
        ImageTextData(x, (("a one",), ()), caption_vocab(), "bad", "train")


def test_unknown_characters_become_the_unknown_token():
    v = caption_vocab()
    assert v.decode(v.encode("a é")) == "a ?"
