"""PixelCNN recipes at equal steps: many 8-bit MNIST trainings side by side on one device, for choosing a CPU recipe.

A 60-CPU-minute PixelCNN run (benchmarks/pixelcnn_mnist.py) costs an hour of a core per try, so options that do not
change the cost of a step (EMA decay, Adam's betas, warm-up, learning rate) and the batch size at the step count its
CPU throughput buys are compared here instead at the step counts of that hour, all at once, on a GPU (or one after
another on the CPU). Each config is one process that trains genlab's `pixelcnn` with genlab's trainer for exactly its
`steps` (warm-up, cosine to 0, EMA, as the CPU recipe) and reports the exact test bits/dim of its EMA weights in fp32.
The result ranks recipes per step; a recipe that wins here must still win its 60 CPU-minutes in pixelcnn_mnist.py.

    python3 benchmarks/pixelcnn_steps.py --device cuda --eval-n 10000          # every config in SWEEP, in parallel
    python3 benchmarks/pixelcnn_steps.py --device cpu --only base --scale 0.01  # a smoke run

Writes benchmarks/results/pixelcnn_steps.json (or --name), and each config's log and figures under --work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _common  # noqa: F401  (first: it sets OMP_WAIT_POLICY=PASSIVE before torch loads its OpenMP runtime)
from _common import command_line, load_mnist, write_result

# The record's recipe (docs/PIXELCNN.md): 64 channels, batch 16, lr 4e-3, 200 warm-up steps, cosine, clip 1, EMA
# 0.999; 14,813 steps fit its 60 CPU-minutes on one core of an AMX CPU (65.6 images per CPU-second). Batch 8 and 32
# get the steps that their measured images per CPU-second (64.3 and 77.9 against 71.1 for batch 16, the 600-s probes
# of PIXELCNN.md) buy in the same hour.
BASE = {"model": {"channels": 64}, "train": {"batch_size": 16, "lr": 4e-3, "warmup_steps": 200, "schedule": "cosine",
                                             "grad_clip": 1.0, "ema_decay": 0.999, "steps": 14813}}
SWEEP: dict[str, dict] = {
    "base": {},
    "base_seed1": {"seed": 1},
    "base_seed2": {"seed": 2},
    "ema_0.9995": {"train": {"ema_decay": 0.9995}},
    "ema_0.9998": {"train": {"ema_decay": 0.9998}},
    "beta2_0.99": {"train": {"betas": [0.9, 0.99]}},
    "beta2_0.95": {"train": {"betas": [0.9, 0.95]}},
    "warmup_1000": {"train": {"warmup_steps": 1000}},
    "warmup_1000_seed1": {"train": {"warmup_steps": 1000}, "seed": 1},
    "warmup_1000_seed2": {"train": {"warmup_steps": 1000}, "seed": 2},
    "lr_5e-3": {"train": {"lr": 5e-3}},
    "batch8_lr3e-3": {"train": {"batch_size": 8, "lr": 3e-3, "steps": 26790}},
    "layers10_ch56": {"model": {"channels": 56, "layers": 10}},
    "layers6_ch74": {"model": {"channels": 74, "layers": 6}},
}


def recipe(name: str, scale: float) -> dict:
    over = SWEEP[name]
    r = {"model": {**BASE["model"], **over.get("model", {})}, "train": {**BASE["train"], **over.get("train", {})},
         "seed": over.get("seed", 0)}
    r["train"]["steps"] = max(r["train"]["warmup_steps"] + 10, int(r["train"]["steps"] * scale))
    if scale < 1:
        r["train"]["warmup_steps"] = min(r["train"]["warmup_steps"], r["train"]["steps"] // 5)
    return r


def run_one(name: str, args) -> dict:
    """Train one config for exactly its steps and evaluate its EMA weights on the test images."""
    import torch

    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.eval.likelihood import evaluate_likelihood
    from genlab.runs import load_run
    from genlab.runs import train as run_train

    r = recipe(name, args.scale)
    t = dict(r["train"])
    t["betas"] = tuple(t.get("betas", (0.9, 0.999)))
    steps = t.pop("steps")
    tc = TrainConfig(steps=steps, seed=r["seed"], device=args.device, precision=args.precision,
                     threads=args.threads, log_every=max(10, steps // 20), sample_every=0, checkpoint_every=0,
                     progress=False, **t)
    config = RunConfig("pixelcnn", {"likelihood": "categorical", **r["model"]}, DataConfig("mnist"), tc)
    run_dir = Path(args.work) / name
    t0 = time.time()
    history = []

    def on_log(rec):
        history.append({"step": rec["step"], "train bits/dim": round(float(rec.get("bits_per_dim", "nan")), 4)})
        print(f"{name} step {rec['step']}/{steps} train {history[-1]['train bits/dim']} "
              f"({time.time() - t0:.0f} s)", flush=True)

    result = run_train(config, run_dir, data=load_mnist("train"), overwrite=True, runs_dir=run_dir.parent,
                       on_log=on_log)
    wall = time.time() - t0
    model = load_run(run_dir).model.eval().to(args.device)
    test = load_mnist("test")
    x, y = test.images()[:args.eval_n].to(args.device), test.y[:args.eval_n].to(args.device)
    with torch.no_grad():
        ev = evaluate_likelihood(model, x, y, binarized="none", batch_size=500)
    return {"recipe": r, "steps": result.step, "stopped by": result.stopped, "training wall seconds": round(wall, 1),
            "test bits/dim": round(ev["bits_per_dim"], 4), "test images": args.eval_n,
            "parameters": sum(p.numel() for p in model.parameters()), "history": history}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    p.add_argument("--only", default=None, help="comma-separated config names (default: all of SWEEP)")
    p.add_argument("--parallel", type=int, default=0, help="processes at a time (default: all on cuda, 1 on cpu)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every config's steps (a smoke run: 0.01)")
    p.add_argument("--eval-n", type=int, default=10000)
    p.add_argument("--work", default="/tmp/pixelcnn-steps", help="run folders and per-config logs")
    p.add_argument("--name", default="pixelcnn_steps")
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # a worker: train and evaluate this config
    args = p.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.one:
        out = run_one(args.one, args)
        (work / f"{args.one}.json").write_text(json.dumps(out, indent=1))
        return
    names = args.only.split(",") if args.only else list(SWEEP)
    unknown = [n for n in names if n not in SWEEP]
    if unknown:
        raise SystemExit(f"pixelcnn_steps: unknown config {unknown}; known: {', '.join(SWEEP)}")
    parallel = args.parallel or (len(names) if args.device.startswith("cuda") else 1)
    base = [sys.executable, __file__, "--device", args.device, "--precision", args.precision, "--threads",
            str(args.threads), "--scale", str(args.scale), "--eval-n", str(args.eval_n), "--work", args.work]
    pending, running, results = list(names), {}, {}
    t0 = time.time()
    while pending or running:
        while pending and len(running) < parallel:
            n = pending.pop(0)
            log = open(work / f"{n}.log", "w")
            running[n] = subprocess.Popen([*base, "--one", n], stdout=log, stderr=subprocess.STDOUT,
                                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
        time.sleep(2)
        for n, proc in list(running.items()):
            if proc.poll() is None:
                continue
            del running[n]
            f = work / f"{n}.json"
            results[n] = json.loads(f.read_text()) if proc.returncode == 0 and f.exists() else \
                {"failed": f"exit {proc.returncode}; see {work / (n + '.log')}"}
            print(f"[{time.time() - t0:5.0f} s] {n}: {results[n].get('test bits/dim', results[n].get('failed'))}",
                  flush=True)
    figures = {"device": args.device, "precision": args.precision, "scale": args.scale,
               "test bits/dim": {n: results[n].get("test bits/dim") for n in names}, "runs": results,
               "wall seconds": round(time.time() - t0, 1), "trained by": command_line()}
    print(json.dumps(figures["test bits/dim"], indent=1))
    if not args.no_write:
        notes = ("Recipes of 8-bit MNIST PixelCNN compared at the step counts of 60 CPU-minutes (steps fixed per "
                 "config; the device only makes the sweep fast). Exact test bits/dim of the EMA weights.")
        write_result(args.name, figures, notes, threads=args.threads, device=args.device)


if __name__ == "__main__":
    main()
