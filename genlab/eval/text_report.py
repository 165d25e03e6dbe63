"""The reports of text runs as self-contained HTML (viz/report.py):

- a language model (gpt): validation and test loss per character beside the unigram and bigram fitted on
  the training split, the loss curve, samples at several temperatures, the attention weights of one head
  on one sentence, and quality vs diversity against temperature and top-k;
- a topic model (lda): each topic's top words, the topic mixture of each play, held-out perplexity beside
  the unigram, and bags of words drawn from the generative story.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from genlab.eval.kinds import token_metrics
from genlab.eval.text import metric_rows, play_mixtures, quality_diversity
from genlab.viz.plots import loss_curves
from genlab.viz.report import Section, write_report
from genlab.viz.text import attention_picture, quality_diversity_plot, topic_mixtures_plot

HEADER = ("split", "model", "nats / char", "perplexity", "bits / char")


def verse(text: str) -> str:
    """Line breaks shown as " / " (the report's paragraphs would swallow them)."""
    return " / ".join(line for line in text.split("\n") if line.strip())


def loss_table(model: Any, splits: dict[str, Any], train: Any, *, n_blocks: int = 200) -> list[tuple]:
    """Rows (split, model, nats, perplexity, bits) of the model and the count baselines on each held-out split."""
    rows = []
    for name, data in splits.items():
        m = token_metrics(model, data, n_blocks=n_blocks, train=train)
        rows += [(name, *row) for row in metric_rows(m, model.family)]
    return rows


def language_model_report(path: str | Path, model: Any, *, history: Sequence[dict[str, Any]], train: Any,
                          splits: dict[str, Any], prompt: str | None = None, sentence: str | None = None,
                          temperatures: Sequence[float] = (0.5, 0.8, 1.0, 1.2), max_tokens: int = 300,
                          n_blocks: int = 200, seed: int = 0, title: str = "") -> Path:
    """Write the report of a gpt run (see the module docstring); returns its path.

    Args:
        history: the run's metric records (metrics.jsonl lines).
        train: the training TokenData (baselines, vocabulary of words).
        splits: held-out TokenData by name, e.g. {"valid": ..., "test": ...}.
        prompt: the text samples continue (None: from a newline).
        sentence: the text of the attention picture (default: the first line of the first held-out split
            with at least 16 characters, cut to the context).
    """
    model.eval()
    rows = loss_table(model, splits, train, n_blocks=n_blocks)
    vocab = model.spec.vocab
    samples = []
    for t in temperatures:
        g = torch.Generator(device=model.device).manual_seed(seed)
        x = model.sample(1, cond=prompt, generator=g, max_tokens=max_tokens, temperature=float(t)).x[0]
        samples.append(f"temperature {t}: {verse(vocab.decode(x.tolist()))}")
    if sentence is None:
        first = next(iter(splits.values())).text(0, 4000)
        sentence = next((ln for ln in first.split("\n") if len(ln) >= 16), first[:model.context])
    sentence = sentence[:model.context]
    records = quality_diversity(model, train.text(0, 2_000_000), temperatures=temperatures, top_ks=(0, 10, 40),
                                n=8, max_tokens=max_tokens, prompt=prompt, seed=seed)
    curves = [r for r in history if "loss" in r]
    sections = [
        Section("Loss per character", "Next-character loss on evenly spaced held-out blocks of the context length; "
                "the unigram and bigram (add-one) are fitted on the training split and scored on the same blocks.",
                rows=rows, header=HEADER),
        Section("Training loss", image=loss_curves(curves, ["loss"]) if curves else None,
                caption="training loss (nats per character) against the optimizer step"),
        Section("Samples at several temperatures", "\n\n".join(samples)),
        Section("Attention", f"Layer 0, head 0 on {sentence!r}.", image=attention_picture(model, sentence),
                caption="attention weights: each row is a query position, each column the earlier position it reads"),
        Section("Quality vs diversity", "Distinct-n of 8 samples and the share of their words found in the training "
                "text, against temperature, for several top-k.", image=quality_diversity_plot(records),
                caption="higher temperature: more diverse, fewer real words",
                rows=[(r["temperature"], r["top_k"], r["distinct_1"], r["distinct_2"], r["in_vocabulary"])
                      for r in records],
                header=("temperature", "top-k", "distinct-1", "distinct-2", "in vocabulary")),
    ]
    return write_report(path, title=title or f"{model.family} on {train.name}", sections=sections,
                        subtitle=f"{sum(p.numel() for p in model.parameters()):,} parameters, context {model.context}")


def topic_model_report(path: str | Path, model: Any, *, test: Any, scenes: Sequence[tuple[str, str, str]],
                       n_words: int = 12, seed: int = 0, title: str = "") -> Path:
    """Write the report of an lda run; returns its path.

    Args:
        test: held-out TokenData (document-completion perplexity).
        scenes: (play, title, text) of the scenes whose plays get a mixture bar (shakespeare.scenes(split)).
    """
    tops = model.top_words(n_words)
    names, mixtures = play_mixtures(model, scenes)
    labels = [f"{k}: {' '.join(t[:4])}" for k, t in enumerate(tops)]
    m = model.heldout_metrics(test)
    bags = model.sample_words(4, generator=torch.Generator().manual_seed(seed), words=20)
    sections = [
        Section("Topics", rows=[(k, " ".join(t)) for k, t in enumerate(tops)], header=("topic", "top words")),
        Section("Topic mixture of each play", image=topic_mixtures_plot(mixtures, names, labels),
                caption="each play's scenes' mixtures, weighted by their words"),
        Section("Held-out perplexity", "Document completion on the held-out scenes: the topic mixture is inferred "
                "from the first half of each scene's words, the second half is scored.",
                rows=[("lda", m["perplexity"], m["nats_per_word"]),
                      ("unigram (add-one)", m["unigram_perplexity"], m["unigram_nats_per_word"])],
                header=("model", "perplexity per word", "nats per word")),
        Section("Bags of words from the generative story", "\n\n".join(" ".join(b) for b in bags)),
    ]
    return write_report(path, title=title or f"lda on {test.name}", sections=sections,
                        subtitle=f"{model.config.topics} topics, {len(model.vocabulary())} words")


__all__ = ["language_model_report", "loss_table", "topic_model_report", "verse"]
