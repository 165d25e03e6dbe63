"""Training throughput (images/s) of genlab's default conv VAE on MNIST at batch 128: fp32,
fp32 + channels_last, and bf16 autocast + channels_last.

genlab's default `vae` options (arch "conv", channels (32, 64), hidden (256,), latent 16, silu,
Bernoulli likelihood) on the 60k MNIST training images, Adam lr 1e-3. One Trainer per variant is built
and warmed up (`--warmup` steps), then the variants take turns: each round runs `--block` steps of
every variant, timing Trainer.train_step (batch sampling, forward, backward, optimizer step), so a
change in the machine's load hits all variants alike. A variant whose steps are very slow (bf16 on a
CPU without native bf16) runs `--slow-block` steps per round instead. Figures: images per wall second
and per process-CPU second, over all timed steps.

    .venv/bin/python benchmarks/vae_throughput.py            # 4 rounds x 50 steps (200 timed steps each)
    .venv/bin/python benchmarks/vae_throughput.py --quick    # 2 rounds x 10 steps
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import load_mnist, write_result

VARIANTS = {"fp32": dict(bf16=False, channels_last=False),
            "fp32 channels_last": dict(bf16=False, channels_last=True),
            "bf16 autocast + channels_last": dict(bf16=True, channels_last=True)}


def make_trainer(data, threads: int, **options):
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.training.trainer import Trainer

    config = RunConfig("vae", {}, DataConfig(name="mnist"),
                       TrainConfig(steps=10**6, batch_size=128, lr=1e-3, threads=threads, progress=False,
                                   log_every=10**6, **options))
    return Trainer(config, data)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2 rounds of 10 steps")
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--block", type=int, default=None, help="steps per variant per round (default 50; quick 10)")
    p.add_argument("--slow-block", type=int, default=None,
                   help="steps per round for a variant 4x slower than fp32 (default block // 5)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 4)
    block = args.block or (10 if args.quick else 50)
    slow_block = args.slow_block or max(2, block // 5)
    torch.set_num_threads(args.threads)
    data = load_mnist("train")

    trainers = {name: make_trainer(data, args.threads, **opts) for name, opts in VARIANTS.items()}
    params = sum(p.numel() for p in trainers["fp32"].model.parameters())
    per_step = {}
    for name, tr in trainers.items():  # warm-up, and a first per-step cost to spot very slow variants
        t = time.process_time()
        for _ in range(args.warmup):
            tr.train_step()
        per_step[name] = (time.process_time() - t) / args.warmup
    steps = {name: block if per_step[name] < 4 * per_step["fp32"] else slow_block for name in trainers}
    wall = dict.fromkeys(trainers, 0.0)
    cpu = dict.fromkeys(trainers, 0.0)
    done = dict.fromkeys(trainers, 0)
    for r in range(rounds):
        for name, tr in trainers.items():
            w, c = time.perf_counter(), time.process_time()
            for _ in range(steps[name]):
                tr.train_step()
            wall[name] += time.perf_counter() - w
            cpu[name] += time.process_time() - c
            done[name] += steps[name]
        print(f"round {r + 1}/{rounds}: " + "  ".join(
            f"{n}: {done[n] * 128 / wall[n]:.0f} img/s" for n in trainers), flush=True)

    figures: dict = {}
    for name in trainers:
        figures[f"{name}, images/s"] = round(done[name] * 128 / wall[name], 1)
    for name in trainers:
        figures[f"{name}, images per CPU-second"] = round(done[name] * 128 / cpu[name], 1)
    base = done["fp32"] / cpu["fp32"]
    for name in list(trainers)[1:]:
        figures[f"speed-up of {name} over fp32 (CPU-time)"] = round(done[name] / cpu[name] / base, 2)
    figures.update({"timed steps per variant": done, "batch size": 128, "parameters": params,
                    "model": "genlab vae defaults: conv, channels (32, 64), hidden (256,), latent 16, silu"})
    notes = (f"{args.threads} torch threads; Adam lr 1e-3; steps timed in alternating blocks after {args.warmup} "
             "warm-up steps per variant. Per-CPU-second figures are the steadier ones on a shared machine. "
             "bf16 autocast is only fast on CPUs with native bf16 (AVX-512 BF16 or AMX); see machine.cpu_capability.")
    write_result("vae_throughput", figures, notes, threads=args.threads)
    return figures


if __name__ == "__main__":
    main()
