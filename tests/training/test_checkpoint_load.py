"""The load side of checkpoints (state.pt must be the trainer's state, nothing with attributes) and the
mode of the files a checkpoint holds."""

from __future__ import annotations

import os
import stat
from collections import OrderedDict

import pytest
import torch

from genlab.training import checkpoint as ckpt


def trainer_state(step: int = 3) -> dict:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(2))])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return {"step": step, "optimizers": {"model": opt.state_dict()}, "schedulers": {"model": sched.state_dict()},
            "generator": torch.Generator().get_state(), "torch_rng": torch.get_rng_state()}


@pytest.fixture
def folder(tmp_path):
    return ckpt.save_checkpoint(tmp_path, 3, model={"w": torch.ones(2)}, state=trainer_state())


def test_the_trainer_state_round_trips(folder):
    assert ckpt.load_checkpoint(folder)["state"]["step"] == 3


def _with_attribute(obj, **attrs):
    for k, v in attrs.items():
        setattr(obj, k, v)
    return obj


@pytest.mark.parametrize(
    ("state", "pattern"),
    [
        ({"step": 3, "optimizers": {}}, r"is not a trainer state \(missing \['generator', 'schedulers', 'torch_rng'\]"),
        ({**trainer_state(), "extra": 1}, r"is not a trainer state .*unexpected \['extra'\]"),
        (trainer_state(step=7), r"step 7 differs from meta\.json's 3"),
        ({**trainer_state(), "schedulers": {}}, "optimizers/schedulers are not one state_dict per player"),
        ({**trainer_state(), "torch_rng": torch.zeros(3)}, "'torch_rng' is not a random generator state"),
        ([1, 2], "must hold a dict, found list"),
        # attributes set on allowed objects through BUILD state
        ({"step": 3, "x": _with_attribute(torch.ones(1), note="hi")}, "a tensor carries attributes"),
        ({"step": 3, "x": _with_attribute(OrderedDict(), note="hi")}, "an OrderedDict carries attributes"),
    ],
    ids=["missing", "extra", "step", "schedulers", "rng", "list", "tensor-attr", "ordereddict-attr"],
)
def test_state_pt_with_the_wrong_keys_or_attributes(folder, state, pattern):
    torch.save(state, folder / "state.pt")
    with pytest.raises(ckpt.CheckpointError, match=r"state\.pt: " + pattern) as e:
        ckpt.load_checkpoint(folder)
    assert "\n" not in str(e.value)
    assert ckpt.load_checkpoint(folder, with_state=False)["model"]["w"].tolist() == [1.0, 1.0]


def test_state_pt_that_is_not_a_torch_file(folder):
    (folder / "state.pt").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ckpt.CheckpointError, match=r"could not read checkpoint .*state\.pt: \w+"):
        ckpt.load_checkpoint(folder)


def test_every_checkpoint_file_follows_the_umask(tmp_path):
    """safetensors writes 0600 by itself; a checkpoint's files all get the umask's mode (0644 here)."""
    old = os.umask(0o022)
    try:
        folder = ckpt.save_checkpoint(tmp_path, 1, model={"w": torch.ones(2)}, ema={"w": torch.ones(2)},
                                      state=trainer_state(1), config={"a": 1})
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [*folder.iterdir(), tmp_path / "latest"]}
    assert set(modes) == {"model.safetensors", "ema.safetensors", "state.pt", "config.json", "meta.json",
                          "latest"}
    assert set(modes.values()) == {0o644}, modes
