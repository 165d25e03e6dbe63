"""The `ddpm` and `ldm` families beyond the shared contract: options, guidance, editing, latent diffusion."""

from __future__ import annotations

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.data.base import Batch
from genlab.models import build_model
from genlab.models.diffusion import samplers as SM
from genlab.runs import load_run, train
from genlab.runs import sample as sample_run
from tests.conftest import TINY, tiny_images


def ddpm(**extra):
    torch.manual_seed(0)
    return build_model("ddpm", {**TINY["ddpm"], **extra}, shape=(1, 8, 8), num_classes=4).eval()


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_preset_28_has_the_size_of_the_diffusers_reference():
    model = build_model("ddpm", {"conditional": True}, shape=(1, 28, 28), num_classes=10)
    # diffusers UNet2DModel(block_out_channels=(32, 64, 64), layers_per_block=1, attention at 14 and 7,
    # num_class_embeds=11) has exactly 1,164,513 parameters (benchmarks/diffusion_speed.py)
    assert sum(p.numel() for p in model.parameters()) == 1_164_513


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpmpp_2m"])
def test_every_sampler_runs_and_respects_labels(sampler):
    model = ddpm()
    x = model.sample(4, cond=torch.tensor([0, 1, 2, 3]), generator=gen(), sampler=sampler, steps=2, guidance=2.5).x
    assert x.shape == (4, 1, 8, 8) and 0 <= x.min() and x.max() <= 1


def test_guidance_zero_is_unconditional_and_one_is_conditional():
    model = ddpm()
    labels = torch.tensor([0, 1, 2, 3])
    uncond = model.sample(4, cond=torch.tensor([3, 2, 1, 0]), generator=gen(), sampler="ddim", steps=2, guidance=0.0)
    w0 = model.sample(4, cond=labels, generator=gen(), sampler="ddim", steps=2, guidance=0.0).x
    assert torch.equal(uncond.x, w0)  # guidance 0: the labels make no difference
    w1 = model.sample(4, cond=labels, generator=gen(), sampler="ddim", steps=2, guidance=1.0).x
    den = model.denoiser(labels, guidance=1.0)
    assert den.guidance == 1.0 and den.labels is not None
    x_T = torch.randn(4, 1, 8, 8, generator=gen())
    manual = SM.sample_ddim(den, x_T, model.timesteps_for(2, "ddim"))
    assert torch.allclose(w1, model.from_diffusion(manual))
    assert not torch.equal(w0, w1)


def test_sampling_options_are_validated():
    model = ddpm()
    with pytest.raises(ValueError, match="valid: \\['ddim', 'ddpm', 'dpmpp_2m'\\]"):
        model.sample(2, sampler="heun")
    with pytest.raises(ValueError, match="eta is an option of the ddim sampler"):
        model.sample(2, sampler="dpmpp_2m", eta=0.5)
    with pytest.raises(ValueError, match="sampling steps must be in \\[1, 20\\]"):
        model.sample(2, steps=21)
    no_null = ddpm(cond_drop=0.0)
    with pytest.raises(ValueError, match="null label"):
        no_null.sample(2, cond=torch.tensor([0, 1]), guidance=3.0)
    assert no_null.sample(2, cond=torch.tensor([0, 1]), steps=2).x.shape == (2, 1, 8, 8)  # default: w = 1
    with pytest.raises(ValueError, match="unknown schedule .sigmoid.; valid: linear, cosine"):
        ddpm(schedule="sigmoid")


def test_genlab_sample_passes_sampler_options(tmp_path):
    data = tiny_images(32)
    config = RunConfig("ddpm", dict(TINY["ddpm"]), DataConfig("tiny"),
                       TrainConfig(steps=2, batch_size=16, progress=False, device="cpu"))
    train(config, tmp_path / "run", data=data)
    out = sample_run(tmp_path / "run", n=4, sampler="ddim", steps=3, guidance=1.5, eta=0.5)
    assert out.x.shape == (4, 1, 8, 8) and torch.equal(out.y, torch.arange(4))
    with pytest.raises(ValueError, match="no sampling option\\(s\\) \\['temperature'\\]"):
        sample_run(tmp_path / "run", n=2, temperature=0.5)


