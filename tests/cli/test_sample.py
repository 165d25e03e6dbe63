"""`genlab sample`, `reconstruct` and `interpolate` on tiny runs; repeated --option flags accumulate."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.cli.conftest import TINY_VAE, cli

TINY_DDPM = ["ddpm", "--data", "digits", "--preset", "tiny", "--timesteps", "20", "--sample-steps", "2",
             "--train.steps", "2", "--train.batch-size", "16", "--train.no-progress"]


def test_sample_png_and_npz(trained, tmp_path):
    cli("sample", str(trained), "-n", "10", "--out", str(tmp_path / "g.png"))
    assert Image.open(tmp_path / "g.png").size[0] > 8
    cli("sample", str(trained), "-n", "10", "--out", str(tmp_path / "s.npz"))
    arrays = np.load(tmp_path / "s.npz")
    assert arrays["x"].shape == (10, 1, 8, 8) and arrays["x"].dtype == np.uint8  # NCHW, as genlab's data
    assert "y" not in arrays


def test_a_conditional_model_of_some_classes_draws_those_classes(tmp_path):
    """Trained with --classes 3 5, a conditional model draws 3s and 5s in turn, not the eight classes it never
    saw; the kept labels are saved with the run."""
    import json

    cli("train", *TINY_VAE, "--conditional", "--classes", "5", "3", "--runs-dir", str(tmp_path), "--name", "c")
    assert json.loads((tmp_path / "c" / "config.json").read_text())["data_info"]["kept_classes"] == [3, 5]
    cli("sample", str(tmp_path / "c"), "-n", "6", "--out", str(tmp_path / "s.npz"))
    assert np.load(tmp_path / "s.npz")["y"].tolist() == [3, 5, 3, 5, 3, 5]
    cli("sample", str(tmp_path / "c"), "-n", "4", "--label", "7", "--out", str(tmp_path / "seven.npz"))
    assert np.load(tmp_path / "seven.npz")["y"].tolist() == [7] * 4  # asked for: the label space is still 10


def test_sampled_npz_is_npz_data(tmp_path):
    """What `genlab sample --out x.npz` writes, `npz:x.npz` reads as it is, labels included, and trains on."""
    import torch

    from genlab.data import load_data

    cli("train", *TINY_VAE, "--conditional", "--runs-dir", str(tmp_path), "--name", "c")
    cli("sample", str(tmp_path / "c"), "-n", "40", "--out", str(tmp_path / "s.npz"))
    arrays = np.load(tmp_path / "s.npz")
    data = load_data(f"npz:{tmp_path / 's.npz'}")
    assert data.shape == (1, 8, 8) and torch.equal(data.x, torch.from_numpy(arrays["x"]))
    assert data.y.tolist() == arrays["y"].tolist() and data.num_classes == 10
    cli("train", *TINY_VAE[:TINY_VAE.index("--data")], "--data", f"npz:{tmp_path / 's.npz'}",
        *TINY_VAE[TINY_VAE.index("--data") + 2:], "--runs-dir", str(tmp_path), "--name", "again")
    assert (tmp_path / "again" / "config.json").exists()


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


def test_sample_never_replaces_a_file_without_overwrite(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples.png").write_bytes(b"the user's own file")
    with pytest.raises(SystemExit) as e:
        cli("sample", str(trained), "-n", "4")
    assert e.value.code == 2 and "samples.png already exists; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "samples.png").read_bytes() == b"the user's own file"
    cli("sample", str(trained), "-n", "4", "--overwrite")
    assert Image.open(tmp_path / "samples.png").size[0] > 8
    cli("sample", str(trained), "-n", "4", "--out", "s.npz")
    with pytest.raises(SystemExit):  # not even a file genlab made itself
        cli("sample", str(trained), "-n", "4", "--out", "s.npz")


def test_an_unwritable_out_is_refused_before_sampling(trained, tmp_path, monkeypatch, capsys):
    import errno
    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    monkeypatch.setattr("genlab.runs.load_run", lambda *a, **k: pytest.fail("sampled before checking --out"))
    with pytest.raises(SystemExit) as e:
        cli("sample", str(trained), "--out", str(tmp_path / "x.png"))
    assert e.value.code == 2
    assert capsys.readouterr().err == f"genlab: error: --out {tmp_path}/x.png: cannot write in {tmp_path}: " \
                                      "Read-only file system\n"
    assert not (tmp_path / "x.png").exists()


def test_counts_beyond_the_data_say_what_was_done(trained, tmp_path, capsys):
    cli("reconstruct", str(trained), "-n", "100000", "--out", str(tmp_path / "r.png"))
    out = capsys.readouterr().out
    assert "reconstructed 297 of the 100000 asked: the test split has 297 images" in out
    assert "on 297 test images" in out and "100000 test images" not in out
    cli("interpolate", str(trained), "--steps", "2", "--pairs", "1000", "--out", str(tmp_path / "i.png"))
    out = capsys.readouterr().out
    assert "interpolated 148 of the 1000 pairs asked: the test split has 297 images" in out
    assert "wrote " + str(tmp_path / "i.png") + ": 148 linear interpolations" in out


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


class Terminal:
    """stderr that says it is a terminal, keeping what was written."""

    def __init__(self):
        self.text = ""

    def write(self, s):
        self.text += s
        return len(s)

    def flush(self):
        pass

    def isatty(self):
        return True


@pytest.fixture
def ddpm_run(tmp_path):  # unconditional: these tests count batches of 128 (guidance would halve them)
    cli("train", *TINY_DDPM, "--no-conditional", "--runs-dir", str(tmp_path), "--name", "d")
    return str(tmp_path / "d")


def test_sampling_1000_images_shows_bars_of_batches_and_steps_on_a_terminal(ddpm_run, tmp_path, monkeypatch):
    import sys

    monkeypatch.delenv("RANK", raising=False)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    cli("sample", ddpm_run, "-n", "1000", "--out", str(tmp_path / "a.npz"), "--option", "sampler=ddim", "steps=3")
    assert "sample ddpm: 100%" in err.text and "8/8" in err.text  # 1,000 images in batches of 128 (a CPU's default)
    assert "step" in err.text and "/3 [" in err.text  # a bar of the 3 denoising steps of a batch (how far it
    # got before it was cleared depends on tqdm's refresh interval, so only its total is checked)
    err.text = ""
    cli("sample", ddpm_run, "-n", "1000", "--out", str(tmp_path / "b.npz"), "--no-progress")
    assert err.text == ""


def test_the_python_api_reports_to_a_hook_and_writes_no_file(ddpm_run, tmp_path, monkeypatch):
    import genlab

    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    calls = []
    out = genlab.sample(ddpm_run, 1000, progress=lambda *a: calls.append(a), steps=2)
    assert out.x.shape == (1000, 1, 8, 8)
    assert [c for c in calls if c[0] == "batch"] == [("batch", k, 8) for k in range(9)]  # batches of 128 on a CPU
    assert sum(c[0] == "step" and c[1] > 0 for c in calls) == 8 * 2  # once per step of each batch
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # samples are returned, never written


@pytest.mark.parametrize("suffix", [".png", ".npz"])
def test_a_file_that_appears_while_sampling_is_kept(trained, tmp_path, monkeypatch, capsys, suffix):
    import genlab.runs

    out = tmp_path / f"late{suffix}"
    real = genlab.runs.sample

    def slow(*args, **kwargs):  # another process writes OUT after the check, before the samples are saved
        out.write_bytes(b"someone else's")
        return real(*args, **kwargs)

    monkeypatch.setattr(genlab.runs, "sample", slow)
    with pytest.raises(SystemExit) as e:
        cli("sample", str(trained), "-n", "4", "--out", str(out))
    assert e.value.code == 2 and "appeared while this command ran and was kept" in capsys.readouterr().err
    assert out.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".late")] == []  # no temporary left
    cli("sample", str(trained), "-n", "4", "--out", str(out), "--overwrite")
    assert out.read_bytes() != b"someone else's"
