"""The text evaluation protocol beyond a model's own loss: count baselines fitted on the same split, the
quality-vs-diversity figures of samples, and topic-model summaries.

- Baselines (Jurafsky & Martin, "Speech and Language Processing", ch. 3): the unigram p(c) = (n_c + 1) /
  (N + V) and the count bigram p(c | b) = (n_bc + 1) / (n_b + V), both add-one smoothed, fitted on the
  training token stream; they expose `nll` like a model, so `token_metrics` scores them on the very
  blocks (and targets) it scores the model on.
- Units: loss in nats per token (per character for character data), perplexity exp(loss), bits per
  token loss / ln 2.
- Quality vs diversity of samples: distinct-n = distinct word n-grams / all word n-grams over the samples
  (Li et al. 2016, "A diversity-promoting objective function for neural conversation models"), and the
  fraction of sampled words found in the training vocabulary (made-up words lower it), as functions of
  the sampling temperature and top-k.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from genlab.nn.distributions import nats_to_bits

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")  # letters, with inner apostrophes ("honour'd")


@runtime_checkable
class TopicModel(Protocol):
    """A model of documents' words whose held-out figure is a per-word perplexity (lda), not a per-token nll."""

    def heldout_metrics(self, data: Any) -> dict[str, float]:
        """Held-out perplexity per word of the documents of `data` and its baseline."""


# --- units -------------------------------------------------------------------------------------------
def perplexity(nats_per_token: float) -> float:
    """exp(loss): the effective number of equally likely next tokens."""
    return math.exp(nats_per_token)


def bits_per_token(nats_per_token: float) -> float:
    """loss / ln 2."""
    return float(nats_to_bits(nats_per_token))


# --- count baselines ---------------------------------------------------------------------------------
class CountLM:
    """An n-gram count model (n = 1 or 2) with add-one smoothing, scored like a model by `token_metrics`.

    Args:
        ids: (N,) int64 training token stream.
        vocab_size: V.
        order: 1 (unigram) or 2 (bigram).
        context: the block length T it is scored on (that of the model it is compared with).
    """

    likelihood_kind = "discrete"
    likelihood_exact = True
    likelihood_options: tuple[str, ...] = ()

    def __init__(self, ids: torch.Tensor, vocab_size: int, order: int, context: int):
        if order not in (1, 2):
            raise ValueError(f"order must be 1 (unigram) or 2 (bigram), got {order}")
        ids = ids.long().cpu()
        self.order, self.context, self.vocab_size = order, context, vocab_size
        self.family = "unigram" if order == 1 else "bigram"
        self.device = torch.device("cpu")
        if order == 1:
            counts = torch.bincount(ids, minlength=vocab_size).double() + 1  # (V,)
            self.log_p = (counts / counts.sum()).log()
        else:  # sparse pair counts: a vocabulary of thousands of characters would make (V, V) too big
            self.keys, self.pair_counts = torch.unique(ids[:-1] * vocab_size + ids[1:], return_counts=True)
            self.prev_counts = torch.bincount(ids[:-1], minlength=vocab_size).double()  # n_b

    def nll(self, x: torch.Tensor, y=None, *, generator=None) -> torch.Tensor:
        """(b,) nats of the T next-token predictions of blocks x (b, T + 1)."""
        x = x.long().cpu()
        if self.order == 1:
            return -self.log_p[x[:, 1:]].sum(1)
        key = x[:, :-1] * self.vocab_size + x[:, 1:]
        pos = torch.searchsorted(self.keys, key).clamp_max(len(self.keys) - 1)
        n_bc = torch.where(self.keys[pos] == key, self.pair_counts[pos], 0).double()
        log_p = (n_bc + 1).log() - (self.prev_counts[x[:, :-1]] + self.vocab_size).log()
        return -log_p.sum(1)


def baselines(train: Any, context: int) -> dict[str, CountLM]:
    """The unigram and bigram count models fitted on the training TokenData."""
    V = len(train.vocab)
    return {"unigram": CountLM(train.ids, V, 1, context), "bigram": CountLM(train.ids, V, 2, context)}


