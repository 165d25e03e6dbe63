"""The text protocol: the count baselines, perplexity and bits conversions, distinct-n and the
in-vocabulary fraction, quality vs diversity and the reports."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.data.base import TokenData, Vocab
from genlab.eval.kinds import evaluate_kind, token_metrics
from genlab.eval.text import (
    CountLM,
    bits_per_token,
    distinct_n,
    in_vocabulary,
    markdown_table,
    metric_rows,
    perplexity,
    quality_diversity,
)
from genlab.models import build_model
from tests.models.tiny_families import tiny_tokens


def stream(text: str, vocab: Vocab) -> TokenData:
    return TokenData(torch.tensor(vocab.encode(text)), vocab, "t", "train")


def test_perplexity_and_bits_conversions():
    assert perplexity(math.log(65)) == pytest.approx(65)
    assert bits_per_token(math.log(2)) == pytest.approx(1.0)
    assert bits_per_token(1.0) == pytest.approx(1 / math.log(2))


def test_count_models_give_the_add_one_probabilities():
    vocab = Vocab.of_text("abc")
    ids = torch.tensor(vocab.encode("aabab"))  # a:3 b:2 c:0; pairs aa, ab, ba, ab
    x = torch.tensor([vocab.encode("abc")])  # targets b (after a) and c (after b)
    uni, bi = CountLM(ids, 3, 1, 2), CountLM(ids, 3, 2, 2)
    assert uni.nll(x).item() == pytest.approx(-math.log(3 / 8) - math.log(1 / 8))
    # p(b | a) = (2 + 1) / (3 + 3) (a precedes 3 tokens), p(c | b) = (0 + 1) / (1 + 3)
    assert bi.nll(x).item() == pytest.approx(-math.log(3 / 6) - math.log(1 / 4))


def test_token_metrics_add_the_baselines_on_the_same_blocks():
    data = tiny_tokens(400)
    torch.manual_seed(0)
    model = build_model("gpt", {"layers": 1, "heads": 2, "dim": 16, "context": 8}, spec=data.spec).eval()
    m = token_metrics(model, data, n_blocks=20, train=data)
    for prefix in ("", "unigram_", "bigram_"):
        loss = m[f"{prefix}loss_nats_per_token"]
        assert m[f"{prefix}perplexity"] == pytest.approx(math.exp(loss))
        assert m[f"{prefix}bits_per_token"] == pytest.approx(loss / math.log(2))
    assert m["tokens"] == 20 * 8
    V = len(data.vocab)
    assert m["loss_nats_per_token"] == pytest.approx(math.log(V), abs=0.1)  # untrained: about uniform
    assert m["bigram_loss_nats_per_token"] < m["unigram_loss_nats_per_token"] < math.log(V)  # a repetitive text
    rows = metric_rows(m, "gpt")
    assert [r[0] for r in rows] == ["gpt", "unigram (add-one)", "bigram (add-one)"]
    assert "| gpt |" in markdown_table(rows, ("model", "nats", "ppl", "bits"))
    own = {k: v for k, v in m.items() if not k.startswith(("unigram_", "bigram_"))}
    assert evaluate_kind(model, data, n_blocks=20) == own


def test_distinct_n_and_in_vocabulary():
    texts = ["the cat sat on the mat", "the cat ran"]
    assert distinct_n(texts, 1) == pytest.approx(6 / 9)  # the x3, cat x2, sat, on, mat, ran
    assert distinct_n(texts, 2) == pytest.approx(6 / 7)  # "the cat" twice
    assert distinct_n(["a"], 2) == 0.0
    assert in_vocabulary(["The cat zorbled, o'er thy mat"], {"the", "cat", "o'er", "thy"}) == pytest.approx(4 / 6)


def test_quality_diversity_covers_every_setting():
    data = tiny_tokens(400)
    torch.manual_seed(0)
    model = build_model("gpt", {"layers": 1, "heads": 2, "dim": 16, "context": 8}, spec=data.spec).eval()
    records = quality_diversity(model, data.text(), temperatures=(0.5, 1.0), top_ks=(0, 3), n=2, max_tokens=40)
    assert [(r["temperature"], r["top_k"]) for r in records] == [(0.5, 0), (1.0, 0), (0.5, 3), (1.0, 3)]
    assert all(0 <= r[k] <= 1 for r in records for k in ("distinct_1", "distinct_2", "in_vocabulary"))


def test_language_model_report(tmp_path):
    from genlab.eval.text_report import language_model_report

    data = tiny_tokens(400)
    torch.manual_seed(0)
    model = build_model("gpt", {"layers": 1, "heads": 2, "dim": 16, "context": 16}, spec=data.spec).eval()
    history = [{"step": s, "loss": 3.0 - 0.1 * s, "tokens_per_s": 100.0} for s in range(1, 5)]
    path = language_model_report(tmp_path / "r.html", model, history=history, train=data,
                                 splits={"valid": data, "test": data}, temperatures=(0.5, 1.0), max_tokens=30,
                                 n_blocks=5)
    html = path.read_text()
    assert "bigram (add-one)" in html and "temperature 0.5" in html and html.count("data:image/png") == 3


def test_topic_model_report(tmp_path):
    from genlab.eval.text_report import topic_model_report
    from tests.models.tiny_families import tiny_documents

    data = tiny_documents(20)
    model = build_model("lda", {"topics": 2, "max_words": 40, "min_df": 1, "max_df": 1.0}, spec=data.spec)
    model.fit(data, generator=torch.Generator().manual_seed(0))
    scenes = [("play-a" if i < 10 else "play-b", "", text) for i, text in enumerate(
        data.text(int(a), int(b)) for a, b in zip(data.doc_starts, [*data.doc_starts[1:], len(data)]))]
    html = topic_model_report(tmp_path / "t.html", model, test=tiny_documents(6, seed=1), scenes=scenes).read_text()
    assert "Held-out perplexity" in html and "unigram (add-one)" in html and html.count("data:image/png") == 1
