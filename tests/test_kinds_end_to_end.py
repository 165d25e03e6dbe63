"""Every data kind and training style goes through the same run folder: train, exact resume, load,
sample and evaluate (the tiny families of tests/models/tiny_families.py stand in for the real ones)."""

from __future__ import annotations

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.eval.kinds import evaluate_kind
from genlab.models import FAMILIES
from genlab.runs import load_run, sample, train
from tests.conftest import tiny_images
from tests.models.tiny_families import TINY_FAMILIES, tiny_image_text, tiny_pairs, tiny_tokens

DATA = {"tiny-tokens": lambda: tiny_tokens(300), "tiny-pair": lambda: tiny_pairs(48),
        "tiny-embed": lambda: tiny_image_text(48), "tiny-pca": lambda: tiny_images(48)}


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    for name, cls in TINY_FAMILIES.items():  # a new family is one line in FAMILIES
        monkeypatch.setitem(FAMILIES, name, cls)


def config(family: str, steps: int) -> RunConfig:
    return RunConfig(family, {}, DataConfig("tiny"),
                     TrainConfig(steps=steps, batch_size=8, log_every=2, checkpoint_every=2, progress=False,
                                 device="cpu"))


@pytest.mark.parametrize("family", ["tiny-tokens", "tiny-pair", "tiny-embed"])
def test_trained_kinds_resume_exactly(family, tmp_path):
    data = DATA[family]()
    whole = train(config(family, 6), tmp_path / "whole", data=data)
    train(config(family, 3), tmp_path / "parts", data=data)
    parts = train(config(family, 6), tmp_path / "parts", data=data, resume=True)
    assert whole.step == parts.step == 6
    for (k, a), b in zip(whole.model.state_dict().items(), parts.model.state_dict().values()):
        assert torch.equal(a, b), k
    assert [r["loss"] for r in whole.history][-1] == [r["loss"] for r in parts.history][-1]
    run = load_run(tmp_path / "whole")
    assert run.model.spec == data.spec and run.step == 6


def test_tokens_run_samples_text_and_reports_perplexity(tmp_path):
    data = tiny_tokens(300)
    train(config("tiny-tokens", 40), tmp_path / "run", data=data)
    assert (tmp_path / "run" / "samples" / "step_00000040.txt").read_text().strip()
    run = load_run(tmp_path / "run")
    out = sample(run, 3, length=12)
    assert out.x.shape == (3, 12) and run.model.spec.vocab.decode(out.x[0].tolist())
    m = evaluate_kind(run.model, data, n_blocks=20)
    assert m["perplexity"] == pytest.approx(torch.tensor(m["loss_nats_per_token"]).exp().item())
    assert m["bits_per_token"] < torch.log2(torch.tensor(float(len(data.vocab)))).item()  # beats uniform


def test_pairs_run_translates_sources_and_reports_psnr(tmp_path):
    data = tiny_pairs(48)
    train(config("tiny-pair", 4), tmp_path / "run", data=data)
    run = load_run(tmp_path / "run")
    out = sample(run, 4, cond=data.sources(slice(0, 4)))
    assert out.x.shape == (4, 1, 8, 8)
    m = evaluate_kind(run.model, data, n=16)
    assert m["pairs"] == 16 and m["psnr"] > 0 and -1 <= m["ssim"] <= 1
    with pytest.raises(ValueError, match="translates source images"):
        sample(run, 2)


def test_image_text_run_has_no_sample_but_retrieves(tmp_path):
    data = tiny_image_text(48)
    result = train(config("tiny-embed", 30), tmp_path / "run", data=data)
    assert not (tmp_path / "run" / "samples").exists()  # nothing to draw
    run = load_run(tmp_path / "run")
    with pytest.raises(ValueError, match="a tiny-embed model cannot sample"):
        sample(run, 2)
    m = evaluate_kind(run.model, data, n=48)
    assert 0 <= m["i2t_recall@1"] <= m["i2t_recall@5"] <= m["i2t_recall@10"] <= 1
    assert m["t2i_recall@10"] > 10 / 48  # better than chance after training
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_fitted_family_fits_once_in_the_same_run_folder(tmp_path):
    data = tiny_images(48)
    result = train(config("tiny-pca", 1000), tmp_path / "run", data=data)
    assert result.step == 1 and result.stopped == "done"
    assert 0 < result.history[0]["explained_variance_ratio"] <= 1
    assert (tmp_path / "run" / "samples" / "step_00000001.png").exists()
    again = train(config("tiny-pca", 1000), tmp_path / "run", data=data, resume=True)  # nothing left to do
    assert again.step == 1
    run = load_run(tmp_path / "run")
    x = data.images(slice(0, 4))
    assert run.model.decode(run.model.encode(x)).shape == x.shape
    assert sample(run, 5).x.shape == (5, 1, 8, 8)


def test_a_family_refuses_data_of_another_kind_before_making_a_folder(tmp_path):
    with pytest.raises(ValueError, match="a tiny-tokens model trains on tokens data, not image"):
        train(config("tiny-tokens", 2), tmp_path / "run", data=tiny_images(32))
    assert not (tmp_path / "run").exists()


def test_evaluate_kind_refuses_the_wrong_data(tmp_path):
    run = train(config("tiny-pair", 2), tmp_path / "run", data=tiny_pairs(32))
    with pytest.raises(ValueError, match="evaluated on image-pair data, got tokens data"):
        evaluate_kind(run.model, tiny_tokens(100))


def test_genlab_eval_uses_the_protocol_of_the_run_kind(tmp_path, monkeypatch, capsys):
    import json

    import genlab.runs
    from genlab.cli import main

    data = tiny_tokens(300)
    train(config("tiny-tokens", 4), tmp_path / "run", data=data)
    monkeypatch.setattr(genlab.runs, "load_training_data", lambda dc, split="train": data)
    main(["eval", str(tmp_path / "run"), "--n", "10"])
    printed = capsys.readouterr().out
    assert "perplexity" in printed and "tokens metrics on tiny/test" in printed
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["protocol"]["kind"] == "tokens" and saved["metrics"]["tokens"] == 10 * 8


def test_genlab_train_can_be_called_twice_after_importing_the_trainer(tmp_path):
    import genlab
    import genlab.training.trainer  # noqa: F401  (this import used to replace genlab.train by the subpackage)

    for name in ("a", "b"):
        result = genlab.train(config("tiny-pca", 1), tmp_path / name, data=tiny_images(16))
        assert result.step == 1


def test_sample_refuses_an_absurd_n_before_drawing(tmp_path):
    train(config("tiny-pca", 1), tmp_path / "run", data=tiny_images(16))
    for n in (0, -5, 10**9):
        with pytest.raises(ValueError, match=r"n must be in \[1, 100000\]"):
            sample(tmp_path / "run", n)
