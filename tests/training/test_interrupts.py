"""Interruptions: Ctrl-C (SIGINT) stops at a step boundary like SIGTERM, with a checkpoint, and the resumed
run equals the uninterrupted one, weights and metrics records; a second Ctrl-C aborts without saving;
`genlab train` exits 130 / 143 when interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.models.vae import VAE
from genlab.runs import load_run, train
from genlab.training import checkpoint as ckpt
from tests.child_env import ROOT, child_env
from tests.conftest import TINY, tiny_images

VOLATILE = ("time", "img_per_s", "tokens_per_s")  # wall-clock figures: the only fields that may differ


def config(steps=12, **options) -> RunConfig:
    tc = TrainConfig(steps=steps, batch_size=8, lr=3e-3, progress=False, **{"log_every": 3, **options})
    return RunConfig("vae", dict(TINY["vae"]), DataConfig("tiny", binarize="dynamic"), tc)


def records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(ln).items() if k not in VOLATILE} for ln in lines]


def same_weights(a: Path, b: Path) -> bool:
    x, y = load_run(a, ema=False).model.state_dict(), load_run(b, ema=False).model.state_dict()
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def signal_during_step(monkeypatch, step: int, *signums: int) -> None:
    """Send `signums` to this process in the middle of trainer step `step` (inside the loss computation)."""
    real = VAE.training_losses

    def losses(self, batch, **kwargs):
        if self.training and self.step == step:
            for s in signums:
                os.kill(os.getpid(), s)
        return real(self, batch, **kwargs)

    monkeypatch.setattr(VAE, "training_losses", losses)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_step_stops_at_the_step_boundary_and_resumes_exactly(tmp_path, monkeypatch, signum):
    data = tiny_images(64)
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN in a background job
    train(config(ema_decay=0.9, checkpoint_every=4), tmp_path / "full", data=data)
    signal_during_step(monkeypatch, 6, signum)  # step 7 (0-based 6): not a multiple of log_every 3
    part = train(config(ema_decay=0.9, checkpoint_every=4), tmp_path / "part", data=data)
    monkeypatch.undo()
    assert (part.stopped, part.step, part.signal) == ("interrupted", 7, signum)
    assert ckpt.latest_checkpoint(tmp_path / "part" / "checkpoints").name == "step_00000007"
    assert [r["step"] for r in records(tmp_path / "part")] == [3, 6]  # no record for the partial window
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    assert train(config(ema_decay=0.9, checkpoint_every=4), tmp_path / "part", data=data, resume=True).step == 12
    assert records(tmp_path / "part") == records(tmp_path / "full")
    assert same_weights(tmp_path / "part", tmp_path / "full")
    assert all(torch.equal(a, b) for a, b in zip(load_run(tmp_path / "part").model.state_dict().values(),
                                                 load_run(tmp_path / "full").model.state_dict().values()))


def test_records_after_a_resume_from_a_periodic_checkpoint_equal_the_uninterrupted_runs(tmp_path):
    """A SIGKILL after the checkpoint of step 5 (log_every 3): the record of step 6 still averages 4-6."""
    data = tiny_images(64)
    train(config(9, checkpoint_every=5), tmp_path / "full", data=data)

    class Killed(BaseException):
        pass

    def die_after_6(record):
        if record["step"] == 6:
            raise Killed  # the process dies after logging step 6: metrics hold a record past the checkpoint
    with pytest.raises(Killed):
        train(config(9, checkpoint_every=5), tmp_path / "part", data=data, on_log=die_after_6)
    train(config(9, checkpoint_every=5), tmp_path / "part", data=data, resume=True)
    assert records(tmp_path / "part") == records(tmp_path / "full")
    assert same_weights(tmp_path / "part", tmp_path / "full")


def test_a_second_ctrl_c_aborts_at_once_without_saving(tmp_path, monkeypatch):
    data = tiny_images(64)
    before = signal.getsignal(signal.SIGINT)
    signal_during_step(monkeypatch, 6, signal.SIGINT, signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        train(config(checkpoint_every=4), tmp_path / "r", data=data)
    monkeypatch.undo()
    assert ckpt.latest_checkpoint(tmp_path / "r" / "checkpoints").name == "step_00000004"  # nothing newer
    assert not list((tmp_path / "r" / "checkpoints").glob(".tmp-*"))
    assert signal.getsignal(signal.SIGINT) is before
    assert train(config(checkpoint_every=4), tmp_path / "r", data=data, resume=True).step == 12  # lock released


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_genlab_train_exits_128_plus_the_signal(tmp_path, signum, code):
    env = child_env(OMP_NUM_THREADS="1")
    run = tmp_path / "v"
    proc = subprocess.Popen(
        [sys.executable, "-m", "genlab", "train", "vae", "--data", "digits", "--arch", "mlp", "--hidden", "16",
         "--latent-dim", "2", "--train.steps", "100000", "--train.batch-size", "8", "--train.no-progress",
         "--train.log-every", "1", "--runs-dir", str(tmp_path), "--name", "v"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not ((run / "metrics.jsonl").exists() and (run / "metrics.jsonl").stat().st_size > 0):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err and "interrupted at step" in err and "--resume" in err
    step = load_run(run).step
    assert step > 0 and json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == step
