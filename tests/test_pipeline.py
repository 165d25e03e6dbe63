"""A clip run, then a t2i run embedding it (--text-encoder), then genlab.pipeline and `genlab generate`."""

from __future__ import annotations

import torch

import genlab
from genlab.cli import main
from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import load_run, train
from tests.conftest import TINY, TINY_CLIP
from tests.models.tiny_families import tiny_image_text


def tc(steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch_size=8, log_every=2, progress=False, device="cpu")


def test_clip_then_t2i_then_pipeline_and_cli(tmp_path, capsys):
    data = tiny_image_text(32)
    train(RunConfig("clip", TINY_CLIP, DataConfig("tiny"), tc(4)), tmp_path / "clip", data=data)
    options = {k: v for k, v in TINY["t2i"].items() if k != "text_encoder_config"}
    options["text_encoder"] = str(tmp_path / "clip")
    train(RunConfig("t2i", options, DataConfig("tiny"), tc(4)), tmp_path / "t2i", data=data)
    run = load_run(tmp_path / "t2i")
    clip = load_run(tmp_path / "clip").model
    for k, v in clip.state_dict().items():  # the clip's weights travel inside the t2i run
        assert torch.equal(run.model.clip.state_dict()[k], v), k
    x = genlab.pipeline(tmp_path / "t2i")("bright top left", n=3, guidance=2, seed=0)
    assert x.shape == (3, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    out = tmp_path / "grid.png"
    main(["generate", str(tmp_path / "t2i"), "bright top left", "-n", "4", "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote 4 images" in capsys.readouterr().out
