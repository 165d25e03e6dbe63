"""Training-step speed: genlab's ddpm vs diffusers' UNet2DModel + DDPMScheduler, side by side.

Both are class-conditional eps-prediction models on 28x28 MNIST batches of 64 with label dropout and
Adam; the step is forward + backward + optimizer step. Parameter counts and FLOPs per step (by
torch.utils.flop_counter) are recorded and must agree within 10%. Steps alternate A, B, A, B in one
process with the same number of threads; the figures are medians. Achieved GFLOP/s of both are
reported beside the fp32 and bf16 conv peaks (3x3, 64->64, 64x28x28, forward + backward) measured in
the same run, and genlab's GroupNorm + SiLU (forward + backward, 64x96x28x28 channels-last) by its native
kernel and by its torch fallback (GENLAB_NATIVE=0).

    .venv/bin/python benchmarks/diffusion_speed.py --threads 2 --reps 20
"""

from __future__ import annotations

import argparse
import json
import time

from _common import machine, median, write_result  # noqa: F401  (sets sys.path for genlab)
from diffusion_common import (
    DiffusersStep,
    GenlabStep,
    conv_peak,
    diffusers_model,
    gemm_peak,
    genlab_model,
    group_norm_silu_ms,
    n_params,
    step_flops,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=20, help="timed steps per model")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--options", default="{}", help="genlab ddpm options as JSON (default: the 28x28 preset)")
    ap.add_argument("--bf16", action="store_true", help="genlab under bf16 autocast")
    ap.add_argument("--no-channels-last", action="store_true", help="genlab in contiguous NCHW")
    ap.add_argument("--diffusers-channels-last", action="store_true")
    ap.add_argument("--name", default="diffusion_speed", help="result name (benchmarks/results/NAME.json)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    import torch

    from genlab.data import load_data
    from genlab.nn import native

    torch.set_num_threads(args.threads)
    data = load_data("mnist", split="train")
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(data), generator=g)[: args.batch * 4]
    batches = [(data.images(idx[i::4]), data.y[idx[i::4]]) for i in range(4)]

    genlab = GenlabStep(genlab_model(json.loads(args.options)), channels_last=not args.no_channels_last,
                        bf16=args.bf16)
    unet, sched = diffusers_model()
    diff = DiffusersStep(unet, sched, channels_last=args.diffusers_channels_last)
    x, y = batches[0]
    figures: dict = {"batch": args.batch, "threads": args.threads, "genlab_options": json.loads(args.options),
                     "genlab_bf16": args.bf16, "genlab_channels_last": not args.no_channels_last,
                     "diffusers_channels_last": args.diffusers_channels_last}
    figures["params_genlab"], figures["params_diffusers"] = n_params(genlab.model), n_params(unet)
    figures["gflop_per_step_genlab"] = step_flops(genlab, x, y) / 1e9
    figures["gflop_per_step_diffusers"] = step_flops(diff, x, y) / 1e9
    figures["params_ratio"] = figures["params_genlab"] / figures["params_diffusers"]
    figures["flops_ratio"] = figures["gflop_per_step_genlab"] / figures["gflop_per_step_diffusers"]
    print({k: figures[k] for k in ("params_genlab", "params_diffusers", "gflop_per_step_genlab",
                                   "gflop_per_step_diffusers")}, flush=True)

    wall = {"genlab": [], "diffusers": []}
    cpu = {"genlab": [], "diffusers": []}
    steps = {"genlab": genlab, "diffusers": diff}
    for step in steps.values():  # warm-up
        for i in range(2):
            step(*batches[i % 4], g)
    for r in range(args.reps):
        order = ("genlab", "diffusers") if r % 2 == 0 else ("diffusers", "genlab")
        for name in order:
            xb, yb = batches[r % 4]
            t0, c0 = time.perf_counter(), time.process_time()
            steps[name](xb, yb, g)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
        print(f"rep {r}: genlab {wall['genlab'][-1]:.3f}s diffusers {wall['diffusers'][-1]:.3f}s", flush=True)
    for name in steps:
        w, c = median(wall[name]), median(cpu[name])
        figures[f"s_per_step_{name}"] = round(w, 4)
        figures[f"cpu_s_per_step_{name}"] = round(c, 4)
        figures[f"img_per_s_{name}"] = round(args.batch / w, 2)
        figures[f"gflops_achieved_{name}"] = round(figures[f"gflop_per_step_{name}"] / w, 1)
    figures["speedup_wall"] = round(figures["s_per_step_diffusers"] / figures["s_per_step_genlab"], 3)
    figures["speedup_cpu_time"] = round(figures["cpu_s_per_step_diffusers"] / figures["cpu_s_per_step_genlab"], 3)
    ratios = [d / gl for d, gl in zip(wall["diffusers"], wall["genlab"])]
    figures["speedup_pairwise_median"] = round(median(ratios), 3)
    for dtype in ("fp32", "bf16"):
        for layout in ("channels_last", "contiguous"):
            peaks = conv_peak(dtype == "bf16", channels_last=layout == "channels_last")
            figures[f"conv_peak_{dtype}_{layout}_gflops"] = round(peaks["both"], 1)  # forward + backward
            figures[f"conv_peak_{dtype}_{layout}_forward_gflops"] = round(peaks["forward"], 1)
            figures[f"conv_peak_{dtype}_{layout}_backward_gflops"] = round(peaks["backward"], 1)
        figures[f"gemm_2048_{dtype}_gflops"] = round(gemm_peak(dtype == "bf16"), 1)
    for dtype in ("bf16", "fp32"):  # genlab's GroupNorm + SiLU: native kernel against the torch fallback
        for path in ("native", "torch"):
            ms = group_norm_silu_ms(dtype == "bf16", path == "native")
            figures[f"group_norm_silu_{dtype}_{path}_ms"] = round(ms, 2)
    figures["native_kernels"] = native.load("group_norm_nhwc") is not None
    figures["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    for k in ("gflop_per_step_genlab", "gflop_per_step_diffusers", "params_ratio", "flops_ratio"):
        figures[k] = round(figures[k], 4)
    print(json.dumps(figures, indent=1))
    if not args.no_write:
        notes = ("Target: genlab >= 3x diffusers' images/s at equal params and FLOPs (within 10%). Medians over "
                 f"{args.reps} alternating steps; wall-clock on a shared 2-core machine is noisy, so CPU-time per "
                 "step is reported too.")
        write_result(args.name, figures, notes, threads=args.threads)


if __name__ == "__main__":
    main()