def metric_rows(metrics: dict[str, Any], model: str = "model") -> list[tuple[str, float, float, float]]:
    """(model, nats/token, perplexity, bits/token) rows from token_metrics output (baselines included)."""
    rows = [(model, metrics["loss_nats_per_token"], metrics["perplexity"], metrics["bits_per_token"])]
    for name in ("unigram", "bigram"):
        if f"{name}_loss_nats_per_token" in metrics:
            rows.append((f"{name} (add-one)", metrics[f"{name}_loss_nats_per_token"], metrics[f"{name}_perplexity"],
                         metrics[f"{name}_bits_per_token"]))
    return rows


def markdown_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A Markdown table; floats with 4 decimals."""
    cell = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# --- quality vs diversity ----------------------------------------------------------------------------
def words_of(text: str) -> list[str]:
    """The lower-cased words of a text (letters with inner apostrophes)."""
    return WORD.findall(text.lower())


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams / all word n-grams over all the texts (0 when there is none)."""
    grams = [tuple(ws[i:i + n]) for ws in map(words_of, texts) for i in range(len(ws) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def in_vocabulary(texts: Sequence[str], vocabulary: set[str]) -> float:
    """The fraction of the texts' words found in `vocabulary` (0 when there is no word)."""
    ws = [w for t in texts for w in words_of(t)]
    return sum(w in vocabulary for w in ws) / len(ws) if ws else 0.0


@torch.no_grad()
def quality_diversity(model: Any, train_text: str, *, temperatures: Sequence[float] = (0.5, 0.8, 1.0, 1.2),
                      top_ks: Sequence[int] = (0, 40), n: int = 8, max_tokens: int = 300, prompt: Any = None,
                      seed: int = 0) -> list[dict[str, float]]:
    """Distinct-1, distinct-2 and the in-vocabulary fraction of n samples of max_tokens tokens at each
    (temperature, top_k); the same seed for every setting. top_k = 0 means no top-k filter.

    Args:
        model: a token model whose sample takes temperature, top_k and max_tokens (gpt).
        train_text: the training text, whose words are the vocabulary.
    """
    from genlab.models import require

    require(model, "sample", "sample text")
    vocabulary = set(words_of(train_text))
    vocab = model.spec.vocab
    out = []
    for k in top_ks:
        for t in temperatures:
            g = torch.Generator(device=model.device).manual_seed(seed)
            x = model.sample(n, cond=prompt, generator=g, max_tokens=max_tokens, temperature=float(t),
                             top_k=int(k)).x
            texts = [vocab.decode(row[-max_tokens:].tolist()) for row in x]
            out.append({"temperature": float(t), "top_k": int(k), "distinct_1": distinct_n(texts, 1),
                        "distinct_2": distinct_n(texts, 2), "in_vocabulary": in_vocabulary(texts, vocabulary)})
    return out


# --- topic models ------------------------------------------------------------------------------------
def play_mixtures(model: Any, scenes: Sequence[tuple[str, str, str]]) -> tuple[list[str], torch.Tensor]:
    """Each play's topic mixture: the mean of its scenes' mixtures weighted by their word counts.

    Args:
        model: a fitted lda.
        scenes: (play, title, text) of each scene (genlab.data.shakespeare.scenes).
    Returns: the play names in first-seen order and their (P, K) mixtures (rows sum to 1).
    """
    texts = [text for _, _, text in scenes]
    theta = model.topic_mixture(texts)  # (D, K)
    weight = model.counts(texts).sum(1, keepdim=True).clamp_min(1)  # (D, 1) words of the vocabulary
    names = list(dict.fromkeys(play for play, _, _ in scenes))
    rows = []
    for name in names:
        m = torch.tensor([play == name for play, _, _ in scenes], device=theta.device)
        w = weight[m]
        rows.append((theta[m] * w).sum(0) / w.sum())
    return names, torch.stack(rows)


__all__ = ["CountLM", "TopicModel", "baselines", "bits_per_token", "distinct_n", "in_vocabulary", "markdown_table",
           "metric_rows", "perplexity", "play_mixtures", "quality_diversity", "words_of"]
