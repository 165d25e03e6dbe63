"""Text runs through the run folder: gpt on text:PATH (train, load, sample with a prompt, evaluate with the
baselines on the validation split) and lda (fit once, load, sample a bag of words, held-out perplexity)."""

from __future__ import annotations

import pytest
import torch

from genlab.bench import evaluate_run
from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import load_run, sample, train
from tests.models.tiny_families import TOPICS

VERSE = "ROMEO:\nBut soft, what light through yonder window breaks?\n\nJULIET:\nO Romeo, Romeo!\n\n"


def config(family: str, data: str, steps: int, **model) -> RunConfig:
    return RunConfig(family, model, DataConfig(data),
                     TrainConfig(steps=steps, batch_size=16, lr=3e-3, log_every=10, progress=False, device="cpu"))


@pytest.fixture
def verse_file(tmp_path):
    path = tmp_path / "verse.txt"
    path.write_text(VERSE * 40)
    return path


def test_gpt_run_on_a_text_file(tmp_path, verse_file):
    result = train(config("gpt", f"text:{verse_file}", 40, layers=1, heads=2, dim=32, context=24), tmp_path / "g")
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert (tmp_path / "g" / "samples" / "step_00000040.txt").read_text().strip()
    run = load_run(tmp_path / "g")
    out = sample(run, 2, cond="ROMEO:", max_tokens=20, temperature=0.8, top_k=10, top_p=0.95)
    assert out.x.shape == (2, 26) and run.model.spec.vocab.decode(out.x[0, :6].tolist()) == "ROMEO:"
    with pytest.raises(ValueError, match="no sampling option"):
        sample(run, 1, length=3)
    metrics, proto, path = evaluate_run(tmp_path / "g", split="valid", n=10)
    assert proto["split"] == "valid" and path.exists()
    assert metrics["loss_nats_per_token"] < metrics["unigram_loss_nats_per_token"]  # it learned more than counts
    assert {"bigram_perplexity", "unigram_bits_per_token"} <= set(metrics)


def test_lda_run_fits_once_and_reports_heldout_perplexity(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(30):  # one document per file: text:PATH gives each file its document start
        words = TOPICS[i % 2].split()
        picks = torch.randint(0, 8, (12,), generator=g)
        (folder / f"{i:02d}.txt").write_text(" ".join(words[int(j)] for j in picks) + "\n")
    result = train(config("lda", f"text:{folder}", 100, topics=2, max_words=40, min_df=1, max_df=1.0), tmp_path / "l")
    assert result.step == 1 and result.history[0]["documents"] >= 20
    assert (tmp_path / "l" / "samples" / "step_00000001.txt").read_text().strip()
    run = load_run(tmp_path / "l")
    assert [len(t.split()) for t in run.model.describe()["top_words"]] == [10, 10]  # genlab info lists them
    text = run.model.spec.vocab.decode(sample(run, 1, words=6).x[0].tolist())
    assert len(text.split()) == 6
    metrics, _, _ = evaluate_run(tmp_path / "l", split="train", n=10)
    assert metrics["perplexity"] < metrics["unigram_perplexity"]
