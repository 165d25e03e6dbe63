"""genlab.runs: what a resume may change (the run folders themselves are exercised by tests/cli and tests/training)."""

from __future__ import annotations

import dataclasses

import pytest

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import PINNED_ON_RESUME, RunError, resume_changes
from tests.conftest import TINY

SAVED = RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny"), TrainConfig(steps=10, ema_decay=0.9))


def test_resume_changes_lists_the_training_options_that_differ():
    assert resume_changes(SAVED, SAVED) == {}
    new = dataclasses.replace(SAVED, train=dataclasses.replace(SAVED.train, steps=20, ema_decay=0.0))
    assert resume_changes(SAVED, new) == {"steps": {"from": 10, "to": 20}, "ema_decay": {"from": 0.9, "to": 0.0}}


@pytest.mark.parametrize("option, value", [("lr", 0.1), ("betas", (0.5, 0.9)), ("weight_decay", 0.1), ("seed", 1),
                                           ("optimizer", "adamw")])
def test_resume_refuses_options_the_checkpoint_state_holds(option, value):
    assert option in PINNED_ON_RESUME
    new = dataclasses.replace(SAVED, train=dataclasses.replace(SAVED.train, **{option: value}))
    with pytest.raises(RunError, match=f"new {option}"):
        resume_changes(SAVED, new)


@pytest.mark.parametrize("part, value", [("model", {**TINY["vae"], "latent_dim": 3}), ("data", DataConfig("other")),
                                         ("family", "ae")])
def test_resume_refuses_another_model_or_data(part, value):
    with pytest.raises(RunError, match=f"its {part} was"):
        resume_changes(SAVED, dataclasses.replace(SAVED, **{part: value}))
