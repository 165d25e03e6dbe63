"""load_run trusts nothing in a run folder: every damaged file gives one line naming it (RunError for
config.json, CheckpointError for checkpoints/), never a traceback or a silently wrong model."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import RunError, load_run, train
from genlab.training.checkpoint import CheckpointError
from tests.conftest import TINY, tiny_images

STEP = "step_00000002"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "vae"
    tc = TrainConfig(steps=2, batch_size=8, log_every=1, progress=False, ema_decay=0.9)
    train(RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny"), tc), run, data=tiny_images(32))
    return run


@pytest.fixture
def run(trained, tmp_path):
    """A fresh copy of a trained run, to damage."""
    return shutil.copytree(trained, tmp_path / "run")


def edit_json(path, change):
    """Apply `change` to the file's JSON in place (or write what it returns, when it returns a value)."""
    obj = json.loads(path.read_text())
    new = change(obj)
    path.write_text(json.dumps(obj if new is None else new))


def raises_one_line(error, pattern, fn, *args, **kwargs):
    with pytest.raises(error, match=pattern) as e:
        fn(*args, **kwargs)
    assert "\n" not in str(e.value)
    return e.value


def test_a_sound_run_loads(run):
    assert load_run(run).step == 2


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda c: c.pop("train") and None, r"config\.json: a run config needs 'train'"),
        (lambda c: c["train"].update(steps="5"), r"config\.json: train\.steps must be an integer, got '5'"),
        (lambda c: c["train"].update(betas=[0.9, "x"]), r"config\.json: train\.betas must be a finite number"),
        (lambda c: c["data"].update(name=7), r"config\.json: data\.name must be a string"),
        (lambda c: c.update(data=[1]), r"config\.json: data must be a JSON object, found list"),
        (lambda c: c["model"].update(latent_dim="four"), r"config\.json: latent_dim must be an integer"),
        (lambda c: c["model"].update(nonsense=1), r"config\.json: .*nonsense"),
        (lambda c: c.update(family="nope"), r"config\.json: unknown model family 'nope'"),
        (lambda c: [1, 2], r"config\.json: a run config must be a JSON object, found list"),
    ],
    ids=["missing-train", "steps-str", "betas", "data-name", "data-list", "model-type", "model-unknown",
         "family", "list"],
)
def test_config_json_with_wrong_types_or_missing_keys(run, change, pattern):
    edit_json(run / "config.json", change)
    raises_one_line(RunError, pattern, load_run, run)


def test_config_json_that_is_not_json(run):
    (run / "config.json").write_bytes(b'{"family": "vae", "mod')
    raises_one_line(RunError, r"config\.json: JSONDecodeError", load_run, run)
    (run / "config.json").write_bytes(b"\xff\xfe\x00")
    raises_one_line(RunError, r"config\.json: UnicodeDecodeError", load_run, run)


@pytest.mark.parametrize(
    ("info", "pattern"),
    [
        ({"shape": [1, 10**9, 10**9]}, r"data_info\.shape \[1, 1000000000, 1000000000\] is not an image shape"),
        ({"shape": [1, -8, 8]}, r"data_info\.shape \[1, -8, 8\] is not an image shape"),
        ({"shape": "1x8x8"}, r"data_info\.shape must be \[channels, height, width\]"),
        ({"shape": [1, 8, 8], "num_classes": 10**12}, r"data_info\.num_classes must be an integer"),
        ({"shape": [1, 8, 8], "kind": "video"}, r"data_info\.kind is 'video'"),
        ({"shape": [1, 8, 8], "num_classes": 2, "classes": ["a"]}, r"data_info\.classes must be 2 names"),
        ({"shape": [1, 8, 8], "vocab": {"tokens": "abc"}}, r"data_info\.vocab must be"),
        ([1, 8, 8], r"data_info\.must be a JSON object"),
    ],
)
def test_absurd_data_shapes_are_refused_before_building(run, info, pattern):
    edit_json(run / "config.json", lambda c: c.update(data_info=info))
    raises_one_line(RunError, pattern, load_run, run)


def test_plausible_but_wrong_data_shape_is_caught_by_the_weights_check(run, monkeypatch):
    edit_json(run / "config.json", lambda c: c["data_info"].update(shape=[1, 4096, 4096]))
    raises_one_line(CheckpointError, rf"{STEP}/ema\.safetensors: does not fit the vae model its config\.json "
                    r"describes: .* is \(\d+, \d+\), the model's is", load_run, run)


def test_meta_json_without_step(run):
    meta = run / "checkpoints" / STEP / "meta.json"
    edit_json(meta, lambda m: m.pop("step") and None)
    raises_one_line(CheckpointError, rf"{STEP}/meta\.json: needs a non-negative integer 'step', found None",
                    load_run, run)
    edit_json(meta, lambda m: m.update(step="2"))
    raises_one_line(CheckpointError, r"meta\.json: needs a non-negative integer 'step', found '2'", load_run, run)
    meta.write_text("[]")
    raises_one_line(CheckpointError, r"meta\.json: must hold a JSON object", load_run, run)


@pytest.mark.parametrize("name", ["model.safetensors", "ema.safetensors"])
def test_safetensors_with_wrong_shapes_or_keys(run, name):
    file = run / "checkpoints" / STEP / name
    weights = load_file(str(file))
    key = next(k for k in weights if k.endswith("weight"))
    save_file({**weights, key: torch.zeros(3, 3)}, str(file))
    ema = name == "ema.safetensors"
    raises_one_line(CheckpointError, rf"{name}: does not fit the vae model .* is \(3, 3\), the model's is",
                    load_run, run, ema=ema)
    save_file({k: v for k, v in weights.items() if k != key} | {"module.extra": torch.zeros(1)}, str(file))
    raises_one_line(CheckpointError, rf"{name}: does not fit the vae model .*missing 1 tensor",
                    load_run, run, ema=ema)
    file.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    raises_one_line(CheckpointError, rf"could not read checkpoint .*{name}", load_run, run, ema=ema)


def test_latest_pointer_that_is_a_directory(run):
    latest = run / "checkpoints" / "latest"
    latest.unlink()
    latest.mkdir()
    raises_one_line(CheckpointError, r"checkpoints/latest: is a folder, not genlab's pointer file; remove it",
                    load_run, run)


@pytest.mark.parametrize("target", ["../../elsewhere/step_00000002", "/tmp", "..", "step_00000002/../.."])
def test_latest_pointer_outside_the_checkpoints_folder_is_never_followed(run, tmp_path, target):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(run / "checkpoints", elsewhere)
    (run / "checkpoints" / "latest").write_text(target + "\n")
    raises_one_line(CheckpointError, r"checkpoints/latest: names .* which is not a checkpoint of this run",
                    load_run, run)


def test_latest_pointer_that_is_a_link_is_refused(run, tmp_path):
    outside = tmp_path / "pointer"
    outside.write_text(STEP + "\n")
    latest = run / "checkpoints" / "latest"
    latest.unlink()
    latest.symlink_to(outside)
    raises_one_line(CheckpointError, r"checkpoints/latest: is a link", load_run, run)


def test_a_checkpoint_folder_that_is_a_link_is_not_followed(run, tmp_path):
    ckpts = run / "checkpoints"
    shutil.move(ckpts / STEP, tmp_path / STEP)
    (ckpts / STEP).symlink_to(tmp_path / STEP)
    raises_one_line(RunError, "has no complete checkpoint yet", load_run, run)
