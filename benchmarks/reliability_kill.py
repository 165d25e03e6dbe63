"""Exact resume after any interruption: `genlab train` is stopped with SIGKILL, SIGTERM or SIGINT (Ctrl-C)
at seeded random moments, resumed each time with `--resume`, and the finished run is compared with an
uninterrupted one: weights, EMA, optimizer state and every metrics.jsonl record (but its wall-clock
fields) must be bit-for-bit equal.

For each signal a run is interrupted `--per-signal` times in a row, then resumed to the end (a run that
ends before its signal is due is compared too, and the next moments go to a new run). Each
moment is drawn (seeded) either in start-up (every `--startup-every`th one: uniform over the uninterrupted
run's start-up time, so imports, run creation or the restore of a checkpoint) or in training (uniform from
the process's first new metrics record to the expected end of the steps left, so a training step, a
checkpoint save or the final save). After every interruption the run must load (or hold no checkpoint
yet); the exit status is 130 for Ctrl-C and 143 for SIGTERM once training has begun (a signal during
Python's start-up ends it the default way). A process start costs ~5 s here (torch and the CLI), so the
default (3 signals x 4 moments) takes ~2-3 minutes on 2 cores.

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


def last_step(metrics: Path, after: float) -> int:
    """The step of the last whole record of a metrics.jsonl written since time `after` (0 when none)."""
    try:
        if metrics.stat().st_mtime < after:
            return 0
        lines = metrics.read_text().splitlines()
        return int(json.loads(lines[-1])["step"]) if lines else 0
    except (OSError, ValueError, KeyError):
        return 0


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


def interrupt(runs: Path, sig_name: str, signum: int, args, rng: random.Random, startup: float,
              training: float) -> dict:
    """Deliver `args.per_signal` signals to runs of `sig_name` at random moments, each followed by a resume
    (a run that finishes first is compared and a new one started); every run is finished and compared with
    the reference."""
    from genlab.runs import RunError, load_run
    from genlab.training import checkpoint as ckpt

    moments: list[dict] = []
    runs_done: list[bool] = []
    unloadable = attempts = 0
    name, resumed_at = f"{sig_name}-0", 0

    def compare(name: str) -> None:
        same = same_state(runs / name, runs / "reference") and records(runs / name) == records(runs / "reference")
        runs_done.append(same)

    while len(moments) < args.per_signal and attempts < 3 * args.per_signal:
        attempts += 1
        after = time.time()
        proc = start(runs, name, args.steps)
        phase = "startup" if len(moments) % args.startup_every == args.startup_every - 1 else "training"
        if phase == "startup":  # imports, run creation, restoring the checkpoint
            due = rng.uniform(0.0, startup)
        else:  # from the process's first new record to the expected end of the steps left
            due = rng.uniform(0.0, training * (1.0 - resumed_at / args.steps))
            while proc.poll() is None and last_step(runs / name / "metrics.jsonl", after) <= resumed_at:
                time.sleep(0.01)
        try:
            proc.wait(timeout=due)
        except subprocess.TimeoutExpired:
            proc.send_signal(signum)
        _, err = proc.communicate()
        where = ckpt.latest_checkpoint(runs / name / "checkpoints")
        if proc.returncode == 0 and where is not None and load_run(runs / name).step == args.steps:
            compare(name)  # it finished before the signal was due: a run of its own
            name, resumed_at = f"{sig_name}-{len(runs_done)}", 0
            continue
        try:
            resumed_at = 0 if where is None else load_run(runs / name).step
        except (RunError, ckpt.CheckpointError) as e:
            unloadable += 1
            print(f"  {sig_name}: not loadable after an interruption: {e}", flush=True)
        moments.append({"phase": phase, "after_s": round(due, 2), "exit": proc.returncode,
                        "traceback": "Traceback" in err, "checkpoint_step": resumed_at if where else None})
    proc = start(runs, name, args.steps)  # the last resume, left to finish
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    compare(name)
    return {"interruptions": len(moments), "runs": len(runs_done), "runs_bit_exact": sum(runs_done),
            "unloadable": unloadable, "exit_codes": dict(Counter(str(m["exit"]) for m in moments)),
            "moments": moments}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-signal", type=int, default=4, help="interruptions of each signal's run")
    p.add_argument("--startup-every", type=int, default=4, help="every Nth moment of a signal falls in start-up")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
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
        figures: dict = {"steps": args.steps, "seed": args.seed, "uninterrupted_seconds": round(duration, 1),
                         "training_seconds": round(training, 1), "per_signal": {}}
        for sig_name, signum in SIGNALS.items():
            figures["per_signal"][sig_name] = interrupt(runs, sig_name, signum, args, rng, startup, training)
            print(f"{sig_name}: {figures['per_signal'][sig_name]}", flush=True)
    rows = figures["per_signal"].values()
    figures["interruptions"] = sum(r["interruptions"] for r in rows)
    figures["runs"] = sum(r["runs"] for r in rows)
    figures["runs_bit_exact"] = sum(r["runs_bit_exact"] for r in rows)
    figures["unloadable_after_interruption"] = sum(r["unloadable"] for r in rows)
    figures["seconds"] = round(time.perf_counter() - t0, 1)
    notes = ("genlab train vae (MLP) on the embedded 8x8 digits, checkpoint every 100 steps, log every 10, EMA "
             "0.99, 1 thread; each signal's runs interrupted at seeded random moments (every 4th in start-up, the "
             "rest in training) and resumed with --resume, then compared bit-for-bit with an uninterrupted run "
             "(weights, EMA, optimizer/RNG/metrics-window state, every metrics record but time and img_per_s). "
             "Exit -15/-2: the signal came before genlab's handlers were installed or after the final save (the "
             "default action; the run is as resumable). Moments are wall-clock, so outcomes vary with the load.")
    met = figures["runs_bit_exact"] == figures["runs"] and figures["unloadable_after_interruption"] == 0
    write_result("reliability_kill", figures, notes, threads=1,
                 headline={"figure": "runs_bit_exact", "target": "every run", "met": met})
    if not met:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
