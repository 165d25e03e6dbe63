"""The shared contract, run over every entry of FAMILIES and over the tiny families of the other data
kinds (tests/models/tiny_families.py), parameterised by capability (shared ARCHITECTURE.md)."""

from __future__ import annotations

import pytest
import torch

from genlab.config import from_dict, validate
from genlab.data.base import Batch
from genlab.models import FAMILIES
from genlab.models.base import (
    CAPABILITIES,
    Embed,
    Fitted,
    Latent,
    Likelihood,
    Reconstruct,
    Sampler,
    Samples,
    capabilities,
)
from genlab.training.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import TINY, tiny_images
from tests.models.tiny_families import TINY_DATA, TINY_FAMILIES

ALL = {**FAMILIES, **TINY_FAMILIES}
FAMILY_NAMES = sorted(ALL)


def data_for(family: str, n: int = 16):
    maker = TINY_DATA.get(family)
    return maker(n) if maker is not None else tiny_images(n)


def make(family: str, **extra):
    """A tiny, freshly initialized model of `family` (fitted families are fitted on tiny data)."""
    torch.manual_seed(0)
    cls = ALL[family]
    model = cls(validate(from_dict(cls.Config, {**TINY.get(family, {}), **extra})), data_for(family).spec)
    if isinstance(model, Fitted):
        model.fit(data_for(family, 32), generator=torch.Generator().manual_seed(0))
    return model


def having(*capability: str) -> list[str]:
    return [f for f in FAMILY_NAMES if set(capability) <= capabilities(ALL[f])]


TRAINED = [f for f in FAMILY_NAMES if "fit" not in capabilities(ALL[f])]


def batch_of(family: str, n: int = 16) -> Batch:
    data = data_for(family, max(n, 64) if "tokens" in ALL[family].data_kinds else n)  # n blocks need a longer stream
    idx = torch.arange(n)
    return data.batch(idx, block_size=TINY.get(family, {}).get("context", 8))


def cond_for(family: str, n: int):
    """What `sample` needs as its condition (None for most families)."""
    return TINY_DATA[family](n).sources() if "image-pair" in ALL[family].data_kinds else None


def draw(model, n: int, seed: int) -> Samples:
    return model.sample(n, cond=cond_for(model.family, n), generator=torch.Generator().manual_seed(seed))


def overfit(family: str, player: str | None, steps: int = 150) -> tuple[float, float]:
    """The loss on one tiny batch before and after `steps` Adam steps of `player` (None: the whole model)."""
    model = make(family)
    batch = batch_of(family)
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
    assert sorted(TINY) == sorted(FAMILIES)


def test_every_data_kind_is_served():
    kinds = {k for cls in ALL.values() for k in cls.data_kinds}
    assert kinds == {"image", "tokens", "image-text", "image-pair"}
    assert having("fit") and [f for f in FAMILY_NAMES if "sample" not in capabilities(ALL[f])]


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_declares_known_capabilities(family):
    cls = ALL[family]
    assert cls.family == family
    assert capabilities(cls) <= CAPABILITIES
    assert capabilities(make(family)) <= capabilities(cls)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_refuses_data_of_another_kind(family):
    cls = ALL[family]
    other = next(f for f in FAMILY_NAMES if not (ALL[f].data_kinds & cls.data_kinds))
    with pytest.raises(ValueError, match=f"a {family} model trains on .* data, not"):
        cls(validate(from_dict(cls.Config, TINY.get(family, {}))), data_for(other).spec)


@pytest.mark.parametrize("family", TRAINED)
class TestTrained:
    def test_losses_are_named_finite_scalars(self, family):
        losses = make(family).training_losses(batch_of(family), generator=torch.Generator().manual_seed(0))
        assert "loss" in losses
        for name, value in losses.items():
            assert value.ndim == 0, name
            assert torch.isfinite(value), name

    def test_gradients_reach_every_parameter(self, family):
        model = make(family)
        losses = model.training_losses(batch_of(family), generator=torch.Generator().manual_seed(0))
        losses["loss"].backward()
        for name, p in model.named_parameters():
            if not p.requires_grad:  # frozen parts (an ldm's autoencoder)
                continue
            assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reaches {name}"

    def test_players_own_disjoint_parameters(self, family):
        model = make(family)
        seen = [id(p) for player in model.players() for p in player.params]
        assert len(seen) == len(set(seen))
        assert set(seen) == {id(p) for p in model.parameters() if p.requires_grad}

    def test_loss_falls_when_overfitting_one_batch(self, family):
        # A model with several players (a GAN) plays a game, not one objective: there, each player's
        # loss must fall while it alone trains and the others stay fixed.
        players = [p.name for p in make(family).players()]
        for player in (players if len(players) > 1 else [None]):
            before, after = overfit(family, player, steps=150 if player is None else 75)
            assert after < 0.85 * before, (player, before, after)


