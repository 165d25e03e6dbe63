"""Bad input to any command: exit status 2, exactly one line on stderr (no traceback), and nothing written.

One tiny run serves the whole module; every call runs in an empty working folder with GENLAB_CACHE inside
the watched folder, so a folder or file made anywhere (a run folder, an output, a cached classifier) fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import TINY_VAE, cli

VAE = ["train", "vae", "--data", "digits", "--train.no-progress", "--runs-dir", "RUNS"]

# Options of `genlab train` that config.validate refuses before any folder is made or any data loaded.
TRAIN_OPTIONS = [
    (["--train.steps", "0"], "train.steps must be >= 1, got 0"),
    (["--train.steps", "-5"], "train.steps must be >= 1, got -5"),
    (["--train.log-every", "0"], "train.log_every must be >= 1, got 0"),
    (["--train.checkpoint-every", "-1"], "train.checkpoint_every must be >= 0, got -1"),
    (["--train.sample-every", "-10"], "train.sample_every must be >= 0, got -10"),
    (["--train.keep-checkpoints", "0"], "train.keep_checkpoints must be >= 1, got 0"),
    (["--train.threads", "-4"], "train.threads must be >= 0, got -4"),
    (["--train.ema-decay", "2"], "train.ema_decay must be >= 0 and < 1, got 2.0"),
    (["--latent-dim", "-3"], "latent_dim must be >= 1, got -3"),
]

# (arguments, a part of the one line expected). RUN: the module's tiny vae run; CWD: the working folder;
# EXISTING: a file already there; RUNS: a runs folder that must stay absent.
BAD = [
    (VAE + ["--train.batch-size", "0"], "batch_size must be >= 1"),
    (VAE + ["--train.lr", "-1"], "train.lr must be > 0"),
    (VAE + ["--limit", "-1"], "data.limit must be >= 0"),
    (["train", "vae", "--data", "nosuchdata", "--runs-dir", "RUNS"], "nosuchdata"),
    (["sample", "RUN", "-n", "0"], "-n must be >= 1"),
    (["sample", "RUN", "-n", "-5"], "-n must be >= 1"),
    (["sample", "RUN", "-n", str(10 ** 9)], "<= 10000"),
    (["sample", "RUN", "-n", "200000", "--out", "s.npz"], "<= 100000"),
    (["sample", "RUN", "--out", "CWD"], "is a folder"),
    (["sample", "RUN", "--out", "CWD/x.png/"], "is a folder"),
    (["sample", "RUN", "--out", "nowhere/x.png"], "does not exist"),
    (["sample", "RUN", "--out", "x.jpg"], ".png or .npz"),
    (["sample", "RUN", "--out", "EXISTING"], "--overwrite"),
    (["sample", "RUN", "--label", "3"], "conditional"),
    (["sample", "RUN", "--option", "steps=20"], "no sampling option"),
    (["sample", "CWD/missing"], "not a genlab run"),
    (["reconstruct", "RUN", "-n", "0"], "-n must be >= 1"),
    (["reconstruct", "RUN", "-n", str(10 ** 9)], "<= 100000"),
    (["reconstruct", "RUN", "--out", "CWD"], "is a folder"),
    (["interpolate", "RUN", "--steps", "1"], "--steps must be >= 2"),
    (["interpolate", "RUN", "--pairs", "0"], "--pairs must be >= 1"),
    (["interpolate", "RUN", "--pairs", "5000"], "a grid holds at most"),
    (["inpaint", "RUN"], "cannot inpaint"),
    (["inpaint", "RUN", "-n", "0"], "-n must be >= 1"),
    (["inpaint", "RUN", "--resample", "0"], "--resample must be >= 1"),
    (["denoise", "RUN"], "cannot denoise"),
    (["denoise", "RUN", "--strength", "2"], "--strength must be > 0 and <= 1"),
    (["denoise", "RUN", "--noise-std", "-1"], "--noise-std must be > 0"),
    (["denoise", "RUN", "--image", "test:99999"], "the index must be in"),
    (["stylemix", "RUN"], "needs a stylegan model"),
    (["latent-walk", "RUN", "--steps", "1"], "--steps must be >= 2"),
    (["info", "CWD/missing"], "not a genlab run"),
    (["info", "CWD"], "not a genlab run"),
    (["eval", "RUN", "-n", "1"], "-n must be >= 2"),
    (["eval", "RUN", "--n-real", "0"], "--n-real must be >= 2"),
    (["eval", "RUN", "--iw-k", "0"], "--iw-k must be >= 1"),
    (["eval", "RUN", "--seeds"], "at least one seed"),
    (["eval", "RUN", "--out", "CWD"], "is a folder"),
    (["eval", "a", "b", "c"], "usage: genlab eval"),
    (["bench", "--data", "digits", "--out", "RUNS", "--threads", "-1"], "--threads must be >= 0"),
    (["bench", "--data", "digits", "--out", "RUNS", "--budget", "0"], "budget must be > 0"),
    (["bench", "--data", "digits", "--out", "RUNS", "--families", "nope"], "unknown family"),
    (["bench", "--data", "digits", "--out", "RUNS", "--n", "1"], "--n must be >= 2"),
    (["bench", "--data", "digits", "--out", "RUNS", "--curve-points", "0"], "--curve-points must be >= 1"),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("bad_input_run")
    cli("train", *TINY_VAE, "--runs-dir", str(runs), "--name", "v")
    return runs / "v"


@pytest.fixture
def place(run, tmp_path, monkeypatch) -> dict[str, str]:
    """An empty working folder (with one existing PNG) and a cache inside tmp_path; the names BAD uses."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "existing.png").write_bytes(b"not genlab's")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("GENLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GENLAB_DEBUG", raising=False)
    return {"RUNS": str(tmp_path / "runs"), "RUN": str(run), "CWD": str(cwd), "EXISTING": str(cwd / "existing.png")}


def everything(*roots: Path) -> dict[Path, int]:
    """Every path under the roots, with its size (0 for folders)."""
    return {p: (p.stat().st_size if p.is_file() else 0) for root in roots for p in root.rglob("*")}


def refused(args: list[str], place: dict[str, str], capsys) -> str:
    """Run genlab with `args` (names from `place` filled in); assert it exits 2 with one line and writes nothing;
    return that line."""
    args = [place.get(a, a) for a in args]
    args = [a.replace("CWD/", place["CWD"] + "/") for a in args]
    roots = (Path(place["CWD"]).parent, Path(place["RUN"]))
    before = everything(*roots)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli(*args)
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("genlab: error: "), err
    assert everything(*roots) == before
    assert not Path(place["RUNS"]).exists()
    return err


@pytest.mark.parametrize("flags, message", TRAIN_OPTIONS, ids=[" ".join(f) for f, _ in TRAIN_OPTIONS])
def test_train_options_are_refused_before_any_folder_is_made(place, capsys, flags, message):
    assert message in refused(VAE + flags, place, capsys)


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_invocations_give_one_line_and_write_nothing(place, capsys, args, message):
    assert message in refused(args, place, capsys)


def test_the_list_covers_every_command_it_should():
    commands = {args[0] for args, _ in BAD}
    assert {"train", "sample", "reconstruct", "interpolate", "inpaint", "denoise", "info", "eval", "bench"} <= commands
    assert len({tuple(args) for args, _ in BAD}) == len(BAD) >= 20
