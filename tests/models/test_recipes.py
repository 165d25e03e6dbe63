"""The presets: every CPU recipe names real options with valid values; "paper" is the defaults."""

from __future__ import annotations

import dataclasses

import pytest

from genlab.config import TrainConfig, validate
from genlab.models import FAMILIES, model_config
from genlab.models.recipes import CPU, recipe, run_config, train_config


@pytest.mark.parametrize("family", sorted(CPU))
def test_every_cpu_recipe_is_valid(family):
    r = recipe(family)
    model_config(family, r.model)  # unknown options or bad values raise ConfigError
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(r.train) <= fields
    validate(train_config(family))


def test_paper_is_the_defaults_and_families_without_a_recipe_keep_theirs():
    for family in FAMILIES:
        p = recipe(family, "paper")
        assert p.model == {} and p.train == {}
    assert recipe("vae") == dataclasses.replace(recipe("vae", "paper"), preset="cpu")


def test_run_config_layers_preset_then_given_options():
    c = run_config("wgan-gp", "digits", model={"clusters": 0}, time_budget=60, budget_clock="cpu")
    assert c.model_options()["n_critic"] == 1 and c.model_options()["clusters"] == 0
    assert c.train.batch_size == 64 and c.train.time_budget == 60
    assert run_config("wgan-gp", preset="paper").model_options() == {}  # the family config's defaults: n_critic 5


@pytest.mark.parametrize("family, preset, message", [("dcgan", "fast", "unknown preset 'fast'"),
                                                     ("nope", "cpu", "unknown model family 'nope'")])
def test_bad_names_are_one_line(family, preset, message):
    with pytest.raises(ValueError, match=message):
        recipe(family, preset)


def test_the_cpu_flow_ddpm_pixelcnn_and_linear_models_are_conditional_on_labelled_data_only():
    from genlab.config import DataConfig
    from genlab.models.recipes import CPU_LABELLED, labelled

    for family, options in CPU_LABELLED.items():
        model_config(family, {**recipe(family).model, **options})  # valid options
    assert recipe("flow", data="mnist").model == {**recipe("flow").model, "conditional": True}
    assert recipe("flow", data=DataConfig("fashion_mnist", per_class=10)).model["conditional"] is True
    assert recipe("flow", data=DataConfig("mnist", classes=(3, 5))).model["conditional"] is True
    # unlabelled, one class (the one-class anomaly detector), a path form, unknown data, the papers' preset
    for data in ("emoji", DataConfig("mnist", classes=(3,)), DataConfig("mnist", classes=(3, 3)), "npz:/tmp/x.npz",
                 None):
        assert not labelled(data) and "conditional" not in recipe("flow", data=data).model
    assert recipe("flow", "paper", "mnist").model == {}
    assert run_config("flow", "digits").model_options()["conditional"] is True
    assert run_config("flow", "digits", model={"conditional": False}).model_options()["conditional"] is False
    assert recipe("ddpm", data="mnist").model == {"conditional": True}  # with its config's guidance 2
    assert "conditional" not in recipe("ddpm", data="emoji").model
    assert recipe("pixelcnn", data="mnist").model == {"conditional": True, "cond_drop": 0.1, "guidance": 1.5}
    assert "guidance" not in recipe("pixelcnn", data="emoji").model
    assert recipe("pca", data="mnist").model == {"sample_noise": False, "conditional": True}
    assert recipe("svd", data="mnist").model == {"conditional": True}
    assert "conditional" not in recipe("fa", data="emoji").model
    assert recipe("vae", data="mnist") == recipe("vae")  # families without labelled options are unchanged
