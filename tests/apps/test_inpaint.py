"""Inpainting and denoising apps, written against capabilities, and their CLI commands."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.apps.denoise import add_noise, denoise
from genlab.apps.inpaint import inpaint, load_image, load_mask, named_mask
from genlab.cli import main
from genlab.models import build_model
from tests.conftest import TINY, tiny_images


def tiny_ddpm():
    torch.manual_seed(0)
    return build_model("ddpm", TINY["ddpm"], shape=(1, 8, 8), num_classes=4).eval()


@pytest.mark.parametrize("name", ["left", "right", "top", "bottom", "center", "noise"])
def test_inpaint_keeps_every_known_pixel(name):
    x = tiny_images(2).images()
    mask = named_mask(name, (1, 8, 8), torch.Generator().manual_seed(0))
    assert 0 < mask.sum() < 64
    out = inpaint(tiny_ddpm(), x, mask, generator=torch.Generator().manual_seed(0), steps=3, jump_length=2,
                  resample=2)
    keep = (mask == 0).expand_as(x)
    assert torch.equal(out[keep], x[keep])


def test_apps_refuse_models_without_the_capability():
    vae = build_model("vae", TINY["vae"], shape=(1, 8, 8))
    with pytest.raises(ValueError, match="cannot inpaint; families that can: ddpm"):
        inpaint(vae, torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match="cannot denoise; families that can: dae, ddpm"):
        denoise(vae, torch.zeros(1, 1, 8, 8), noise_std=0.1)


def test_denoise_app_and_noise():
    x = tiny_images(2).images()
    noisy = add_noise(x, 0.3, torch.Generator().manual_seed(0))
    assert (noisy - x).std().item() == pytest.approx(0.3, rel=0.2)
    out = denoise(tiny_ddpm(), noisy, noise_std=0.3, generator=torch.Generator().manual_seed(0), steps=2)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1


def test_image_and_mask_files(tmp_path):
    img = np.zeros((16, 16), dtype=np.uint8)
    img[:, 8:] = 255
    Image.fromarray(img).save(tmp_path / "mask.png")
    m = load_mask(str(tmp_path / "mask.png"), (1, 8, 8))
    assert m.shape == (1, 1, 8, 8) and m[..., :, 4:].min() == 1 and m[..., :, :4].max() == 0
    x = load_image(tmp_path / "mask.png", (3, 8, 8))
    assert x.shape == (1, 3, 8, 8) and x.max() == 1
    with pytest.raises(ValueError, match="neither an image file nor one of"):
        load_mask("diamond", (1, 8, 8))


def test_cli_inpaint_and_denoise(tmp_path, capsys):
    main(["train", "ddpm", "--data", "digits", "--preset", "tiny", "--timesteps", "20", "--sample-steps", "2",
          "--conditional",
          "--train.steps", "2", "--train.batch-size", "16", "--train.no-progress", "--runs-dir", str(tmp_path),
          "--name", "d"])
    run = str(tmp_path / "d")
    main(["inpaint", run, "--image", "test:3", "--mask", "left", "-n", "2", "--steps", "3", "--jump-length", "2",
          "--resample", "2", "--out", str(tmp_path / "i.png")])
    assert Image.open(tmp_path / "i.png").size[0] > 16 and "2 completions" in capsys.readouterr().out
    main(["denoise", run, "--image", "test:0", "--add-noise", "0.2", "-n", "2", "--steps", "2",
          "--out", str(tmp_path / "d.png")])
    assert (tmp_path / "d.png").exists() and "noise std 0.2" in capsys.readouterr().out
    main(["sample", run, "-n", "4", "--option", "sampler=ddim", "--option", "steps=2", "--option", "guidance=3",
          "--out", str(tmp_path / "s.png")])
    assert (tmp_path / "s.png").exists()
    with pytest.raises(SystemExit):
        main(["inpaint", run, "--mask", "diamond", "--out", str(tmp_path / "x.png")])
    assert "diamond" in capsys.readouterr().err


def test_load_image_reads_only_genlab_formats(tmp_path):
    from genlab.data.base import DataError

    eps = tmp_path / "x.png"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n%%EOF\n")
    with pytest.raises(DataError, match=r"x\.png: cannot read image"):
        load_image(eps, (1, 8, 8))