@pytest.mark.parametrize("family", having("fit"))
def test_fit_is_deterministic_and_changes_the_model(family):
    cls = ALL[family]
    fresh = cls(validate(from_dict(cls.Config, {})), data_for(family).spec)
    a, b = make(family), make(family)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    assert any(not torch.equal(v, fresh.state_dict()[k]) for k, v in a.state_dict().items())


@pytest.mark.parametrize("family", having("sample"))
class TestSampler:
    def test_sample_shape_and_range(self, family):
        model = make(family).eval()
        assert isinstance(model, Sampler)
        out = draw(model, 5, 0)
        if model.spec.kind == "tokens":
            assert out.x.dtype == torch.int64 and out.x.shape[0] == 5
            assert 0 <= out.x.min() and out.x.max() < model.spec.vocab_size
        else:
            assert out.x.shape == (5, *model.shape)
            assert out.x.min() >= 0 and out.x.max() <= 1 and torch.isfinite(out.x).all()
        if model.conditional:  # the labels drawn for come back with the samples: every class in turn
            assert torch.equal(out.y, torch.arange(5) % 4)
        else:
            assert out.y is None

    def test_same_generator_same_samples(self, family):
        model = make(family).eval()
        a, b, c = draw(model, 4, 3).x, draw(model, 4, 3).x, draw(model, 4, 4).x
        assert torch.equal(a, b)
        if "image-pair" not in ALL[family].data_kinds:  # deterministic translators: the generator changes nothing
            assert not torch.equal(a, c)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_save_load_round_trip(family, tmp_path):
    model = make(family).eval()
    save_checkpoint(tmp_path, 7, model=model.state_dict(), state={"step": 7})
    loaded = load_checkpoint(tmp_path / "step_00000007")
    other = make(family)
    with torch.no_grad():
        for t in other.parameters():
            t.add_(1.0)
    other.load_state_dict(loaded["model"])
    other.eval()
    for k, v in model.state_dict().items():
        assert torch.equal(other.state_dict()[k], v), k
    if isinstance(model, Sampler):
        assert torch.equal(draw(model, 3, 0).x, draw(other, 3, 0).x)
    assert loaded["meta"]["step"] == 7


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_capabilities_work(family):
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
        data = batch_of(family, 6).x if model.spec.kind == "tokens" else (x > 0.5).float()
        nll = model.nll(data, y, generator=torch.Generator().manual_seed(0))
        assert nll.shape == (6,) and torch.isfinite(nll).all()
        if model.likelihood_kind != "continuous":  # a density may exceed 1, so its nats may be negative
            assert (nll > 0).all()
    if isinstance(model, Embed):
        data = data_for(family, 6)
        e_img, e_txt = model.embed_images(data.images()), model.embed_text(data.tokens([c[0] for c in data.captions]))
        assert e_img.shape == e_txt.shape and torch.allclose(e_img.norm(dim=1), torch.ones(6))


def test_unknown_family_lists_valid_ones():
    from genlab.models import build_model

    with pytest.raises(ValueError, match="valid: \\['ae'"):
        build_model("gann", {}, shape=(1, 8, 8))


def test_unknown_option_names_it():
    from genlab.models import build_model

    with pytest.raises(ValueError, match="latent_dims"):
        build_model("vae", {"latent_dims": 3}, shape=(1, 8, 8))


def test_bad_option_values_are_refused_by_the_one_validator():
    from genlab.config import ConfigError
    from genlab.models import build_model

    with pytest.raises(ConfigError, match="latent_dim must be >= 1, got -3"):
        build_model("vae", {"latent_dim": -3}, shape=(1, 8, 8))
    with pytest.raises(ConfigError, match="unknown arch 'cnn'; valid: conv, mlp"):
        build_model("vae", {"arch": "cnn"}, shape=(1, 8, 8))
    with pytest.raises(ConfigError, match="channels must be >= 1"):
        build_model("ae", {"channels": (4, 0)}, shape=(1, 8, 8))
