"""`genlab train`: new runs, the resume/overwrite rules, and --resume continuing a run as it was."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import TINY_VAE, cli


def config_of(run) -> dict:
    return json.loads((run / "config.json").read_text())


def last_step(run) -> int:
    return json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"]


def test_train_writes_a_run(trained):
    assert (trained / "config.json").exists() and (trained / "metrics.jsonl").exists()
    cfg = config_of(trained)
    assert cfg["family"] == "vae" and cfg["model"]["latent_dim"] == 4 and cfg["data_info"]["shape"] == [1, 8, 8]
    assert list((trained / "samples").glob("*.png"))


def test_resume_and_overwrite_rules(trained, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli("train", *TINY_VAE, "--runs-dir", str(tmp_path), "--name", "v")
    assert e.value.code == 2
    assert "--resume" in capsys.readouterr().err
    longer = [a if a != "12" else "16" for a in TINY_VAE]
    cli("train", *longer, "--runs-dir", str(tmp_path), "--name", "v", "--resume")
    assert last_step(trained) == 16


def test_resume_keeps_the_options_not_given_again(tmp_path, capsys):
    first = [*TINY_VAE[:TINY_VAE.index("--train.steps")], "--train.steps", "4", "--train.batch-size", "16",
             "--train.lr", "0.002", "--train.ema-decay", "0.9", "--train.no-progress", "--train.log-every", "2"]
    cli("train", *first, "--runs-dir", str(tmp_path), "--name", "v")
    run = tmp_path / "v"
    before = config_of(run)
    capsys.readouterr()
    # only the data and two training options: the model, batch size, lr, EMA, ... come from config.json
    cli("train", "vae", "--data", "digits", "--runs-dir", str(tmp_path), "--name", "v", "--resume",
        "--train.steps", "6", "--train.log-every=3")
    out = capsys.readouterr().out
    assert f"resuming {run} at step 4 with --train.steps 4 -> 6, --train.log-every 2 -> 3" in out.splitlines()
    after = config_of(run)
    assert after["model"] == before["model"] and after["data"] == before["data"]
    assert after["train"] == {**before["train"], "steps": 6, "log_every": 3}
    assert after["train"]["ema_decay"] == 0.9 and after["train"]["batch_size"] == 16 and after["train"]["lr"] == 0.002
    assert after["resumed_with"] == [{"step": 4, "changes": {"steps": {"from": 4, "to": 6},
                                                             "log_every": {"from": 2, "to": 3}}}]
    assert last_step(run) == 6
    assert (run / "checkpoints" / "step_00000006" / "ema.safetensors").exists()  # EMA kept
    # a resume that gives options equal to the saved ones changes nothing and records nothing
    cli("train", "vae", "--data", "digits", "--runs-dir", str(tmp_path), "--name", "v", "--resume",
        "--train.steps", "7", "--train.batch_size", "16", "--train.no-progress", "--latent-dim", "4")
    assert f"resuming {run} at step 6 with --train.steps 6 -> 7" in capsys.readouterr().out
    assert [r["step"] for r in config_of(run)["resumed_with"]] == [4, 6] and last_step(run) == 7


@pytest.mark.parametrize("change, message", [
    (["--train.lr", "0.01"], "new lr"),  # the restored optimizer state would override it
    (["--train.seed", "3"], "new seed"),
    (["--train.optimizer", "adamw"], "new optimizer"),
    (["--latent-dim", "5"], "its model was"),
    (["--data", "digits", "--binarize", "static"], "its data was"),
])
def test_resume_refuses_changes_it_cannot_honour(trained, tmp_path, capsys, change, message):
    before = (trained / "config.json").read_text()
    with pytest.raises(SystemExit) as e:
        cli("train", "vae", "--data", "digits", "--runs-dir", str(tmp_path), "--name", "v", "--resume", *change)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert (trained / "config.json").read_text() == before and last_step(trained) == 12


def test_train_prints_a_start_line_and_a_readable_summary(tmp_path, capsys):
    cli("train", *TINY_VAE, "--train.device", "cpu", "--runs-dir", str(tmp_path), "--name", "v")  # on a GPU machine too
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("training vae on digits (1,500 examples): ")
    assert " parameters; fp32 on cpu (1 thread), steps 0 -> 12" in lines[0]
    assert lines[1].startswith("done at step 12 in ") and " images/s" in lines[1]
    assert lines[2].startswith("  loss ") and ", kl " in lines[2] and "{" not in "".join(lines)
    assert lines[-1] == f"run saved in {tmp_path / 'v'}/ (samples in {tmp_path / 'v'}/samples/)"


def test_a_time_budget_without_steps_runs_until_the_budget_is_spent(tmp_path, capsys):
    # TrainConfig's default of 2000 steps must not end a run the user gave a time budget; given steps still do
    args = ("train", "vae", "--data", "digits", "--hidden", "8", "--latent-dim", "2", "--train.threads", "1",
            "--train.no-progress", "--train.time-budget", "1.5", "--train.device", "cpu", "--runs-dir", str(tmp_path))
    cli(*args, "--name", "budget")
    out = capsys.readouterr().out
    assert "on cpu (1 thread), from step 0 until 1.5 wall-seconds" in out.splitlines()[0]
    assert config_of(tmp_path / "budget")["train"]["steps"] == 10**9
    assert "stopped by the time budget" in out
    cli(*args, "--train.steps", "3", "--name", "steps")
    out = capsys.readouterr().out
    assert "steps 0 -> 3 or 1.5 wall-seconds" in out and config_of(tmp_path / "steps")["train"]["steps"] == 3


def test_the_summary_says_what_the_end_of_training_fitted(tmp_path, capsys):
    cli("train", "ae", "--data", "digits", "--train.steps", "12", "--train.threads", "1", "--runs-dir",
        str(tmp_path), "--name", "a")
    out = capsys.readouterr().out
    assert "  then code_prior_fitted 1, code_prior_components 10, code_prior_dims 32" in out


def test_only_the_main_process_prints_the_summary(tmp_path, capsys, monkeypatch):
    from genlab.training.trainer import TrainResult

    def worker(config, run_dir, **kwargs):  # what a DDP rank > 0 gets back
        return TrainResult(None, run_dir, 12, "done", [{"step": 12, "loss": 1.0}], 1.0, is_main=False)

    monkeypatch.setattr("genlab.runs.train", worker)
    cli("train", *TINY_VAE, "--runs-dir", str(tmp_path), "--name", "v")
    assert capsys.readouterr().out == ""


def test_config_reruns_and_varies_a_saved_run(trained, tmp_path, capsys):
    saved = config_of(trained)
    capsys.readouterr()
    cli("train", "--config", str(trained / "config.json"), "--runs-dir", str(tmp_path), "--name", "same",
        "--train.no-progress")
    assert f"training from {trained / 'config.json'} with its saved options" in capsys.readouterr().out
    same = config_of(tmp_path / "same")
    assert {k: same[k] for k in ("family", "model", "data", "train")} == \
        {k: saved[k] for k in ("family", "model", "data", "train")}
    # flags given override the file's values; the rest (model, data, training options) come from it
    cli("train", "--config", str(trained), "--runs-dir", str(tmp_path), "--name", "varied", "--latent-dim", "3",
        "--train.steps", "6")
    out = capsys.readouterr().out
    assert f"training from {trained} with --latent-dim 4 -> 3, --train.steps 12 -> 6" in out
    varied = config_of(tmp_path / "varied")
    assert varied["model"] == {**saved["model"], "latent_dim": 3} and varied["data"] == saved["data"]
    assert varied["train"] == {**saved["train"], "steps": 6} and last_step(tmp_path / "varied") == 6


@pytest.mark.parametrize("args, message", [
    (["--config", "MISSING.json"], "--config MISSING.json: no such file"),
    (["--config", "RUN", "--resume"], "give one of them"),
    (["--config", "RUN"], "already holds a run"),  # into the saved run's own folder: choose another --name
])
def test_config_errors_are_one_line(trained, tmp_path, capsys, args, message):
    args = [a.replace("RUN", str(trained)) for a in args]
    with pytest.raises(SystemExit) as e:
        cli("train", *args, "--runs-dir", str(tmp_path), *(["--name", "v"] if "--resume" not in args else []))
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_tensorboard_without_the_package_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(SystemExit) as e:
        cli("train", *TINY_VAE, "--train.tensorboard", "--runs-dir", str(tmp_path), "--name", "t")
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert err == ("genlab: error: --train.tensorboard needs the tensorboard package, which is not installed: "
                   "pip install genlab[tensorboard]\n")
    assert not (tmp_path / "t").exists()


GAN_FAST = ["--data", "digits", "--limit", "200", "--train.steps", "2", "--train.no-progress", "--coverage-every", "0"]


def test_train_uses_the_cpu_recipe_unless_told_otherwise(tmp_path, capsys):
    from genlab.models.recipes import recipe

    r = recipe("dcgan")
    cli("train", "dcgan", *GAN_FAST, "--runs-dir", str(tmp_path), "--name", "cpu", "--clusters", "0")
    out = capsys.readouterr().out
    assert "dcgan with the cpu recipe: --channels 32 64 --loss hinge" in out and "--preset paper" in out
    assert "--clusters" not in out.splitlines()[0]  # a flag given is not the recipe's
    cfg = config_of(tmp_path / "cpu")
    assert {k: cfg["model"][k] for k in ("loss", "spectral_norm", "d_norm", "mode_seeking")} == \
        {k: r.model[k] for k in ("loss", "spectral_norm", "d_norm", "mode_seeking")}
    assert cfg["model"]["clusters"] == 0 and cfg["train"]["batch_size"] == r.train["batch_size"]
    # the papers' settings: the family config's and TrainConfig's own defaults
    cli("train", "dcgan", *GAN_FAST, "--runs-dir", str(tmp_path), "--name", "paper", "--preset", "paper")
    assert "with the cpu recipe" not in capsys.readouterr().out
    paper = config_of(tmp_path / "paper")
    assert paper["model"]["loss"] == "ns" and paper["model"]["d_norm"] == "batch"
    assert paper["train"]["batch_size"] == 128
    # a flag given wins over the recipe, here with the family after another flag
    cli("train", "--data", "digits", "dcgan", *GAN_FAST[2:], "--runs-dir", str(tmp_path), "--name", "given",
        "--loss", "ns", "--train.batch-size", "16", "--clusters", "0")
    given = config_of(tmp_path / "given")
    assert given["model"]["loss"] == "ns" and given["model"]["spectral_norm"] is True
    assert given["train"]["batch_size"] == 16


def test_an_unknown_preset_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli("train", "dcgan", *GAN_FAST, "--runs-dir", str(tmp_path), "--preset", "fast")
    err = capsys.readouterr().err
    assert e.value.code == 2 and "unknown preset 'fast'; valid: cpu, paper" in err


def test_a_familys_own_preset_is_not_the_recipe_preset():
    from genlab.cli.train import split_preset

    assert split_preset(["train", "flow", "--preset", "tiny", "--preset=paper"]) == \
        (["train", "flow", "--preset", "tiny"], "paper")
    assert split_preset(["train", "dcgan", "--", "--preset", "paper"])[1] == "cpu"


FLOW_FAST = ["--preset", "tiny", "--train.steps", "1", "--train.no-progress", "--train.batch-size", "8"]


def test_the_cpu_preset_makes_a_flow_conditional_on_labelled_data(tmp_path, capsys):
    cli("train", "flow", "--data", "digits", *FLOW_FAST, "--runs-dir", str(tmp_path), "--name", "labelled")
    assert "--conditional" in capsys.readouterr().out.splitlines()[0]
    assert config_of(tmp_path / "labelled")["model"]["conditional"] is True
    for name, extra in (("one-class", ["--classes", "3"]), ("given", ["--no-conditional"])):
        cli("train", "flow", "--data", "digits", *extra, *FLOW_FAST, "--runs-dir", str(tmp_path), "--name", name)
        assert config_of(tmp_path / name)["model"]["conditional"] is False, name
        assert "--conditional" not in capsys.readouterr().out.splitlines()[0]
    cli("train", "flow", "--data", "digits", "--classes", "3", "5", *FLOW_FAST, "--runs-dir", str(tmp_path),
        "--name", "two")
    assert config_of(tmp_path / "two")["model"]["conditional"] is True  # and draws 3s and 5s (test_sample.py)
