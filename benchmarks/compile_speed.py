"""--train.compile against eager: the trainer's own step of each model, compiled by torch.compile (inductor) and
not, interleaved round by round, and the CPU seconds the first compiled steps cost.

For each model, two Trainers with the same config but `compile`, both in the precision and layout given
(--precision, default bf16 channels-last, what auto picks for these models on a CPU with AMX): the first
`--warmup` steps of each are timed apart (the compiled one compiles there), then `--rounds` rounds of
`--per-round` steps each, alternating, process CPU time. Figures: median ms per step, the speed-up, the
warm-up CPU seconds and the C++ compiler's subprocess CPU seconds (outside process time, reported beside
it), both from a cold inductor cache, and the last losses of both (the same function from the same seed).

    .venv/bin/python benchmarks/compile_speed.py --models pixelcnn --threads 1
    .venv/bin/python benchmarks/compile_speed.py --models pixelcnn ddpm --threads 1   # ddpm compiles for minutes
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="genlab-compile-"))  # a cold cache:
# the compile cost a first run pays (later runs of the same model reuse inductor's cache in /tmp)

import argparse
import time

import _common  # noqa: F401  (sets OMP_WAIT_POLICY=PASSIVE and inductor's in-process compile before torch loads)
import torch
from _common import CpuTimer, load_mnist, median, write_result

MODELS = {  # family: (options, batch, lr) as their benchmarks train them
    "pixelcnn": ({"preset": "base"}, 32, 3e-3),
    "ddpm": ({"conditional": True}, 64, 2e-4),
    "vae": ({"arch": "conv", "channels": (32, 64), "hidden": (256,), "latent_dim": 16}, 128, 1e-3),
    "flow": ({}, 32, 1e-3),  # the cpu preset's batch and lr (genlab/models/recipes.py)
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=["pixelcnn"])
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--contiguous", action="store_true", help="train contiguous (default channels-last)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=3, help="steps before timing (the compiled one compiles here)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--per-round", type=int, default=3)
    p.add_argument("--name", default="compile_speed", help="result name: benchmarks/results/NAME.json")
    p.add_argument("--out", default=None, help="result JSON path (default benchmarks/results/NAME.json)")
    return p.parse_args(argv)


def trainer(family: str, data, compiled: bool, args):
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.training.trainer import Trainer

    options, batch, lr = MODELS[family]
    tc = TrainConfig(steps=100_000, batch_size=batch, lr=lr, precision=args.precision,
                     channels_last=not args.contiguous, compile=compiled, threads=args.threads, progress=False)
    return Trainer(RunConfig(family, dict(options), DataConfig("mnist"), tc), data)


def measure(family: str, data, args) -> dict:
    trainers = {"eager": trainer(family, data, False, args), "compiled": trainer(family, data, True, args)}
    figures: dict = {}
    for name, t in trainers.items():
        with CpuTimer() as warm:
            for _ in range(args.warmup):
                t.train_step()
        figures[f"{name}: first {args.warmup} steps, CPU seconds"] = round(warm.cpu, 1)
        figures[f"{name}: compiler subprocess CPU seconds"] = round(warm.children, 1)
    times: dict[str, list[float]] = {k: [] for k in trainers}
    last: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, t in trainers.items():
            c0 = time.process_time()
            for _ in range(args.per_round):
                last[name] = float(t.train_step()["loss"])
            times[name].append((time.process_time() - c0) / args.per_round)
    ms = {k: median(v) * 1000 for k, v in times.items()}
    figures.update({f"{k}: ms per step": round(v, 1) for k, v in ms.items()})
    figures["speed-up (eager / compiled)"] = round(ms["eager"] / ms["compiled"], 3)
    figures["last loss"] = {k: round(v, 5) for k, v in last.items()}
    steps = args.warmup + args.rounds * args.per_round
    figures["steps each"] = steps
    figures["settings"] = {"options": MODELS[family][0], "batch": MODELS[family][1], "precision": args.precision,
                           "channels_last": not args.contiguous}
    print(family, figures, flush=True)
    return figures


def main(argv=None) -> None:
    from pathlib import Path

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_mnist("train")
    figures = {family: measure(family, data, args) for family in args.models}
    write_result(args.name, figures, threads=args.threads, path=Path(args.out) if args.out else None,
                 notes="Trainer.train_step() of each model with and without --train.compile (torch.compile, "
                       "inductor), same config and seed, medians of interleaved rounds of process CPU time; the "
                       "compiled trainer's first steps include its compile time.")


if __name__ == "__main__":
    main()
