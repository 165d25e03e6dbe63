"""Sampling speed of every GAN generator: images/s for one forward pass (no iterative sampler).

Each family is built at its default options for 28x28 grey images (and, for dcgan/cgan/wgan-gp, also at the
channels the MNIST benchmark uses); weights do not change the cost, so untrained models are timed. One
call `model.sample(batch)` under torch.no_grad in eval mode is one measurement; after warm-up, `--repeats`
rounds alternate over the families (A, B, C, A, B, C, ...) so load changes on the shared machine hit all
alike; the figure is the median images/s (wall clock) and images per CPU-second.

    .venv/bin/python benchmarks/gan_speed.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json

import torch
from _common import RESULTS, CpuTimer, median, write_result

CONFIGS = {
    "gan": {},
    "dcgan": {},
    "dcgan (channels 32, 64)": {"channels": [32, 64]},
    "cgan (channels 32, 64)": {"channels": [32, 64]},
    "wgan-gp (channels 32, 64)": {"channels": [32, 64]},
    "stylegan": {},
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    return p.parse_args(argv)


def diffusion_figure() -> dict | None:
    """The diffusion sampler's images/s (benchmark diffusion_sampling: 20 guided DPM-Solver++ steps, so 40
    network calls per image), when that result exists."""
    path = RESULTS / "diffusion_sampling.json"
    if not path.exists():
        return None
    figures = json.loads(path.read_text()).get("figures", {})
    found = {k: v for k, v in figures.items() if k.startswith("img_per_s") or k in ("steps", "guidance", "batch")}
    return {"result": "diffusion_sampling", **found} if found else None


def main(argv=None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    from genlab.models import build_model

    models = {}
    for name, options in CONFIGS.items():
        family = name.split(" ")[0]
        torch.manual_seed(0)
        models[name] = build_model(family, {**options, "coverage_every": 0}, shape=(1, 28, 28),
                                   num_classes=10).eval().to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(0)
    wall: dict[str, list[float]] = {k: [] for k in models}
    cpu: dict[str, list[float]] = {k: [] for k in models}
    with torch.no_grad():
        for m in models.values():  # warm-up
            m.sample(a.batch, generator=g)
        for _ in range(a.repeats):
            for name, m in models.items():
                with CpuTimer() as t:
                    m.sample(a.batch, generator=g)
                wall[name].append(a.batch / t.wall)
                cpu[name].append(a.batch / max(t.cpu, 1e-9))
    figures: dict = {}
    for name, m in models.items():
        params = sum(p.numel() for p in m.G.parameters())
        figures[name] = {"images/s": round(median(wall[name])), "images per CPU-second": round(median(cpu[name])),
                         "generator parameters": params}
        print(name, figures[name], flush=True)
    diff = diffusion_figure()
    figures["diffusion (for comparison)"] = diff or "no diffusion benchmark result yet"
    if not a.no_write:
        write_result("gan_speed", figures, threads=a.threads,
                     notes=f"one generator forward pass for a batch of {a.batch} 28x28 images, fp32 channels-last, "
                           f"median of {a.repeats} interleaved rounds, torch threads {a.threads} "
                           "(OMP_WAIT_POLICY=PASSIVE) on a shared 2-core machine")


if __name__ == "__main__":
    main()
