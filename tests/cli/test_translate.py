"""`genlab translate` and `genlab upscale` on tiny runs of the digits (8x8) pairs, and `--data-b`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.cli.conftest import cli

STEPS = ["--train.steps", "3", "--train.batch-size", "8", "--train.no-progress", "--train.log-every", "1"]


def png(path, size, mode="L"):
    arr = np.random.default_rng(0).integers(0, 256, (size, size) if mode == "L" else (size, size, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return str(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cli("train", "sr", "--data", "sr2:digits", "--width", "4", "--blocks", "1", *STEPS, "--runs-dir", str(root),
        "--name", "sr")
    cli("train", "pix2pix", "--data", "edges:digits", "--channels", "4", "8", "--d-channels", "4", *STEPS,
        "--runs-dir", str(root), "--name", "p2p")
    cli("train", "cyclegan", "--data", "thin:digits", "--data-b", "thick:digits", "--channels", "4", "8",
        "--d-channels", "4", *STEPS, "--runs-dir", str(root), "--name", "cycle")
    return root


def test_upscale_any_size(runs, tmp_path):
    out = tmp_path / "big.png"
    cli("upscale", str(runs / "sr"), "--image", png(tmp_path / "small.png", 5, "RGB"), "--out", str(out))
    with Image.open(out) as im:
        assert im.size == (10, 10)


def test_translate_writes_the_translation(runs, tmp_path):
    out = tmp_path / "digit.png"
    cli("translate", str(runs / "p2p"), "--image", png(tmp_path / "edges.png", 8), "--out", str(out))
    with Image.open(out) as im:
        assert im.size == (8, 8)


def test_cyclegan_translates_both_ways_and_records_domain_b(runs, tmp_path):
    saved = json.loads((runs / "cycle" / "config.json").read_text())
    assert saved["data"]["name"] == "thin:digits" and saved["data"]["name_b"] == "thick:digits"
    for direction in ("ab", "ba"):
        out = tmp_path / f"{direction}.png"
        cli("translate", str(runs / "cycle"), "--image", png(tmp_path / "in.png", 8), "--out", str(out),
            "--direction", direction)
        assert out.exists()


@pytest.mark.parametrize("args, message", [
    (["upscale", "p2p", "--image", "IMG8"], "translates at one size (8 px); upscale needs a super-resolution run"),
    (["translate", "p2p", "--image", "IMG5"], "is 5x5; this model takes 8x8 images only"),
    (["translate", "p2p", "--image", "IMG8", "--direction", "ba"], "translates one way only"),
    (["translate", "p2p", "--image", "missing.png"], "does not exist"),
])
def test_bad_input_is_one_line(runs, tmp_path, capsys, args, message):
    images = {"IMG8": png(tmp_path / "a.png", 8), "IMG5": png(tmp_path / "b.png", 5)}
    args = [str(runs / a) if a == "p2p" else images.get(a, a) for a in args]
    with pytest.raises(SystemExit) as e:
        cli(*args, "--out", str(tmp_path / "out.png"))
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and err.count("\n") == 1


def test_translate_refuses_a_run_of_images(trained, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli("translate", str(trained), "--image", png(tmp_path / "a.png", 8), "--out", str(tmp_path / "o.png"))
    assert "generates images from nothing; to translate images train one of: cyclegan, pix2pix, sr, srgan" in \
        capsys.readouterr().err
