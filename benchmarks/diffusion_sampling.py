"""Sampling throughput: N class-conditional MNIST images with 20 DPM-Solver++(2M) steps and classifier-free
guidance, genlab's sampler vs diffusers' DPMSolverMultistepScheduler on the equal-size UNet2DModel.

Both run the same work per step (one guided network call on a double batch), in batches of --batch,
alternating genlab / diffusers batch by batch in one process; wall and CPU seconds are summed per side.
Weights come from the trained runs when given (speed does not depend on them).

    .venv/bin/python benchmarks/diffusion_sampling.py --n 1000 --threads 2 \
        --genlab-run runs/bench/ddpm-mnist-30cpumin --diffusers-run runs/bench/diffusers-mnist-30cpumin
    .venv/bin/python benchmarks/diffusion_sampling.py --n 250 --batch 125 --threads 1 --precision bf16

--precision bf16 runs genlab's network under bf16 autocast (its sampler stays fp32); diffusers runs as its
pipelines do by default, fp32.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import write_result
from diffusion_common import diffusers_model, genlab_model

GUIDANCE = 2.0


def diffusers_sample(unet, labels, generator, steps: int = 20, guidance: float = GUIDANCE, channels_last=False,
                     bf16: bool = False):
    """The guided DPM-Solver++(2M) loop of a diffusers pipeline, x in [0, 1], on the labels' device; the network
    under bf16 autocast when asked (the scheduler in fp32, as genlab's precision="bf16")."""
    import torch
    from diffusers import DPMSolverMultistepScheduler

    sched = DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                                        algorithm_type="dpmsolver++", solver_order=2)
    sched.set_timesteps(steps)
    n = labels.shape[0]
    x = torch.randn(n, 1, 28, 28, generator=generator, device=labels.device)
    null = torch.full_like(labels, unet.config.num_class_embeds - 1)
    with torch.no_grad():
        for t in sched.timesteps:
            inp = torch.cat([x, x])
            if channels_last:
                inp = inp.contiguous(memory_format=torch.channels_last)
            with torch.autocast(labels.device.type, torch.bfloat16, enabled=bf16):
                out = unet(inp, t, class_labels=torch.cat([labels, null])).sample
            cond, uncond = out.float().chunk(2)
            x = sched.step(uncond + guidance * (cond - uncond), t, x).prev_sample
    return ((x + 1) / 2).clamp(0, 1)


def load_diffusers(path: str | None):
    from safetensors.torch import load_file

    unet, _ = diffusers_model()
    if path:
        ema = load_file(Path(path) / "ema.safetensors")
        unet.load_state_dict({k[len("module."):]: v for k, v in ema.items() if k.startswith("module.")})
    return unet.eval()


def load_genlab(path: str | None):
    if path:
        from genlab.runs import load_run

        return load_run(path).model
    return genlab_model().eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--genlab-run")
    ap.add_argument("--diffusers-run")
    ap.add_argument("--no-channels-last", action="store_true", help="genlab in contiguous NCHW")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"],
                    help="genlab's sampling precision (the network under bf16 autocast for bf16)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--name", default="diffusion_sampling", help="result name (benchmarks/results/NAME.json)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    gl, df = load_genlab(args.genlab_run), load_diffusers(args.diffusers_run)
    if not args.no_channels_last:
        gl.to(memory_format=torch.channels_last)
    labels = torch.arange(args.n) % 10
    wall = {"genlab": 0.0, "diffusers": 0.0}
    cpu = dict(wall)
    for k, i in enumerate(range(0, args.n, args.batch)):
        y = labels[i:i + args.batch]
        order = ("genlab", "diffusers") if k % 2 == 0 else ("diffusers", "genlab")
        for name in order:
            g = torch.Generator().manual_seed(k)
            t0, c0 = time.perf_counter(), time.process_time()
            if name == "genlab":
                x = gl.sample(len(y), cond=y, generator=g, sampler="dpmpp_2m", steps=args.steps, guidance=GUIDANCE,
                              precision=args.precision).x
            else:
                x = diffusers_sample(df, y, g, args.steps)
            wall[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
            assert x.shape == (len(y), 1, 28, 28)
        print(f"batch {k}: genlab {wall['genlab']:.1f}s diffusers {wall['diffusers']:.1f}s (cumulative)", flush=True)
    figures = {"n": args.n, "steps": args.steps, "guidance": GUIDANCE, "batch": args.batch, "threads": args.threads,
               "genlab_channels_last": not args.no_channels_last, "genlab_precision": args.precision}
    for name, seconds in wall.items():
        figures[f"img_per_s_{name}"] = round(args.n / seconds, 3)
        figures[f"img_per_cpu_s_{name}"] = round(args.n / cpu[name], 3)
        figures[f"seconds_{name}"] = round(seconds, 1)
    figures["speedup_wall"] = round(wall["diffusers"] / wall["genlab"], 3)
    figures["speedup_cpu_time"] = round(cpu["diffusers"] / cpu["genlab"], 3)
    print(json.dumps(figures, indent=1))
    if not args.no_write:
        write_result(args.name, figures,
                     f"{args.n} class-conditional images, {args.steps} DPM-Solver++(2M) steps, guidance {GUIDANCE} "
                     "(a double batch per step), alternating batch by batch.", threads=args.threads)


if __name__ == "__main__":
    main()