def test_channels_last_gives_the_same_loss():
    data = tiny_images(8)
    a = ddpm(preset="tiny").train()
    b = ddpm(preset="tiny").train().to(memory_format=torch.channels_last)
    la = a.training_losses(Batch(data.images(), data.y), generator=gen())["loss"]
    lb = b.training_losses(Batch(data.images(), data.y).channels_last(), generator=gen())["loss"]
    assert torch.allclose(la, lb, rtol=1e-4)


@pytest.mark.parametrize("prediction", ["x0", "v"])
def test_other_targets_train(prediction):
    model = ddpm(prediction=prediction).train()
    data = tiny_images(8)
    loss = model.training_losses(Batch(data.images(), data.y), generator=gen())["loss"]
    assert torch.isfinite(loss)
    assert model.eval().sample(2, generator=gen(), steps=2).x.shape == (2, 1, 8, 8)


def test_inpaint_keeps_known_pixels_exactly():
    model = ddpm()
    x = tiny_images(3).images()
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    out = model.inpaint(x, mask, cond=torch.tensor([0, 1, 2]), generator=gen(), steps=4, jump_length=2,
                        resample=2)
    keep = ~mask.bool().expand_as(x)
    assert torch.equal(out[keep], x[keep])
    assert not torch.equal(out[~keep], x[~keep])
    with pytest.raises(ValueError, match="only 0 \\(keep\\) and 1"):
        model.inpaint(x, mask * 0.5, steps=2)


def test_denoise_by_noise_level_and_by_strength():
    model = ddpm()
    x = tiny_images(2).images()
    a = model.denoise(x, noise_std=0.2, steps=2, generator=gen())
    b = model.denoise(x, strength=0.3, generator=gen())
    assert a.shape == b.shape == x.shape and 0 <= a.min() and b.max() <= 1
    with pytest.raises(ValueError, match="strength must be in \\(0, 1\\]"):
        model.denoise(x, strength=0.0)


# --- latent diffusion ---------------------------------------------------------------------------------
def ldm(**extra):
    torch.manual_seed(0)
    return build_model("ldm", {**TINY["ldm"], **extra}, shape=(1, 8, 8), num_classes=4)


