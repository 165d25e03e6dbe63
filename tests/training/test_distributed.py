"""Two CPU processes under torchrun (gloo) train in step and save one consistent checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genlab.training import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[2]


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
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
