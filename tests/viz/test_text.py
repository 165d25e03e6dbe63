"""The text pictures: attention of one head on one sentence, quality vs diversity, topic mixtures."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import DataSpec, Vocab
from genlab.models import build_model
from genlab.viz.text import attention_map, attention_picture, quality_diversity_plot, topic_mixtures_plot

PNG = b"\x89PNG"


def test_attention_picture_of_one_head_on_one_sentence():
    spec = DataSpec("tokens", vocab=Vocab.of_text("But soft, what light\n"))
    torch.manual_seed(0)
    model = build_model("gpt", {"layers": 2, "heads": 2, "dim": 16, "context": 16}, spec=spec).eval()
    assert attention_picture(model, "But soft, what light", layer=1, head=1).startswith(PNG)
    with pytest.raises(ValueError, match="layer must be in"):
        attention_picture(model, "But soft", layer=2)
    with pytest.raises(ValueError, match="head must be in"):
        attention_picture(model, "But soft", head=2)
    with pytest.raises(ValueError, match=r"\(T, T\) for the 3 tokens"):
        attention_map(torch.ones(2, 2), ["a", "b", "c"])


def test_quality_diversity_and_topic_mixture_plots():
    records = [{"temperature": t, "top_k": k, "distinct_1": 0.3 * t, "distinct_2": 0.4 * t,
                "in_vocabulary": 1 - 0.2 * t} for k in (0, 40) for t in (0.5, 1.0)]
    assert quality_diversity_plot(records).startswith(PNG)
    with pytest.raises(ValueError, match="no quality"):
        quality_diversity_plot([])
    mix = torch.tensor([[0.2, 0.8], [0.6, 0.4], [1.0, 0.0]])
    assert topic_mixtures_plot(mix, ["hamlet", "macbeth", "othello"], ["war king", "love night"]).startswith(PNG)
    with pytest.raises(ValueError, match="for the 2 names"):
        topic_mixtures_plot(mix, ["a", "b"])