def test_ldm_standardizes_codes_with_the_first_batch_and_decodes_samples():
    model = ldm().train()
    data = tiny_images(16)
    assert not bool(model.z_ready)
    model.training_losses(Batch(data.images(), data.y), generator=gen())
    assert bool(model.z_ready) and model.x_shape == (4,)
    z = model._encode(data.images(), None)
    assert torch.allclose(model.z_mean, z.mean(0), atol=1e-6)
    first = model.z_mean.clone()
    model.training_losses(Batch(tiny_images(16, seed=1).images(), data.y), generator=gen())
    assert torch.equal(model.z_mean, first)  # fixed after the first batch
    x = model.eval().sample(3, cond=torch.tensor([0, 1, 2]), generator=gen()).x
    assert x.shape == (3, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    # the autoencoder is part of the model (and its checkpoint), frozen
    assert any(k.startswith("ae.") for k in model.state_dict())
    assert not any(p.requires_grad for p in model.ae.parameters())


def test_ldm_needs_a_latent_run(tmp_path):
    with pytest.raises(ValueError, match="--autoencoder RUN"):
        ldm(autoencoder_config="")
    data = tiny_images(32)
    config = RunConfig("ldm", {"autoencoder": str(tmp_path / "nothing"), "hidden": 16, "depth": 1, "timesteps": 20},
                       DataConfig("tiny"), TrainConfig(steps=1, batch_size=16, progress=False, device="cpu"))
    with pytest.raises(ValueError, match="does not exist"):
        train(config, tmp_path / "ldm", data=data)
    assert not (tmp_path / "ldm").exists()
    with pytest.raises(ValueError, match="is for images \\(1, 8, 8\\)"):
        build_model("ldm", TINY["ldm"], shape=(1, 28, 28), num_classes=4)


def test_an_ldm_run_keeps_its_autoencoder_when_the_autoencoder_run_is_gone(tmp_path):
    import shutil

    data = tiny_images(32)
    small = TrainConfig(steps=2, batch_size=16, progress=False, device="cpu")
    ae = train(RunConfig("ae", {"arch": "mlp", "hidden": (16,), "latent_dim": 4}, DataConfig("tiny"), small),
               tmp_path / "ae", data=data)
    options = {"autoencoder": str(tmp_path / "ae"), "hidden": 16, "depth": 1, "timesteps": 20, "sample_steps": 2}
    result = train(RunConfig("ldm", options, DataConfig("tiny"), small), tmp_path / "ldm", data=data)
    for k, v in ae.model.state_dict().items():  # the trained autoencoder's weights were copied in
        assert torch.equal(result.model.ae.state_dict()[k], v)
    before = sample_run(tmp_path / "ldm", n=3).x
    shutil.rmtree(tmp_path / "ae")
    run = load_run(tmp_path / "ldm")
    assert torch.equal(sample_run(run, n=3).x, before)


def test_an_ldm_cannot_embed_a_run_that_embeds_another(tmp_path):
    data = tiny_images(32)
    small = TrainConfig(steps=2, batch_size=16, progress=False, device="cpu")
    options = {"hidden": 16, "depth": 1, "timesteps": 20, "sample_steps": 2}
    train(RunConfig("ae", {"arch": "mlp", "hidden": (16,), "latent_dim": 4}, DataConfig("tiny"), small),
          tmp_path / "ae", data=data)
    train(RunConfig("ldm", {**options, "autoencoder": str(tmp_path / "ae")}, DataConfig("tiny"), small),
          tmp_path / "ldm", data=data)
    with pytest.raises(ValueError, match="is a ldm run, which itself embeds another run; pass a run of ae, cae, dae, "):
        train(RunConfig("ldm", {**options, "autoencoder": str(tmp_path / "ldm")}, DataConfig("tiny"), small),
              tmp_path / "ldm2", data=data)


def test_sample_reports_batches_and_the_denoising_steps_of_each():
    calls = []
    model = ddpm()
    x = model.sample(5, generator=gen(), steps=3, sampler="ddim", batch_size=2, progress=lambda *a: calls.append(a))
    assert x.x.shape == (5, 1, 8, 8)
    assert [c for c in calls if c[0] == "batch"] == [("batch", k, 3) for k in range(4)]
    steps = [c for c in calls if c[0] == "step"]
    assert steps == [("step", k, 3) for k in range(4)] * 3  # each batch runs (and reports) the whole chain
    # the batch bar is announced first, so it draws above the steps; each batch ends after its last step
    assert calls[0] == ("batch", 0, 3) and calls.index(("batch", 1, 3)) == calls.index(("step", 3, 3)) + 1


def test_the_default_batch_on_a_cpu_is_small_and_changes_no_deterministic_sample():
    model = ddpm()  # TINY: conditional with a null label, guidance 2 by default
    assert model.sample_batch(guided=True) == 64 and model.sample_batch(guided=False) == 128
    calls = []
    model.sample(140, generator=gen(), steps=2, sampler="ddim", progress=lambda *a: calls.append(a))
    assert [c for c in calls if c[0] == "batch"][-1] == ("batch", 3, 3)  # guided: 64 + 64 + 12
    calls.clear()
    model.sample(140, generator=gen(), steps=2, sampler="ddim", guidance=1.0, progress=lambda *a: calls.append(a))
    assert [c for c in calls if c[0] == "batch"][-1] == ("batch", 2, 2)  # one network input per image: 128 + 12
    one = model.sample(80, generator=gen(), steps=2, sampler="ddim").x  # the noise is drawn for all 80 first
    assert torch.allclose(one, model.sample(80, generator=gen(), steps=2, sampler="ddim", batch_size=80).x,
                          atol=1e-6)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        model.sample(2, batch_size=0)


def test_a_progress_hook_does_not_change_the_samples():
    model = ddpm()
    plain = model.sample(3, generator=gen(), steps=2).x
    assert torch.equal(plain, model.sample(3, generator=gen(), steps=2, progress=lambda *a: None).x)
