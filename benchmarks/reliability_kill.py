"""Exact resume after any interruption: `genlab train` is stopped with SIGKILL, SIGTERM or SIGINT (Ctrl-C)
at seeded random moments, resumed each time with `--resume`, and the finished run is compared with an
uninterrupted one: weights, EMA, optimizer state and every metrics.jsonl record (but its wall-clock
fields) must be bit-for-bit equal.

For each signal one run is interrupted `--per-signal` times in a row (each moment drawn uniformly from
the start of the process to the expected end of that process: start-up plus the uninterrupted run's
training time for the steps left, so it lands in start-up, run creation, a training step, a checkpoint
save or the final save), then resumed to the end. After
every interruption the run must load (or hold no checkpoint yet), and the exit status must be 130 for
Ctrl-C and 143 for SIGTERM once training has begun. A process start here costs ~5 s (torch and the CLI),
so the default (3 signals x 5 moments) takes ~3 minutes on 2 cores.

    .venv/bin/python benchmarks/reliability_kill.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import ROOT, write_result

SIGNALS = {"SIGKILL": signal.SIGKILL, "SIGTERM": signal.SIGTERM, "SIGINT": signal.SIGINT}
VOLATILE = ("time", "img_per_s", "tokens_per_s")


def command(runs: Path, name: str, steps: int, resume: bool) -> list[str]:
    return [sys.executable, "-m", "genlab", "train", "vae", "--data", "digits", "--arch", "mlp", "--hidden", "32",
            "--latent-dim", "4", "--train.steps", str(steps), "--train.batch-size", "32", "--train.no-progress",
            "--train.log-every", "10", "--train.checkpoint-every", "100", "--train.ema-decay", "0.99",
            "--train.threads", "1", "--runs-dir", str(runs), "--name", name, *(["--resume"] if resume else [])]


def start(runs: Path, name: str, steps: int) -> subprocess.Popen:
    from genlab.runs import CONFIG, MARKER

    run = runs / name
    resume = (run / MARKER).exists() or (run / CONFIG).exists()  # what a user does after an interruption
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command(runs, name, steps, resume), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(ln).items() if k not in VOLATILE} for ln in lines]


def same_state(a: Path, b: Path) -> bool:
    """Weights, EMA and optimizer/RNG/window state of the two runs' latest checkpoints are equal."""
    import torch

    from genlab.training import checkpoint as ckpt

    x = ckpt.load_checkpoint(ckpt.latest_checkpoint(a / "checkpoints"))
    y = ckpt.load_checkpoint(ckpt.latest_checkpoint(b / "checkpoints"))

    def equal(u, v) -> bool:
        if isinstance(u, torch.Tensor):
            return isinstance(v, torch.Tensor) and u.dtype == v.dtype and torch.equal(u, v)
        if isinstance(u, dict):
            return isinstance(v, dict) and u.keys() == v.keys() and all(equal(u[k], v[k]) for k in u)
        if isinstance(u, (list, tuple)):
            return isinstance(v, (list, tuple)) and len(u) == len(v) and all(map(equal, u, v))
        return u == v

    return all(equal(x[k], y[k]) for k in ("model", "ema", "state")) and x["meta"]["step"] == y["meta"]["step"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-signal", type=int, default=5, help="interruptions of each signal's run")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from genlab.runs import RunError, load_run
    from genlab.training import checkpoint as ckpt

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        t = time.perf_counter()
        ref = start(runs, "reference", args.steps)
        out, err = ref.communicate()
        assert ref.returncode == 0, err[-3000:]
        duration = time.perf_counter() - t
        training = float(re.search(r"done at step \d+ in ([\d.]+)s", out).group(1))
        startup = duration - training
        print(f"uninterrupted run: {duration:.1f} s ({training:.1f} s training)", flush=True)
        figures: dict = {"steps": args.steps, "uninterrupted_seconds": round(duration, 1),
                         "training_seconds": round(training, 1), "per_signal": {}}
        for sig_name, signum in SIGNALS.items():
            codes: Counter = Counter()
            loadable = no_checkpoint = unloadable = finished_early = tracebacks = 0
            step_at: list[int] = []
            for _ in range(args.per_signal):
                proc = start(runs, sig_name, args.steps)
                left = 1.0 - (step_at[-1] if step_at else 0) / args.steps  # the resume continues from there
                moment = rng.uniform(0.0, startup + training * left)
                try:
                    proc.wait(timeout=moment)
                    finished_early += 1  # the run ended before the signal was due
                except subprocess.TimeoutExpired:
                    proc.send_signal(signum)
                _, err = proc.communicate()
                codes[str(proc.returncode)] += 1
                tracebacks += "Traceback" in err  # e.g. a Ctrl-C while Python is still importing torch
                where = ckpt.latest_checkpoint(runs / sig_name / "checkpoints")
                if where is None:
                    no_checkpoint += 1
                    step_at.append(0)
                    continue
                try:
                    step_at.append(load_run(runs / sig_name).step)
                    loadable += 1
                except (RunError, ckpt.CheckpointError) as e:
                    unloadable += 1
                    print(f"  {sig_name}: not loadable after an interruption: {e}", flush=True)
            proc = start(runs, sig_name, args.steps)  # the last resume, left to finish
            _, err = proc.communicate()
            assert proc.returncode == 0, err[-3000:]
            exact_weights = same_state(runs / sig_name, runs / "reference")
            exact_metrics = records(runs / sig_name) == records(runs / "reference")
            figures["per_signal"][sig_name] = {
                "interruptions": args.per_signal - finished_early, "finished_before_signal": finished_early,
                "exit_codes": dict(sorted(codes.items())), "tracebacks": tracebacks,
                "loadable_after_interruption": loadable,
                "no_checkpoint_yet": no_checkpoint, "unloadable": unloadable, "checkpoint_step_after_each": step_at,
                "bit_exact_weights_and_state": exact_weights, "bit_exact_metrics": exact_metrics}
            print(f"{sig_name}: {figures['per_signal'][sig_name]}", flush=True)
    rows = figures["per_signal"].values()
    figures["interruptions"] = sum(r["interruptions"] for r in rows)
    figures["runs_bit_exact"] = sum(r["bit_exact_weights_and_state"] and r["bit_exact_metrics"] for r in rows)
    figures["runs"] = len(SIGNALS)
    figures["unloadable_after_interruption"] = sum(r["unloadable"] for r in rows)
    figures["seconds"] = round(time.perf_counter() - t0, 1)
    notes = ("genlab train vae (MLP) on the embedded 8x8 digits, checkpoint every 100 steps, log every 10, EMA "
             "0.99; each signal's run interrupted at seeded random moments and resumed with --resume, then "
             "compared bit-for-bit with an uninterrupted run (weights, EMA, optimizer/RNG state, metrics records "
             "but time and img_per_s).")
    met = figures["runs_bit_exact"] == figures["runs"] and figures["unloadable_after_interruption"] == 0
    write_result("reliability_kill", figures, notes, threads=1,
                 headline={"figure": "runs_bit_exact", "target": f"{len(SIGNALS)} of {len(SIGNALS)}", "met": met})
    if not met:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
