"""The GAN families (gan, dcgan, cgan, wgan-gp): networks, options, the trainer's per-player hooks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.config import ConfigError, DataConfig, RunConfig, TrainConfig
from genlab.data.base import Batch
from genlab.models import build_model
from genlab.models.base import capabilities
from genlab.runs import load_run, train
from genlab.runs import sample as sample_run
from genlab.training.trainer import Trainer
from tests.conftest import TINY, tiny_images


def make(family: str, shape=(1, 8, 8), num_classes: int = 4, **extra):
    torch.manual_seed(0)
    return build_model(family, {**TINY[family], **extra}, shape=shape, num_classes=num_classes)


def run_config(family: str, steps: int = 6, log_every: int = 2, ema_decay: float = 0.0, **extra) -> RunConfig:
    tc = TrainConfig(steps=steps, batch_size=8, log_every=log_every, ema_decay=ema_decay, progress=False)
    return RunConfig(family, {**TINY[family], **extra}, DataConfig("tiny"), tc)


def test_mlp_gan_has_the_classic_sizes():
    model = build_model("gan", {}, shape=(1, 28, 28))
    g = [m.out_features for m in model.G.modules() if isinstance(m, nn.Linear)]
    d = [m.out_features for m in model.D.modules() if isinstance(m, nn.Linear)]
    assert g == [128, 256, 784] and d == [128, 64, 1]
    assert model.config.latent_dim == 100 and isinstance(list(model.G.body)[-2], nn.Tanh)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_dcgan_shapes_and_architecture(shape):
    model = build_model("dcgan", {"channels": (8, 16), "latent_dim": 16}, shape=shape).eval()
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).x.shape == (3, *shape)
    kinds = [type(m) for m in model.G.body]
    assert kinds.count(nn.Linear) == 1 and kinds[0] is nn.Linear  # "project and reshape", no hidden FC layers
    assert nn.MaxPool2d not in kinds and nn.ConvTranspose2d in kinds and kinds[-1] is nn.Tanh
    assert nn.BatchNorm2d in kinds and nn.ReLU in kinds
    d_kinds = [type(m) for m in model.D.features]
    assert nn.LeakyReLU in d_kinds and nn.BatchNorm2d in d_kinds and nn.Conv2d in d_kinds
    assert d_kinds[1] is nn.Identity  # no batch norm on D's input layer


def test_dcgan_defaults_are_the_papers_optimizer():
    trainer = Trainer(run_config("dcgan"), tiny_images(32))
    for name in ("d", "g"):
        group = trainer.optimizers[name].param_groups[0]
        assert group["lr"] == 2e-4 and group["betas"] == (0.5, 0.999)
    wg = Trainer(run_config("wgan-gp"), tiny_images(32))
    assert wg.optimizers["d"].param_groups[0]["lr"] == 1e-4
    assert wg.optimizers["g"].param_groups[0]["betas"] == (0.5, 0.9)


def test_players_split_the_parameters():
    model = make("dcgan")
    players = model.players()
    assert [p.name for p in players] == ["d", "g"]
    d, g = ({id(p) for p in player.params} for player in players)
    assert not d & g and d | g == {id(p) for p in model.parameters()}
    assert [p.every for p in make("wgan-gp").players()] == [1, 5]  # n_critic D steps per G step


def test_generator_step_leaves_no_gradient_on_the_discriminator():
    model = make("dcgan")
    data = tiny_images(8)
    losses = model.training_losses(Batch(data.images()), generator=torch.Generator().manual_seed(0), player="g")
    losses["loss"].backward()
    assert all(p.grad is None for p in model.D.parameters())
    assert all(p.requires_grad for p in model.D.parameters())  # unfrozen afterwards
    assert any(p.grad is not None for p in model.G.parameters())


def test_n_critic_steps_the_generator_every_kth_step_and_logs_true_means(tmp_path):
    config = run_config("wgan-gp", steps=6, log_every=4, n_critic=3)
    data = tiny_images(32)
    trainer = Trainer(config, data, tmp_path)
    result = trainer.fit()
    steps = lambda opt: int(next(iter(opt.state.values()))["step"])
    assert steps(trainer.optimizers["d"]) == 6 and steps(trainer.optimizers["g"]) == 2  # steps 0 and 3
    first = result.history[0]  # steps 0..3: the generator ran at 0 and 3
    for key in ("d/loss", "g/loss", "d/d_real", "d/d_fake", "d/wasserstein", "d/gp", "d/grad_norm", "g/grad_norm"):
        assert key in first, key
    assert trainer.schedulers["g"].last_epoch == 6  # every schedule follows the trainer's step


def test_g_loss_average_counts_only_generator_steps(tmp_path):
    logged = []
    config = run_config("wgan-gp", steps=4, log_every=4, n_critic=2)
    trainer = Trainer(config, tiny_images(32))
    real = trainer.model.training_losses

    def fixed(batch, *, generator=None, player=None):
        out = real(batch, generator=generator, player=player)
        if player == "g":
            out["loss"] = out["loss"] * 0 + 5.0 + out["loss"].detach() * 0
        return out

    trainer.model.training_losses = fixed
    trainer.callbacks.append(lambda t, r: logged.append(r))
    trainer.fit()
    assert logged[0]["g/loss"] == pytest.approx(5.0)


def test_optimizer_options_reach_the_trainer_and_train_options_stay_for_others():
    trainer = Trainer(run_config("gan", lr_d=3e-4, lr_g=1e-4, betas=(0.0, 0.9)), tiny_images(32))
    assert trainer.optimizers["d"].param_groups[0]["lr"] == 3e-4
    assert trainer.optimizers["g"].param_groups[0]["lr"] == 1e-4
    assert trainer.optimizers["g"].param_groups[0]["betas"] == (0.0, 0.9)


def test_conditional_sampling_and_label_checks():
    model = make("cgan").eval()
    g = lambda: torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1, 2, 3])
    a = model.sample(4, cond=labels, generator=g()).x
    b = model.sample(4, cond=torch.tensor([3, 2, 1, 0]), generator=g()).x
    assert a.shape == (4, 1, 8, 8) and not torch.equal(a, b)
    out = model.sample(4, generator=g())
    assert out.x.shape == (4, 1, 8, 8) and torch.equal(out.y, labels)  # every class in turn when none are given
    with pytest.raises(ValueError, match="class indices in \\[0, 4\\)"):
        model.sample(2, cond=torch.tensor([0, 7]))
    assert "conditional" in capabilities(model) and model.conditional
    assert isinstance(model.D.embed, nn.Embedding) and model.G.embed is not None  # projection D, embedding G


def test_truncation_shrinks_the_latent_and_is_validated():
    model = make("dcgan").eval()
    g = lambda: torch.Generator().manual_seed(1)
    full = model.sample(64, generator=g()).x
    assert torch.equal(full, model.sample(64, generator=g(), truncation=1.0).x)
    tight = model.sample(64, generator=g(), truncation=0.1).x
    assert tight.var(0).mean() < full.var(0).mean()
    with pytest.raises(ValueError, match="truncation must be in \\(0, 1\\]"):
        model.sample(2, truncation=1.5)


def test_the_config_truncation_is_what_sample_uses_unless_told():
    g = lambda: torch.Generator().manual_seed(1)
    base, set_ = make("gan").eval(), make("gan", truncation=0.5).eval()
    set_.load_state_dict(base.state_dict())
    assert torch.equal(set_.sample(16, generator=g()).x, base.sample(16, generator=g(), truncation=0.5).x)
    assert torch.equal(set_.sample(16, generator=g(), truncation=1.0).x, base.sample(16, generator=g()).x)
    with pytest.raises(ConfigError, match="truncation"):
        make("gan", truncation=0.0)


def test_the_style_generator_samples_without_its_noise_when_told():
    """noise=False (or the config's sample_noise=False, the cpu preset's) draws what the styles alone give: the
    synthesis with zero noise inputs; other GANs have no such noise and say so."""
    g = lambda: torch.Generator().manual_seed(1)
    base, quiet = make("stylegan").eval(), make("stylegan", sample_noise=False).eval()
    for p in base.G.parameters():  # the noise strengths start at 0: give them some, so that noise shows
        if p.ndim == 0:
            p.data.fill_(0.5)
    quiet.load_state_dict(base.state_dict())
    clean = base.sample(8, generator=g(), noise=False).x
    assert torch.equal(quiet.sample(8, generator=g()).x, clean)
    assert torch.equal(clean, base.generate(base.latent(8, g()), noise="none"))
    assert not torch.equal(base.sample(8, generator=g()).x, clean)
    with pytest.raises(ValueError, match="this dcgan model has none"):
        make("dcgan").sample(2, noise=False)
    with pytest.raises(ValueError, match="arch='conv' has none"):
        make("dcgan", sample_noise=False)


def test_an_option_sampling_does_not_take_is_a_one_line_error():
    from genlab.eval.report import draw_samples

    message = r"a dcgan model has no sampling option\(s\) \['steps'\]; valid: \['truncation', 'noise'\]"
    with pytest.raises(ValueError, match=message):
        draw_samples(make("dcgan").eval(), 4, seed=0, options={"steps": 10})


@pytest.mark.parametrize("options, match", [
    ({"loss": "lsgan"}, "valid: ns, minimax, hinge, wgan"),
    ({"gp": 10.0, "d_norm": "batch"}, "d_norm='none'"),
    ({"diffaug": "flip"}, "valid: color, translation, cutout"),
    ({"n_critic": 0}, "n_critic must be >= 1"),
    ({"watchdog": "loud"}, "valid: off, warn, rollback"),
    ({"d_norm": "layer"}, "valid: batch, none"),
])
def test_bad_options_are_clear_errors(options, match):
    with pytest.raises(ValueError, match=match):
        make("dcgan", **options)


def test_conditional_needs_labels():
    with pytest.raises(ValueError, match="labelled data"):
        build_model("cgan", TINY["cgan"], shape=(1, 8, 8), num_classes=0)


def test_channels_must_divide_the_image():
    with pytest.raises(ValueError, match="divisible by 8"):
        build_model("dcgan", {"channels": (4, 8, 16)}, shape=(1, 28, 28))


@pytest.mark.parametrize("options", [{"loss": "hinge", "spectral_norm": True}, {"r1": 1.0, "d_norm": "none"},
                                     {"diffaug": "color,translation,cutout"}, {"loss": "minimax"}])
def test_options_train_with_finite_losses(options):
    model = make("dcgan", **options)
    data = tiny_images(16)
    for player in ("d", "g"):
        losses = model.training_losses(Batch(data.images()), generator=torch.Generator().manual_seed(0), player=player)
        losses["loss"].backward()
        assert all(torch.isfinite(v) for v in losses.values())
    if options.get("r1"):
        gen = torch.Generator().manual_seed(0)
        assert "r1" in model.training_losses(Batch(data.images()), generator=gen, player="d")


@pytest.mark.parametrize("penalty", ["gp", "r1"])
def test_lazy_regularization_applies_the_penalty_every_k_steps_with_weight_k(penalty):
    """reg_every=k: the penalty only on trainer steps divisible by k, k times as heavy there."""
    data = tiny_images(16).images()
    options = {"loss": "wgan" if penalty == "gp" else "ns", "d_norm": "none", penalty: 2.0}
    every, lazy = make("dcgan", **options), make("dcgan", **options, reg_every=4)
    lazy.load_state_dict(every.state_dict())
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    for step in range(5):
        every.on_train_step(step, 5)
        lazy.on_train_step(step, 5)
        a = every.training_losses(Batch(data), generator=g(), player="d")
        b = lazy.training_losses(Batch(data), generator=g(), player="d")
        if step % 4 == 0:
            weight = 2.0 if penalty == "gp" else 1.0  # r1 enters as gamma / 2
            assert torch.allclose(b["loss"] - a["loss"], 3 * weight * a[penalty], rtol=1e-4, atol=1e-6)
        else:
            assert penalty not in b
            assert torch.allclose(b["loss"], a["loss"] - weight * a[penalty], rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="reg_every must be >= 1"):
        make("dcgan", reg_every=0)


def test_top_k_generator_loss_uses_the_fakes_d_rates_most_real_after_the_ramp():
    """top_k=f: G's adversarial loss is the loss of the ceil(f * b) highest-scored fakes, the fraction
    falling linearly from 1 over top_k_ramp steps."""
    model = make("dcgan", loss="hinge", top_k=0.25, top_k_ramp=10)
    scores = torch.tensor([3.0, -1.0, 0.5, 2.0, -4.0, 1.0, 0.0, -2.0])
    model.on_train_step(0, 100)
    assert model.top_k_fraction() == 1.0 and torch.equal(model.top_k(scores), scores)
    model.on_train_step(5, 100)
    assert model.top_k_fraction() == pytest.approx(0.625)
    assert sorted(model.top_k(scores).tolist()) == [0.0, 0.5, 1.0, 2.0, 3.0]  # ceil(0.625 * 8) = 5
    model.on_train_step(50, 100)
    assert sorted(model.top_k(scores).tolist()) == [2.0, 3.0]
    data = tiny_images(8).images()
    loss = model.training_losses(Batch(data), generator=torch.Generator().manual_seed(0), player="g")["loss"]
    with torch.no_grad():  # the same fakes, scored by D: the loss is minus the mean of the top two
        fake = model.G(model.latent(8, torch.Generator().manual_seed(0)))
        top = model.D(fake).topk(2).values
    assert torch.allclose(loss, -top.mean(), atol=1e-6)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="top_k must be > 0 and <= 1"):
            make("dcgan", top_k=bad)


def test_feature_matching_adds_the_distance_of_d_feature_means_to_g_loss():
    data = tiny_images(8).images()
    plain, fm = make("dcgan", d_norm="none"), make("dcgan", d_norm="none", feature_matching=3.0)
    fm.load_state_dict(plain.state_dict())
    a = plain.training_losses(Batch(data), generator=torch.Generator().manual_seed(0), player="g")
    b = fm.training_losses(Batch(data), generator=torch.Generator().manual_seed(0), player="g")
    with torch.no_grad():  # the same fakes; the real batch is the data mapped to [-1, 1]
        fake = fm.G(fm.latent(8, torch.Generator().manual_seed(0)))
        want = (fm.D.features(fake).mean(0) - fm.D.features(data * 2 - 1).mean(0)).square().mean()
    assert torch.allclose(b["feature_matching"], want, rtol=1e-5)
    assert torch.allclose(b["loss"], a["loss"] + 3.0 * want, rtol=1e-5)
    b["loss"].backward()
    assert all(p.grad is None for p in fm.D.parameters())  # only G learns from it
    with pytest.raises(ValueError, match="feature_matching must be >= 0"):
        make("dcgan", feature_matching=-1.0)


def test_pack_shows_d_groups_of_samples_stacked_along_channels():
    model = make("dcgan", pack=2)
    x = torch.rand(5, 1, 8, 8)
    packed = model.pack(x)
    assert packed.shape == (2, 2, 8, 8)  # the fifth image is left out
    assert torch.equal(packed[1, 0], x[2, 0]) and torch.equal(packed[1, 1], x[3, 0])
    data = tiny_images(16).images()
    for options in ({}, {"loss": "wgan", "gp": 10.0, "d_norm": "none"}, {"r1": 1.0, "d_norm": "none"}):
        m = make("dcgan", pack=2, **options)
        for player in ("d", "g"):
            losses = m.training_losses(Batch(data), generator=torch.Generator().manual_seed(0), player=player)
            losses["loss"].backward()
            assert torch.isfinite(losses["loss"])
    with pytest.raises(ValueError, match="pack > 1 \\(PacGAN\\) needs an unconditional model"):
        build_model("cgan", {**TINY["cgan"], "pack": 2}, shape=(1, 8, 8), num_classes=4)


def test_trained_run_samples_with_truncation_option(tmp_path):
    data = tiny_images(32)
    train(run_config("cgan", steps=4, ema_decay=0.9), tmp_path / "run", data=data)
    r = load_run(tmp_path / "run")
    x = sample_run(r, 8, truncation=0.5).x
    assert x.shape == (8, 1, 8, 8) and 0 <= x.min() and x.max() <= 1
    with pytest.raises(ValueError, match="no sampling option"):
        sample_run(r, 2, steps=3)


def test_cli_sample_truncation_and_latent_walk(tmp_path, capsys):
    from genlab.cli import main

    train(run_config("dcgan", steps=2), tmp_path / "run", data=tiny_images(32))
    main(["sample", str(tmp_path / "run"), "-n", "4", "--out", str(tmp_path / "s.png"), "--option", "truncation=0.7"])
    main(["latent-walk", str(tmp_path / "run"), "--rows", "2", "--steps", "3", "--out", str(tmp_path / "w.png")])
    assert (tmp_path / "s.png").exists() and (tmp_path / "w.png").exists()
    with pytest.raises(SystemExit):
        main(["stylemix", str(tmp_path / "run"), "--out", str(tmp_path / "m.png")])
    assert "style mixing needs a stylegan model" in capsys.readouterr().err


def test_mode_seeking_term_follows_its_definition_and_pairs_share_labels():
    from genlab.models.gan.model import mode_seeking_ratio

    x1, x2, z1, z2 = torch.ones(2, 3), torch.zeros(2, 3), torch.full((2, 4), 2.0), torch.zeros(2, 4)
    assert mode_seeking_ratio(x1, x2, z1, z2).item() == pytest.approx(0.5)
    m = make("cgan", num_classes=3, mode_seeking=2.0)
    y = torch.tensor([0, 1, 2, 0, 1])
    seen = {}
    real_g = m.G.forward

    def spy(z, labels=None):
        seen["y"], seen["z"] = labels, z
        return real_g(z, labels)

    m.G.forward = spy
    torch.manual_seed(0)
    out = m.training_losses(Batch(torch.rand(5, 1, 8, 8), y), player="g", generator=torch.Generator().manual_seed(1))
    assert seen["y"].tolist() == [0, 1, 0, 1, 1]  # pairs (0, 2) and (1, 3) share a label; the odd one keeps its own
    fake = real_g(seen["z"], seen["y"])
    ratio = mode_seeking_ratio(fake[:2], fake[2:4], seen["z"][:2], seen["z"][2:4])
    assert out["ms_ratio"].item() == pytest.approx(ratio.item(), rel=1e-5)
    with pytest.raises(ValueError, match="mode_seeking must be >= 0"):
        make("cgan", num_classes=3, mode_seeking=-1.0)
