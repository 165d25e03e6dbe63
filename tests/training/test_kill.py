"""A run killed with SIGKILL at arbitrary moments always leaves a loadable checkpoint to resume from."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest

from genlab.runs import load_run
from genlab.training import checkpoint as ckpt
from tests.child_env import ROOT, child_env


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_good_checkpoint(tmp_path):
    env = child_env(OMP_NUM_THREADS="1")
    run_dir = tmp_path / "run"
    rng = random.Random(0)
    steps = []
    for attempt in range(3):
        mode = "resume" if attempt else "new"
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests/training/kill_worker.py"), str(run_dir), mode],
                                cwd=ROOT, env=env, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        start = ckpt.latest_checkpoint(run_dir / "checkpoints")
        while time.time() < deadline and ckpt.latest_checkpoint(run_dir / "checkpoints") == start:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        time.sleep(rng.uniform(0.05, 0.5))  # somewhere in the middle of later saves
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run = load_run(run_dir)  # must load cleanly, whatever the kill interrupted
        steps.append(run.step)
    assert steps[0] > 0 and steps[1] > steps[0] and steps[2] > steps[1]  # each resume made progress
