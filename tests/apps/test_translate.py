"""genlab/apps/translate.py and the public genlab.translate / genlab.upscale, on tiny runs."""

from __future__ import annotations

import pytest
import torch

import genlab
from genlab.apps.translate import translate, upscale
from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.eval.kinds import evaluate_kind
from genlab.models import build_model
from genlab.runs import train
from tests.conftest import TINY, tiny_images
from tests.models.tiny_families import tiny_domains, tiny_pairs


def config(family: str, steps: int, name: str = "tiny", name_b: str | None = None) -> RunConfig:
    return RunConfig(family, TINY[family], DataConfig(name, name_b=name_b),
                     TrainConfig(steps=steps, batch_size=8, log_every=2, checkpoint_every=2, progress=False,
                                 device="cpu"))


def test_translate_and_upscale_go_through_sample():
    data = tiny_pairs(4)
    sr = build_model("sr", TINY["sr"], spec=data.spec).eval()
    x = data.sources()
    assert torch.equal(upscale(sr, x), sr.sample(4, cond=x).x)
    assert upscale(sr, torch.rand(1, 1, 3, 5)).shape == (1, 1, 6, 10)
    p2p = build_model("pix2pix", TINY["pix2pix"], spec=data.spec).eval()
    assert translate(p2p, x).shape == (4, 1, 8, 8)


def test_refusals_name_what_would_work():
    vae = build_model("vae", TINY["vae"], spec=tiny_images(4).spec)
    with pytest.raises(ValueError, match="to upscale images train one of: cyclegan, pix2pix, sr, srgan"):
        upscale(vae, torch.rand(1, 1, 8, 8))
    cycle = build_model("cyclegan", TINY["cyclegan"], spec=tiny_domains(4).spec)
    with pytest.raises(ValueError, match="translates at one size"):
        upscale(cycle, torch.rand(1, 1, 8, 8))


@pytest.mark.parametrize("family, data", [("pix2pix", tiny_pairs), ("srgan", tiny_pairs), ("cyclegan", tiny_domains)])
def test_gan_translators_resume_exactly(family, data, tmp_path):
    d = data(32)
    whole = train(config(family, 4), tmp_path / "whole", data=d)
    train(config(family, 2), tmp_path / "parts", data=d)
    parts = train(config(family, 4), tmp_path / "parts", data=d, resume=True)
    for (k, a), b in zip(whole.model.state_dict().items(), parts.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_public_api_and_pair_metrics(tmp_path):
    train(config("sr", 4, "sr2:digits"), tmp_path / "sr")
    x = torch.rand(2, 1, 4, 4)
    run = genlab.load_run(tmp_path / "sr")
    assert torch.equal(genlab.upscale(tmp_path / "sr", x), upscale(run.model, x))
    assert genlab.translate(run, x).shape == (2, 1, 8, 8)
    test = genlab.load_data("sr2:digits", split="test")
    metrics = evaluate_kind(run.model, test, n=50)
    assert metrics["pairs"] == 50 and 0 < metrics["ssim"] <= 1 and metrics["psnr"] > 0


def test_unpaired_run_loads_both_domains(tmp_path):
    result = train(config("cyclegan", 2, "thin:digits", "thick:digits"), tmp_path / "cycle")
    assert result.model.spec.source_shape == result.model.spec.shape == (1, 8, 8)


def test_pair_metrics_refuse_unpaired_domains():
    data = tiny_domains(8)
    model = build_model("cyclegan", TINY["cyclegan"], spec=data.spec)
    with pytest.raises(ValueError, match="two unpaired domains: no source has a true target"):
        evaluate_kind(model, data)
