"""lda: word counts from token documents, distributions that sum to 1, topics that separate two clear
subjects, held-out perplexity beside the unigram, and bags of words from the generative story."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import TokenData, Vocab
from genlab.models import build_model
from genlab.models.lda import LDA, documents, sample_dirichlet, words
from tests.models.tiny_families import TOPICS, tiny_documents

ANIMALS, SEA = (set(t.split()) for t in TOPICS)


def fitted(n_docs: int = 40, **options) -> LDA:
    data = tiny_documents(n_docs)
    opts = {"topics": 2, "max_words": 40, "min_df": 1, "max_df": 1.0, "iterations": 30, **options}
    model = build_model("lda", opts, spec=data.spec)
    model.fit(data, generator=torch.Generator().manual_seed(0))
    return model


def test_words_drop_speaker_lines_stop_words_and_case():
    text = "ROMEO:\nBut soft, what LIGHT through yonder window breaks?\nThou art the sun.\n"
    assert words(text, frozenset({"but", "what", "through", "thou", "art", "the"})) == \
        ["soft", "light", "yonder", "window", "breaks", "sun"]


def test_documents_are_the_spans_between_doc_starts_or_paragraphs():
    data = tiny_documents(3)
    docs = documents(data)
    assert len(docs) == 3 and all(d.strip().endswith(".") for d in docs)
    vocab = Vocab.of_text("ab \n")
    para = TokenData(torch.tensor(vocab.encode("ab ab\n\nba ba\n\n\nab")), vocab, "p", "train")
    assert [d.strip() for d in documents(para)] == ["ab ab", "ba ba", "ab"]


def test_topic_distributions_sum_to_1():
    model = fitted()
    assert torch.allclose(model.topic_word().sum(1), torch.ones(2, dtype=torch.float64))
    theta = model.topic_mixture(["cat dog cow", "ship sea tide wave", "nothing known here"])
    assert torch.allclose(theta.sum(1), torch.ones(3, dtype=torch.float64)) and (theta >= 0).all()
    draws = sample_dirichlet(torch.tensor([0.1, 0.5, 2.0]), 4000, torch.Generator().manual_seed(0))
    assert torch.allclose(draws.sum(1), torch.ones(4000, dtype=torch.float64)) and (draws >= 0).all()
    assert torch.allclose(draws.mean(0), torch.tensor([0.1, 0.5, 2.0], dtype=torch.float64) / 2.6, atol=0.02)


def test_two_clear_subjects_become_two_topics():
    model = fitted()
    tops = [set(t) for t in model.top_words(8)]
    assert sorted([t == ANIMALS or t == SEA for t in tops]) == [True, True] and tops[0] != tops[1]
    theta = model.topic_mixture(["cat dog cow horse", "ship sea tide wave"])
    assert theta[0].argmax() != theta[1].argmax() and theta.max(1).values.min() > 0.8
    assert "top_words" in model.describe() and len(model.describe()["top_words"]) == 2


def test_heldout_perplexity_beats_the_unigram_on_clear_topics():
    model = fitted()
    m = model.heldout_metrics(tiny_documents(20, seed=1))
    assert m["documents"] == 20 and m["out_of_vocabulary"] == 0
    assert 1 < m["perplexity"] < m["unigram_perplexity"] < len(model.vocabulary()) + 1


def test_samples_follow_the_generative_story():
    model = fitted()
    bags = model.sample_words(3, generator=torch.Generator().manual_seed(0), words=12)
    assert [len(b) for b in bags] == [12, 12, 12] and all(w in ANIMALS | SEA for b in bags for w in b)
    sea = int(model.topic_mixture(["ship sea sail wave boat storm tide anchor"])[0].argmax())
    pure = torch.nn.functional.one_hot(torch.tensor(sea), 2).double()
    drawn = [w for b in model.sample_words(2, cond=pure, words=50) for w in b]
    assert sum(w in SEA for w in drawn) > 0.8 * len(drawn)  # a topic holds a little of every word (the prior)
    out = model.sample(2, generator=torch.Generator().manual_seed(0), words=5)
    text = model.spec.vocab.decode(out.x[0].tolist()).split()
    assert len(text) == 5 and set(text) <= ANIMALS | SEA
    with pytest.raises(ValueError, match="topic mixture"):
        model.sample(1, cond=torch.tensor([0.5, 0.6]))


def test_an_unfitted_model_and_a_single_document_are_refused():
    data = tiny_documents(4)
    model = build_model("lda", {"topics": 2, "max_words": 40, "min_df": 1, "max_df": 1.0}, spec=data.spec)
    with pytest.raises(ValueError, match="not fitted"):
        model.sample(1)
    one = TokenData(data.ids[:40], data.vocab, "one", "train")
    with pytest.raises(ValueError, match="several documents"):
        model.fit(one)


def test_the_checkpoint_holds_the_vocabulary():
    model = fitted()
    other = build_model("lda", {"topics": 2, "max_words": 40, "min_df": 1, "max_df": 1.0}, spec=model.spec)
    other.load_state_dict(model.state_dict())
    assert other.vocabulary() == model.vocabulary() and other.top_words(3) == model.top_words(3)
