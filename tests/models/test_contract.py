"""The shared contract, run over every entry of FAMILIES (shared ARCHITECTURE.md)."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import Batch
from genlab.models import FAMILIES, build_model
from genlab.models.base import CAPABILITIES, Latent, Likelihood, Reconstruct, Sampler, capabilities
from genlab.training.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import TINY, tiny_images

FAMILY_NAMES = sorted(FAMILIES)


def make(family: str, **extra):
    torch.manual_seed(0)
    return build_model(family, {**TINY[family], **extra}, shape=(1, 8, 8), num_classes=4)


def overfit(family: str, player: str | None, steps: int = 150) -> tuple[float, float]:
    """The loss on one tiny batch before and after `steps` Adam steps of `player` (None: the whole model)."""
    model = make(family)
    data = tiny_images(16)
    batch = Batch(data.images(), data.y)
    params = [p for p in model.parameters() if p.requires_grad] if player is None else \
        next(p for p in model.players() if p.name == player).params
    opt = torch.optim.Adam(params, lr=3e-3)

    def loss_at(seed):
        return model.training_losses(batch, generator=torch.Generator().manual_seed(seed), player=player)["loss"]

    with torch.no_grad():
        before = loss_at(0).item()
    for step in range(steps):
        opt.zero_grad()
        loss_at(step).backward()
        opt.step()
    with torch.no_grad():
        after = loss_at(0).item()
    return before, after


def test_every_family_has_tiny_options():
    assert sorted(TINY) == FAMILY_NAMES


@pytest.mark.parametrize("family", FAMILY_NAMES)
class TestContract:
    def test_declares_known_capabilities(self, family):
        cls = FAMILIES[family]
        assert cls.family == family
        assert capabilities(cls) <= CAPABILITIES
        assert capabilities(make(family)) <= capabilities(cls)

    def test_losses_are_named_finite_scalars(self, family):
        data = tiny_images(16)
        losses = make(family).training_losses(Batch(data.images(), data.y), generator=torch.Generator().manual_seed(0))
        assert "loss" in losses
        for name, value in losses.items():
            assert value.ndim == 0, name
            assert torch.isfinite(value), name

    def test_gradients_reach_every_parameter(self, family):
        model = make(family)
        data = tiny_images(16)
        losses = model.training_losses(Batch(data.images(), data.y), generator=torch.Generator().manual_seed(0))
        losses["loss"].backward()
        for name, p in model.named_parameters():
            if not p.requires_grad:  # frozen parts (an ldm's autoencoder)
                continue
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"

    def test_sample_shape_and_range(self, family):
        model = make(family).eval()
        assert isinstance(model, Sampler)
        out = model.sample(5, generator=torch.Generator().manual_seed(0))
        x = out.x
        assert x.shape == (5, 1, 8, 8)
        assert x.min() >= 0 and x.max() <= 1 and torch.isfinite(x).all()
        if model.conditional:  # the labels drawn for come back with the samples: every class in turn
            assert torch.equal(out.y, torch.arange(5) % 4)
        else:
            assert out.y is None

    def test_same_generator_same_samples(self, family):
        model = make(family).eval()
        a = model.sample(4, generator=torch.Generator().manual_seed(3)).x
        b = model.sample(4, generator=torch.Generator().manual_seed(3)).x
        c = model.sample(4, generator=torch.Generator().manual_seed(4)).x
        assert torch.equal(a, b)
        assert not torch.equal(a, c)

    def test_loss_falls_when_overfitting_one_batch(self, family):
        # A model with several players (a GAN) plays a game, not one objective: there, each player's
        # loss must fall while it alone trains and the others stay fixed.
        players = [p.name for p in make(family).players()]
        for player in (players if len(players) > 1 else [None]):
            before, after = overfit(family, player, steps=150 if player is None else 75)
            assert after < 0.85 * before, (player, before, after)

    def test_save_load_round_trip(self, family, tmp_path):
        model = make(family).eval()
        save_checkpoint(tmp_path, 7, model=model.state_dict(), state={"step": 7})
        loaded = load_checkpoint(tmp_path / "step_00000007")
        other = make(family)
        with torch.no_grad():
            for p in other.parameters():
                p.add_(1.0)
        other.load_state_dict(loaded["model"])
        other.eval()
        g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
        assert torch.equal(model.sample(3, generator=g()).x, other.sample(3, generator=g()).x)
        assert loaded["meta"]["step"] == 7

    def test_capabilities_work(self, family):
        model = make(family).eval()
        x = tiny_images(6).images()
        y = torch.arange(6) % 4
        if isinstance(model, Reconstruct):
            assert model.reconstruct(x, y).shape == x.shape
        if isinstance(model, Latent):
            z = model.encode(x, y)
            assert isinstance(z, torch.Tensor) and z.shape[0] == 6  # one return type for every family
            assert model.decode(z, y).shape == x.shape
        if isinstance(model, Likelihood):
            assert model.likelihood_kind in ("binary", "discrete", "continuous")
            nll = model.nll((x > 0.5).float(), y, generator=torch.Generator().manual_seed(0))
            assert nll.shape == (6,) and torch.isfinite(nll).all() and (nll > 0).all()


def test_unknown_family_lists_valid_ones():
    with pytest.raises(ValueError, match="valid: \\['ae'"):
        build_model("gann", {}, shape=(1, 8, 8))


def test_unknown_option_names_it():
    with pytest.raises(ValueError, match="latent_dims"):
        build_model("vae", {"latent_dims": 3}, shape=(1, 8, 8))
