"""Two CPU processes under torchrun (gloo) train in step and save one consistent checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from genlab.training import checkpoint as ckpt
from tests.child_env import ROOT, child_env


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = child_env(OMP_NUM_THREADS="1")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_global_batch(tmp_path):
    worker = str(ROOT / "tests" / "training" / "ddp_worker.py")
    ddp = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               worker, str(tmp_path / "ddp"), "8"])
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = run([sys.executable, worker, str(tmp_path / "single"), "16"])
    assert single.returncode == 0, single.stderr[-3000:]

    ckpts = list((tmp_path / "ddp" / "checkpoints").glob("step_*"))
    assert [p.name for p in ckpts] == ["step_00000006"]  # one checkpoint, written once
    meta = json.loads((ckpts[0] / "meta.json").read_text())
    assert meta["metrics"]["world_size"] == 2 and meta["metrics"]["ranks_in_step"] is True

    a = ckpt.load_checkpoint(ckpts[0])["model"]
    b = ckpt.load_checkpoint(tmp_path / "single" / "checkpoints" / "step_00000006")["model"]
    params = [k for k in a if not k.startswith("z_")]  # running code moments are per-process buffers
    for k in params:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    # Both logged the same (globally averaged) losses.
    la = [json.loads(x)["loss"] for x in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x)["loss"] for x in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    assert la == pytest.approx(lb, rel=1e-4)


@pytest.mark.slow
def test_a_model_initialized_from_its_first_batch_is_the_same_model_in_every_process(tmp_path):
    """A flow's ActNorm takes its scale from the first batch, which differs between processes; DDP averages
    gradients, not weights, so without the trainer's broadcast after the first step the processes trained
    different models (the ActNorm weights differed) and only rank 0's was saved."""
    worker = str(ROOT / "tests" / "training" / "ddp_ranks_worker.py")
    ddp = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               worker, str(tmp_path), "flow", "3"])
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a, b = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert any("actnorm" in k for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.slow
def test_sigterm_stops_every_process_at_the_same_step_with_one_checkpoint(tmp_path):
    """torchrun forwards SIGTERM to its workers; they agree on the step to stop at (rank 0 alone holds the
    run's lock and writes the checkpoint)."""
    worker = str(ROOT / "tests" / "training" / "ddp_worker.py")
    env = child_env(OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             worker, str(tmp_path / "ddp"), "8", "100000"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "ddp" / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.exists() and metrics.stat().st_size > 0):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert err.count("SIGTERM: stopping after this step") == 2, err[-3000:]
    where = ckpt.latest_checkpoint(tmp_path / "ddp" / "checkpoints")
    meta = json.loads((where / "meta.json").read_text())
    last = json.loads(metrics.read_text().splitlines()[-1])["step"]
    assert meta["step"] == last > 0 and meta["metrics"]["ranks_in_step"] is True


def test_more_processes_than_gpus_is_a_one_line_error(monkeypatch):
    """NCCL cannot put two processes of one job on one GPU: say so before it fails with 'Duplicate GPU'."""
    from genlab.training import device as dev

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for k, v in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValueError, match=r"2 processes on this machine but it has 1 CUDA GPU.*--nproc_per_node 1"):
        dev.init_distributed("cuda")
