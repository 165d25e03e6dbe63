"""GPU speed: genlab's ddpm against diffusers' UNet2DModel of equal size (diffusion_common.py) on one CUDA device.

Training: one step (forward, backward, Adam) on MNIST batches, per batch size and precision (fp32, and bf16
autocast for both libraries), the two libraries alternating step by step in one process, each step timed
between CUDA synchronisations; the figures are medians. Sampling: --n class-conditional images with 20
DPM-Solver++(2M) steps at guidance 2 in batches of --sample-batch, genlab's `sample` (precision fp32 or bf16)
against the diffusers loop of diffusion_sampling.py (its network under the same autocast), alternating batch by
batch. Both sides use their default memory layout on the GPU (contiguous NCHW).

    python benchmarks/diffusion_gpu.py                    # on a machine with a CUDA GPU
    python benchmarks/diffusion_gpu.py --quick --device cpu --no-write   # a smoke run of the same code
    python benchmarks/diffusion_gpu.py --compile reduce-overhead --no-sample   # both libraries torch.compiled

--compile MODE compiles both sides with torch.compile in that mode (genlab's training_losses, as
--train.compile does, and diffusers' UNet2DModel); the warm-up then includes the compile, whose seconds are
recorded per library. The result is then named diffusion_gpu_compile_<mode>.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import median, write_result
from diffusion_common import DiffusersStep, GenlabStep, diffusers_model, genlab_model, n_params
from diffusion_sampling import GUIDANCE, diffusers_sample


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_speed(device, batch: int, bf16: bool, reps: int, data, compile: str | None = None,
                warmup: dict | None = None) -> dict[str, float]:
    """Median seconds per training step of each library at this batch size and precision (the warm-up's
    seconds, which include any compile, go into `warmup`)."""
    import torch

    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(batch))[: batch * 4]
    batches = [(data.images(idx[i::4]).to(device), data.y[idx[i::4]].to(device)) for i in range(4)]
    gl = genlab_model().to(device)
    unet, sched = diffusers_model()
    steps = {"genlab": GenlabStep(gl, channels_last=False, bf16=bf16, compile=compile),
             "diffusers": DiffusersStep(unet.to(device), sched, bf16=bf16, compile=compile)}
    g = torch.Generator(device=device).manual_seed(0)
    for name, step in steps.items():  # warm-up: cuDNN's algorithm search, Adam's state, the compile
        t0 = time.perf_counter()
        for i in range(3):
            step(*batches[i % 4], g)
        sync(device)
        if warmup is not None:
            warmup[name] = time.perf_counter() - t0
    times = {name: [] for name in steps}
    for r in range(reps):
        for name in (("genlab", "diffusers") if r % 2 == 0 else ("diffusers", "genlab")):
            sync(device)
            t0 = time.perf_counter()
            steps[name](*batches[r % 4], g)
            sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: median(t) for name, t in times.items()}


def sample_speed(device, n: int, batch: int, bf16: bool, steps: int) -> dict[str, float]:
    """Seconds to sample n images, each library."""
    import torch

    gl, (unet, _) = genlab_model().to(device).eval(), diffusers_model()
    unet = unet.to(device).eval()
    labels = torch.arange(n, device=device) % 10
    precision = "bf16" if bf16 else "fp32"
    run = {"genlab": lambda y, g: gl.sample(len(y), cond=y, generator=g, sampler="dpmpp_2m", steps=steps,
                                            guidance=GUIDANCE, precision=precision).x,
           "diffusers": lambda y, g: diffusers_sample(unet, y, g, steps, bf16=bf16)}
    for name in run:  # warm-up
        run[name](labels[:batch], torch.Generator(device=device).manual_seed(0))
    seconds = {name: 0.0 for name in run}
    for k, i in enumerate(range(0, n, batch)):
        y = labels[i:i + batch]
        for name in (("genlab", "diffusers") if k % 2 == 0 else ("diffusers", "genlab")):
            g = torch.Generator(device=device).manual_seed(k)
            sync(device)
            t0 = time.perf_counter()
            x = run[name](y, g)
            sync(device)
            seconds[name] += time.perf_counter() - t0
            assert x.shape == (len(y), 1, 28, 28) and bool(torch.isfinite(x).all())
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--reps", type=int, default=30, help="timed training steps per library and setting")
    ap.add_argument("--n", type=int, default=2000, help="images to sample per library and precision")
    ap.add_argument("--sample-batch", type=int, default=500)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--compile", metavar="MODE", help="torch.compile both libraries' training step in this mode "
                    "(default, reduce-overhead, max-autotune-no-cudagraphs, ...)")
    ap.add_argument("--no-sample", action="store_true", help="time training only")
    ap.add_argument("--quick", action="store_true", help="batch 8, 2 reps, 16 images in batches of 8, 2 steps")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.batches, args.reps, args.n, args.sample_batch, args.steps = [8], 2, 16, 8, 2

    import torch

    from genlab.data import load_data
    from genlab.nn.bf16 import bf16_is_native

    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("diffusion_gpu.py: no CUDA GPU is visible; run it on a GPU machine (or --device cpu)")
        torch.backends.cudnn.benchmark = True  # what a user training on a GPU turns on; both libraries get it
    data = load_data("mnist", split="train")
    unet, _ = diffusers_model()
    figures: dict = {"device": str(device), "params_genlab": n_params(genlab_model()),
                     "params_diffusers": n_params(unet),
                     "batches": args.batches, "reps": args.reps, "n": args.n, "sample_batch": args.sample_batch,
                     "steps": args.steps, "guidance": GUIDANCE, "compile": args.compile or "eager"}
    if device.type == "cuda":
        figures["gpu"] = torch.cuda.get_device_name(device)
    precisions = ["fp32"] + (["bf16"] if bf16_is_native(device) else [])
    for precision in precisions:
        for batch in args.batches:
            warmup: dict[str, float] = {}
            s = train_speed(device, batch, precision == "bf16", args.reps, data, args.compile, warmup)
            key = f"train_b{batch}_{precision}"
            for name, sec in s.items():
                figures[f"{key}_ms_{name}"] = round(1e3 * sec, 3)
                figures[f"{key}_img_per_s_{name}"] = round(batch / sec, 1)
                figures[f"{key}_warmup_s_{name}"] = round(warmup[name], 2)
            figures[f"{key}_speedup"] = round(s["diffusers"] / s["genlab"], 3)
            print(key, {k: v for k, v in figures.items() if k.startswith(key)}, flush=True)
        if args.no_sample:
            continue
        s = sample_speed(device, args.n, args.sample_batch, precision == "bf16", args.steps)
        key = f"sample_{precision}"
        for name, sec in s.items():
            figures[f"{key}_img_per_s_{name}"] = round(args.n / sec, 1)
        figures[f"{key}_speedup"] = round(s["diffusers"] / s["genlab"], 3)
        print(key, {k: v for k, v in figures.items() if k.startswith(key)}, flush=True)
    print(json.dumps(figures, indent=1))
    if not args.no_write:
        name = "diffusion_gpu" if args.compile is None else f"diffusion_gpu_compile_{args.compile}"
        what = "" if args.compile is None else f", both torch.compiled (mode {args.compile}; warmup_s includes it)"
        sampled = "" if args.no_sample else (f", and sampling throughput ({args.steps} DPM-Solver++(2M) steps, "
                                              f"guidance {GUIDANCE})")
        write_result(name, figures,
                     "genlab's ddpm against diffusers' UNet2DModel of equal size on one GPU: training-step medians "
                     f"over {args.reps} alternating steps per setting{what}{sampled}. "
                     "speedup = diffusers' time / genlab's.", device=str(device))


if __name__ == "__main__":
    main()
