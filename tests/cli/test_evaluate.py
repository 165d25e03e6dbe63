"""`genlab eval` and `genlab bench` hand every repeated --option / --train-option to the library."""

from __future__ import annotations

from tests.cli.conftest import cli


def test_eval_and_bench_accumulate_options(monkeypatch, tmp_path):
    import genlab.bench

    seen = {}
    monkeypatch.setattr(genlab.bench, "eval_command", lambda target, **kw: seen.update(eval=kw["sample_options"]))
    monkeypatch.setattr(genlab.bench, "run_bench", lambda cfg, command: seen.update(bench=(cfg, command)))
    cli("eval", "runs/x", "--option", "sampler=ddim", "--option", "steps=50", "eta=0")
    assert seen["eval"] == {"sampler": "ddim", "steps": 50, "eta": 0}
    cli("bench", "--data", "digits", "--out", str(tmp_path), "--option", "dcgan.channels=[4,8]", "--option",
        "vae.latent_dim=3", "--train-option", "dcgan.ema-decay=0.9", "vae.lr=0.01", "--train-option", "ae.lr=0.1")
    cfg, command = seen["bench"]
    assert cfg.model_options == {"dcgan": {"channels": [4, 8]}, "vae": {"latent_dim": 3}}
    assert cfg.train_options == {"dcgan": {"ema_decay": 0.9}, "vae": {"lr": 0.01}, "ae": {"lr": 0.1}}
    assert command.endswith("--option 'dcgan.channels=[4,8]' vae.latent_dim=3 "
                            "--train-option dcgan.ema-decay=0.9 vae.lr=0.01 ae.lr=0.1")


def test_eval_on_npz_data_without_a_test_split(tmp_path, monkeypatch, capsys):
    """The error on the test split names the fix (--split train), and the fix works: the classifier, the
    reference images, reconstruction and likelihood all use the train split."""
    import json

    import numpy as np
    import pytest

    from genlab.data import load_data
    from genlab.eval import classifier as C
    from tests.cli.conftest import TINY_VAE

    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    digits = load_data("digits")
    np.savez(tmp_path / "d.npz", x=digits.x[:300].numpy(), y=digits.y[:300].numpy())  # no x_test
    data = f"npz:{tmp_path / 'd.npz'}"
    monkeypatch.setitem(C.RECIPES, data, C.Recipe(channels=(4, 4, 4), hidden=8, epochs=1))  # a fast classifier
    i = TINY_VAE.index("--data")
    cli("train", *TINY_VAE[:i], "--data", data, *TINY_VAE[i + 2:], "--runs-dir", str(tmp_path), "--name", "v")
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli("eval", str(tmp_path / "v"), "-n", "40", "--n-real", "40")
    assert e.value.code == 2 and "no test split" in capsys.readouterr().err
    cli("eval", str(tmp_path / "v"), "-n", "40", "--n-real", "40", "--split", "train")
    out = capsys.readouterr().out
    assert f"40 generated vs 40 real {data}/train images" in out and "(SSIM: 7x7 Gaussian window" in out
    result = json.loads((tmp_path / "v" / "metrics.json").read_text())
    assert result["protocol"]["split"] == "train" and {"fid", "ssim", "nll_nats"} <= set(result["metrics"])
    assert "weights" in result["protocol"]["judge"] and result["protocol"]["feature_weights_hash"]
