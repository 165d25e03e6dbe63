"""The genlab command end to end on the embedded digits data."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from genlab.cli import main

TINY_VAE = ["vae", "--data", "digits", "--arch", "conv", "--channels", "4", "8", "--hidden", "16",
            "--latent-dim", "4", "--train.steps", "12", "--train.batch-size", "32", "--train.no-progress",
            "--train.log-every", "4"]


def cli(*args: str) -> None:
    main(list(args))


@pytest.fixture
def trained(tmp_path):
    cli("train", *TINY_VAE, "--runs-dir", str(tmp_path), "--name", "v")
    return tmp_path / "v"


def test_train_writes_a_run(trained, capsys):
    assert (trained / "config.json").exists() and (trained / "metrics.jsonl").exists()
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["family"] == "vae" and cfg["model"]["latent_dim"] == 4 and cfg["data_info"]["shape"] == [1, 8, 8]
    assert list((trained / "samples").glob("*.png"))


def test_sample_png_and_npz(trained, tmp_path):
    cli("sample", str(trained), "-n", "10", "--out", str(tmp_path / "g.png"))
    assert Image.open(tmp_path / "g.png").size[0] > 8
    cli("sample", str(trained), "-n", "10", "--out", str(tmp_path / "s.npz"))
    arrays = np.load(tmp_path / "s.npz")
    assert arrays["x"].shape == (10, 8, 8, 1) and arrays["x"].dtype == np.uint8
    assert "y" not in arrays


def test_conditional_samples_carry_labels(tmp_path):
    cli("train", *TINY_VAE, "--conditional", "--runs-dir", str(tmp_path), "--name", "c")
    cli("sample", str(tmp_path / "c"), "-n", "20", "--out", str(tmp_path / "s.npz"))
    y = np.load(tmp_path / "s.npz")["y"]
    assert list(y[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    cli("sample", str(tmp_path / "c"), "-n", "5", "--label", "3", "--out", str(tmp_path / "t.npz"))
    assert list(np.load(tmp_path / "t.npz")["y"]) == [3] * 5


def test_reconstruct_interpolate_info(trained, tmp_path, capsys):
    cli("reconstruct", str(trained), "-n", "6", "--out", str(tmp_path / "r.png"))
    assert "PSNR" in capsys.readouterr().out and (tmp_path / "r.png").exists()
    cli("interpolate", str(trained), "--steps", "5", "--pairs", "2", "--method", "slerp",
        "--out", str(tmp_path / "i.png"))
    assert (tmp_path / "i.png").exists()
    capsys.readouterr()
    cli("info", str(trained))
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "vae" and info["step"] == 12 and "likelihood" in info["capabilities"]


def test_resume_and_overwrite_rules(trained, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli("train", *TINY_VAE, "--runs-dir", str(tmp_path), "--name", "v")
    assert e.value.code == 2
    assert "--resume" in capsys.readouterr().err
    longer = [a if a != "12" else "16" for a in TINY_VAE]
    cli("train", *longer, "--runs-dir", str(tmp_path), "--name", "v", "--resume")
    assert json.loads((trained / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 16


@pytest.mark.parametrize("args, message", [
    (["train", "vae", "--data", "nosuchdata", "--runs-dir", "RUNS"], "nosuchdata"),
    (["sample", "RUNS/missing"], "not a genlab run"),
    (["sample", "RUNS/v", "--out", "x.jpg"], ".png or .npz"),
    (["sample", "RUNS/v", "--label", "3"], "conditional"),
    (["sample", "RUNS/v", "--option", "steps=20"], "no sampling option"),
    (["sample", "RUNS/v", "--option", "steps"], "KEY=VALUE"),
])
def test_bad_input_gives_one_clear_line(trained, tmp_path, capsys, args, message):
    args = [a.replace("RUNS", str(tmp_path)) for a in args]
    with pytest.raises(SystemExit) as e:
        cli(*args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_unknown_family_lists_valid_ones():
    out = subprocess.run([sys.executable, "-m", "genlab", "train", "gann"], capture_output=True, text=True)
    assert out.returncode != 0
    assert "vae" in out.stdout + out.stderr and "Traceback" not in out.stderr


def test_datasets_lists_availability(capsys):
    cli("datasets")
    out = capsys.readouterr().out
    assert "digits" in out and "mnist" in out and "folder:PATH" in out


def test_import_is_light():
    code = "import sys, genlab; print(any(m.startswith(('torch', 'sklearn', 'matplotlib')) for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False"
