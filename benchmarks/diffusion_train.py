"""Train the two class-conditional MNIST diffusion models compared in benchmarks/diffusion_guided_quality.py,
each for the same CPU-time budget, data order, batch size, learning rate, warm-up and EMA:

    genlab:    genlab's trainer on `ddpm` (the 28x28 preset, channels-last), budget_clock="cpu"
    diffusers: UNet2DModel + DDPMScheduler (same size and schedule) in a plain loop

    .venv/bin/python benchmarks/diffusion_train.py genlab --budget 1800 --out runs/bench-ddpm-mnist
    .venv/bin/python benchmarks/diffusion_train.py diffusers --budget 1800 --out runs/bench-diffusers-mnist

The diffusers loop checkpoints every 100 steps and resumes from its last checkpoint (with the CPU
time already spent) when started again with the same --out.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from _common import ROOT  # noqa: F401  (sets sys.path for genlab)

LR, WARMUP, EMA, BATCH, COND_DROP = 1e-3, 100, 0.995, 64, 0.1


def train_genlab(args) -> None:
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import train

    options = {"conditional": True, "cond_drop": COND_DROP, **json.loads(args.options)}
    tc = TrainConfig(steps=10 ** 6, batch_size=BATCH, lr=LR, warmup_steps=WARMUP, ema_decay=EMA, seed=args.seed,
                     device="cpu", channels_last=True, threads=args.threads, time_budget=args.budget,
                     budget_clock="cpu", log_every=50, checkpoint_every=200, progress=False)
    config = RunConfig("ddpm", options, DataConfig("mnist"), tc)
    result = train(config, args.out, resume=Path(args.out, "checkpoints").exists(), overwrite=False,
                   on_log=lambda r: print(json.dumps(r), flush=True))
    print(f"genlab: {result.stopped} at step {result.step}")


def train_diffusers(args) -> None:
    import torch
    from diffusion_common import DiffusersStep, diffusers_model
    from safetensors.torch import load_file, save_file
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from genlab.data import load_data
    from genlab.training.batches import BatchSampler
    from genlab.training.trainer import lr_lambda

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    unet, sched = diffusers_model(seed=args.seed)
    step_fn = DiffusersStep(unet, sched, lr=LR, cond_drop=COND_DROP)
    ema = AveragedModel(unet, multi_avg_fn=get_ema_multi_avg_fn(EMA), use_buffers=True)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(step_fn.opt, lambda s: lr_lambda(s, WARMUP, 10 ** 6, "constant"))
    data = load_data("mnist", split="train")
    batches = BatchSampler(data, BATCH, seed=args.seed)  # the same batches as genlab's trainer
    g = torch.Generator().manual_seed(args.seed * 7919)
    step, spent = 0, 0.0
    state_path = out / "state.pt"
    if state_path.exists():
        st = torch.load(state_path, weights_only=True)
        unet.load_state_dict(load_file(out / "model.safetensors"))
        ema.load_state_dict(load_file(out / "ema.safetensors"))
        step_fn.opt.load_state_dict(st["opt"])
        lr_sched.load_state_dict(st["sched"])
        g.set_state(st["generator"])
        step, spent = int(st["step"]), float(st["cpu_seconds"])
        print(f"resumed at step {step} with {spent:.0f} CPU-s spent", flush=True)

    def save():
        save_file({k: v.contiguous() for k, v in unet.state_dict().items()}, out / "model.safetensors")
        save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, out / "ema.safetensors")
        torch.save({"opt": step_fn.opt.state_dict(), "sched": lr_sched.state_dict(), "generator": g.get_state(),
                    "step": step, "cpu_seconds": spent}, out / "state.pt")
        (out / "config.json").write_text(json.dumps({"step": step, "cpu_seconds": spent, "lr": LR, "ema": EMA,
                                                     "batch": BATCH, "unet": unet.config}, indent=1, default=str))

    c0, losses, t_log = time.process_time(), [], time.perf_counter()
    while spent + (time.process_time() - c0) < args.budget:
        batch = batches.batch(step, g)
        losses.append(step_fn(batch.x, batch.y, g))
        lr_sched.step()
        ema.update_parameters(unet)
        step += 1
        if step % 50 == 0:
            cpu = spent + time.process_time() - c0
            rec = {"step": step, "loss": sum(losses) / len(losses), "cpu_s": round(cpu, 1),
                   "img_per_s": round(50 * BATCH / (time.perf_counter() - t_log), 1)}
            print(json.dumps(rec), flush=True)
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
            losses, t_log = [], time.perf_counter()
        if step % 100 == 0:
            spent, c0 = spent + time.process_time() - c0, time.process_time()
            save()
    spent += time.process_time() - c0
    save()
    print(f"diffusers: done at step {step}, {spent:.0f} CPU-s", flush=True)
    assert math.isfinite(spent)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["genlab", "diffusers"])
    ap.add_argument("--budget", type=float, default=1800.0, help="CPU seconds")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--options", default="{}", help="genlab ddpm options as JSON")
    args = ap.parse_args()
    (train_genlab if args.which == "genlab" else train_diffusers)(args)


if __name__ == "__main__":
    main()
