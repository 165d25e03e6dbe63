"""Does bf16 sampling cost quality? The same trained ddpm run sampled in fp32 and with its network under bf16
autocast (`sample(..., precision="bf16")`; the sampler's arithmetic stays fp32), from the same noise:
CPU time of each, classifier-FID of each against the MNIST test set (genlab's shipped MNIST classifier
features), and how far the two sets of images are apart pixel by pixel.

Batches alternate fp32 / bf16 (bf16 / fp32 on the next batch) so a busy machine slows both alike.

    .venv/bin/python benchmarks/diffusion_sampling_precision.py --run runs/bench/q-genlab/run --n 1000
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import write_result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/bench/q-genlab/run", help="a trained ddpm run on MNIST")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--steps", type=int, default=20, help="DPM-Solver++(2M) steps")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from genlab.data import load_data
    from genlab.eval.classifier import load_classifier
    from genlab.eval.metrics import fid
    from genlab.runs import load_run

    model = load_run(args.run).model.to(memory_format=torch.channels_last)
    cpu = {"fp32": 0.0, "bf16": 0.0}
    images: dict[str, list[torch.Tensor]] = {"fp32": [], "bf16": []}
    for k, i in enumerate(range(0, args.n, args.batch)):
        n = min(args.batch, args.n - i)
        for precision in ("fp32", "bf16") if k % 2 == 0 else ("bf16", "fp32"):
            c0 = time.process_time()
            x = model.sample(n, generator=torch.Generator().manual_seed(k), sampler="dpmpp_2m", steps=args.steps,
                             precision=precision).x
            cpu[precision] += time.process_time() - c0
            images[precision].append(x)
        print(f"batch {k}: fp32 {cpu['fp32']:.0f} CPU-s, bf16 {cpu['bf16']:.0f} CPU-s (cumulative)", flush=True)
    x = {p: torch.cat(v) for p, v in images.items()}
    clf = load_classifier("mnist")
    real = clf.features(load_data("mnist", split="test").images())
    diff = (x["fp32"] - x["bf16"]).abs()
    figures = {"run": args.run, "n": args.n, "steps": args.steps, "sampler": "dpmpp_2m", "threads": args.threads,
               "CPU seconds fp32": round(cpu["fp32"], 1), "CPU seconds bf16": round(cpu["bf16"], 1),
               "bf16 speed-up (CPU time)": round(cpu["fp32"] / cpu["bf16"], 2),
               "classifier FID fp32": round(float(fid(real, clf.features(x["fp32"]))), 3),
               "classifier FID bf16": round(float(fid(real, clf.features(x["bf16"]))), 3),
               "mean |fp32 - bf16| per pixel": round(float(diff.mean()), 5),
               "share of pixels apart by more than 1/255": round(float((diff > 1 / 255).float().mean()), 4)}
    print(figures, flush=True)
    if not args.no_write:
        write_result("diffusion_sampling_precision", figures,
                     "The same run and noise sampled in fp32 and with the network under bf16 autocast; FID of "
                     "each against the 10,000 MNIST test images in genlab's MNIST-classifier features.",
                     threads=args.threads)


if __name__ == "__main__":
    main()
