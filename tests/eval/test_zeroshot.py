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
