"""Saving checkpoints: a kill at any moment of a re-save of the same step leaves a complete checkpoint, and
a full disk gives one line, no temporary files and the previous checkpoint intact."""

from __future__ import annotations

import errno
import os
import shutil

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.runs import load_run, train
from genlab.training import checkpoint as ckpt
from tests.conftest import TINY, tiny_images


class Killed(BaseException):
    """The process dies here: nothing after it runs (not even cleanup)."""


def kill_at(monkeypatch, k: int) -> list[str]:
    """Make the k-th file-system operation of a save (0-based) and every later one die; returns the log."""
    done: list[str] = []

    def wrap(name, f):
        def op(*args, **kwargs):
            if len(done) >= k:
                raise Killed(name)
            done.append(name)
            return f(*args, **kwargs)
        return op

    for name in ("replace", "link", "mkdir"):
        monkeypatch.setattr(ckpt.os, name, wrap(name, getattr(os, name)))
    monkeypatch.setattr(ckpt.shutil, "rmtree", wrap("rmtree", shutil.rmtree))
    monkeypatch.setattr(ckpt, "atomic_write_bytes", wrap("pointer", ckpt.atomic_write_bytes))
    return done


def test_a_kill_anywhere_in_a_resave_of_the_same_step_leaves_a_complete_checkpoint(tmp_path, monkeypatch):
    ops = None
    for k in range(100):
        d = tmp_path / f"k{k}"
        ckpt.save_checkpoint(d, 4, model={"w": torch.ones(3)}, state={"step": 4}, keep=1)
        log = kill_at(monkeypatch, k)
        try:
            ckpt.save_checkpoint(d, 4, model={"w": torch.full((3,), 2.0)}, state={"step": 4}, keep=1)
            finished = True
        except Killed:
            finished = False
        monkeypatch.undo()
        where = ckpt.latest_checkpoint(d)
        assert where is not None, f"no complete checkpoint after a kill at {log}"
        w = ckpt.load_checkpoint(where)["model"]["w"]
        assert torch.equal(w, torch.ones(3)) or torch.equal(w, torch.full((3,), 2.0)), log
        if finished:
            ops = k
            assert torch.equal(w, torch.full((3,), 2.0)) and where.name == "step_00000004"
            assert sorted(p.name for p in d.iterdir()) == ["latest", "step_00000004"]  # no copies left
            break
    assert ops is not None and ops >= 5  # every operation of the re-save was a kill point


def test_resuming_a_finished_run_keeps_one_checkpoint(tmp_path):
    tc = TrainConfig(steps=3, batch_size=8, log_every=1, progress=False, keep_checkpoints=1)
    config = RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny"), tc)
    data = tiny_images(32)
    train(config, tmp_path / "r", data=data)
    before = load_run(tmp_path / "r").model.state_dict()
    assert train(config, tmp_path / "r", data=data, resume=True).step == 3  # saves step 3 again
    assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir()) == ["latest", "step_00000003"]
    after = load_run(tmp_path / "r").model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def full_disk(monkeypatch, after_calls: int = 0):
    """safetensors' writer writes part of a file, then fails like a full disk (after `after_calls` good calls)."""
    real, calls = ckpt.save_file, []

    def save_file(tensors, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) <= after_calls:
            return real(tensors, filename, *args, **kwargs)
        with open(filename, "wb") as f:
            f.write(b"\0" * 100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ckpt, "save_file", save_file)


def test_disk_full_while_saving_is_one_line_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, 1, model={"w": torch.ones(3)}, state={"step": 1})
    for step in (2, 1):  # a new step, and the same step saved again
        full_disk(monkeypatch)
        with pytest.raises(ckpt.CheckpointError) as e:
            ckpt.save_checkpoint(tmp_path, step, model={"w": torch.zeros(3)}, state={"step": step})
        monkeypatch.undo()
        message = str(e.value)
        assert "\n" not in message and "No space left on device" in message
        assert "the previous checkpoint step_00000001 is intact" in message and "--resume" in message
        assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "step_00000001"]  # no temporary files
        assert torch.equal(ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))["model"]["w"], torch.ones(3))


def test_disk_full_during_training_stops_with_one_line_and_the_run_resumes_exactly(tmp_path, monkeypatch, capsys):
    tc = TrainConfig(steps=6, batch_size=8, log_every=1, progress=False, checkpoint_every=2)
    config = RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny"), tc)
    data = tiny_images(32)
    full = train(config, tmp_path / "full", data=data)
    full_disk(monkeypatch, after_calls=1)  # the checkpoint of step 2 is written, that of step 4 is not
    with pytest.raises(ckpt.CheckpointError, match="step_00000004: No space left on device; the previous "
                                                   "checkpoint step_00000002 is intact"):
        train(config, tmp_path / "r", data=data)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").iterdir()) == ["latest", "step_00000002"]
    assert train(config, tmp_path / "r", data=data, resume=True).step == 6
    a, b = full.model.cpu().state_dict(), load_run(tmp_path / "r", ema=False).model.state_dict()  # cuda -> cpu
    assert all(torch.equal(a[k], b[k]) for k in a)
