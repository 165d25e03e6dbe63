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
