"""Zero-shot accuracy and the captioned protocol (genlab.eval.zeroshot)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genlab.data.captions import CaptionSet
from genlab.eval.zeroshot import zero_shot_accuracy


class Oracle:
    """Embeds an image by its brightest half and a prompt by the word it names: a perfect zero-shot model."""

    family = "oracle"

    def zero_shot(self, x, prompts):
        img = F.one_hot((x[:, 0, 4:].mean((1, 2)) > x[:, 0, :4].mean((1, 2))).long(), 2).float()
        cls = torch.tensor([[1.0, 0.0] if "sky" in p[0] else [0.0, 1.0] for p in prompts])
        return img @ cls.T

    def embed_images(self, x):
        return x

    def embed_text(self, t):
        return t


def test_zero_shot_accuracy_counts_matches():
    x = torch.zeros(4, 1, 8, 8)
    x[:2, :, :4] = 1
    x[2:, :, 4:] = 1
    y = torch.tensor([0, 0, 1, 1])
    assert zero_shot_accuracy(Oracle(), x, y, [["the sky"], ["the sea"]]) == 1.0
    assert zero_shot_accuracy(Oracle(), x, 1 - y, [["the sky"], ["the sea"]]) == 0.0
    with pytest.raises(ValueError, match="at least 2 classes"):
        zero_shot_accuracy(Oracle(), x, y, [["the sky"]])


def test_caption_sets_fill_templates():
    cs = CaptionSet((("sky", "air"), ("sea", "ocean")), ("a {a}{n}",), ("this is {a}{n}",), (), ("x", "y"))
    assert cs.fill("a {a}{n}", "sky", ["blue", "wide"]) == "a blue wide sky"
    assert cs.heldout_name(1) == "ocean" and cs.train_names(1) == ("sea",)


def test_dataset_prompts_are_the_protocols_for_genlab_captions_and_class_names_elsewhere():
    import dataclasses
    from types import SimpleNamespace

    from genlab.data.captions import MNIST_CAPTIONS
    from genlab.eval.zeroshot import dataset_prompts
    from tests.models.tiny_families import QUADRANTS, tiny_image_text

    names, prompts = dataset_prompts(SimpleNamespace(name="mnist-captions"))
    assert names[7] == "seven" and len(prompts) == 10
    assert "a picture of a seven" in prompts[7] and all(p.split()[0] in ("a", "this") for p in prompts[7])
    assert len(prompts[7]) == len(MNIST_CAPTIONS.heldout_templates) * len(MNIST_CAPTIONS.train_names(7))
    data = dataclasses.replace(tiny_image_text(8), classes=QUADRANTS)
    assert dataset_prompts(data) == (list(QUADRANTS), [[q] for q in QUADRANTS])
    assert dataset_prompts(tiny_image_text(8)) is None  # classes "0".."3": the captions' characters cannot spell them
    assert dataset_prompts(dataclasses.replace(data, y=None)) is None


def test_texts_are_embedded_by_the_models_tokenizer_or_the_vocabulary_and_ranked():
    from genlab.data.base import DataError
    from genlab.eval.zeroshot import embed_texts, nearest_images
    from genlab.models import build_model
    from tests.conftest import TINY_CLIP
    from tests.models.tiny_families import TinyEmbed, TinyEmbedConfig, tiny_image_text

    data = tiny_image_text(8)
    torch.manual_seed(0)
    clip = build_model("clip", TINY_CLIP, spec=data.spec).eval()
    assert torch.equal(embed_texts(clip, ["Bright  top left"]), clip.embed_prompts(["bright top left"]))
    other = TinyEmbed(TinyEmbedConfig(), data.spec).eval()  # no tokenizer of its own: the vocabulary's characters
    ids = torch.tensor([data.vocab.encode("a top left blob")])
    assert torch.allclose(embed_texts(other, ["a top left  blob"]), other.embed_text(ids))
    with pytest.raises(DataError, match="not in the vocabulary"):
        embed_texts(other, ["zebra"])
    u = F.normalize(torch.randn(20, TINY_CLIP["embed_dim"], generator=torch.Generator().manual_seed(1)), dim=-1)
    idx, scores = nearest_images(clip, ["bright top left", "a bottom right blob"], u, 5)
    sim = clip.embed_prompts(["bright top left", "a bottom right blob"]) @ u.T
    assert idx.shape == scores.shape == (2, 5) and torch.equal(idx, sim.argsort(1, descending=True)[:, :5])
    assert torch.allclose(scores, sim.gather(1, idx))
