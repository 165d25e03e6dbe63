"""`genlab sample`, `reconstruct` and `interpolate` on tiny runs; repeated --option flags accumulate."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.cli.conftest import TINY_VAE, cli

TINY_DDPM = ["ddpm", "--data", "digits", "--preset", "tiny", "--timesteps", "20", "--sample-steps", "2",
             "--train.steps", "2", "--train.batch-size", "16", "--train.no-progress"]


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


def test_reconstruct_and_interpolate(trained, tmp_path, capsys):
    cli("reconstruct", str(trained), "-n", "6", "--out", str(tmp_path / "r.png"))
    assert "PSNR" in capsys.readouterr().out and (tmp_path / "r.png").exists()
    cli("interpolate", str(trained), "--steps", "5", "--pairs", "2", "--method", "slerp",
        "--out", str(tmp_path / "i.png"))
    assert (tmp_path / "i.png").exists()


def test_repeated_options_accumulate(tmp_path):
    """docs/DIFFUSION.md's form: eta is an option of ddim only, so it fails if --option sampler=ddim is lost."""
    cli("train", *TINY_DDPM, "--runs-dir", str(tmp_path), "--name", "d")
    run = str(tmp_path / "d")
    cli("sample", run, "-n", "4", "--out", str(tmp_path / "a.npz"),
        "--option", "sampler=ddim", "--option", "steps=3", "--option", "eta=0.5")
    cli("sample", run, "-n", "4", "--out", str(tmp_path / "b.npz"), "--option", "sampler=ddim", "steps=3", "eta=0.5")
    cli("sample", run, "-n", "4", "--out", str(tmp_path / "c.npz"), "--option", "sampler=ddim", "steps=3",
        "--option", "eta=0")
    a, b, c = (np.load(tmp_path / f"{k}.npz")["x"] for k in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
