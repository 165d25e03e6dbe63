"""What keep_freed_memory (genlab/training/memory.py, called by the `genlab` command) buys: the same work in two
child processes, one with glibc's default malloc (GENLAB_KEEP_FREED_MEMORY=0) and one with freed memory kept,
one after the other, each case twice in alternation; medians of wall, user and system CPU seconds, minor page
faults and peak resident memory.

    .venv/bin/python benchmarks/freed_memory.py                 # all cases, about 4 minutes
    .venv/bin/python benchmarks/freed_memory.py --cases nll      # one

Cases (untrained weights: the speed of the arithmetic does not depend on them):
- nll: the exact NLL of 1,000 MNIST test images under a base pixelcnn, as `genlab eval` computes it
  (genlab.models.likelihood.image_nats, batches of 250);
- ddpm: 10 training steps of the ddpm preset's U-Net, batch 64, fp32 channels-last;
- pixelcnn: 10 training steps of the base pixelcnn, batch 16, fp32 channels-last.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from _common import ROOT, median, write_result

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[2])
from genlab.training.memory import keep_freed_memory
kept = keep_freed_memory()
import torch
torch.set_num_threads(int(sys.argv[3]))
from genlab.data import load_data
case = sys.argv[1]
if case == "nll":
    from genlab.models import build_model
    from genlab.models.likelihood import image_nats
    test = load_data("mnist", split="test")
    model = build_model("pixelcnn", {}, spec=test.spec).eval()
    x = test.images()[:1000]
    work = lambda: image_nats(model, x, None, batch_size=250)
else:
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.training.trainer import Trainer
    batch = {"ddpm": 64, "pixelcnn": 16}[case]
    tc = TrainConfig(steps=10**6, batch_size=batch, lr=1e-3, precision="fp32", channels_last=True,
                     threads=int(sys.argv[3]), progress=False)
    trainer = Trainer(RunConfig(case, {}, DataConfig("mnist"), tc), load_data("mnist"))
    for _ in range(2):
        trainer.train_step()  # warm-up
    def work():
        for _ in range(10):
            trainer.train_step()
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
work()
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
print(json.dumps({"kept": kept, "wall s": t1 - t0, "user s": r1.ru_utime - r0.ru_utime,
                  "system s": r1.ru_stime - r0.ru_stime, "minor faults": r1.ru_minflt - r0.ru_minflt,
                  "peak MB": r1.ru_maxrss / 1024}))
"""


def run(case: str, keep: bool, threads: int) -> dict:
    env = {**os.environ, "GENLAB_KEEP_FREED_MEMORY": "1" if keep else "0", "OMP_WAIT_POLICY": "PASSIVE"}
    out = subprocess.run([sys.executable, "-c", CHILD, case, str(ROOT), str(threads)], env=env, capture_output=True,
                         text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"{case}: child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.splitlines()[-1])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", nargs="+", choices=["nll", "ddpm", "pixelcnn"], default=["nll", "ddpm", "pixelcnn"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2, help="alternating runs of each setting")
    p.add_argument("--name", default="freed_memory", help="result name: benchmarks/results/NAME.json")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    figures: dict = {}
    for case in args.cases:
        runs: dict[str, list[dict]] = {"glibc default": [], "kept": []}
        for _ in range(args.rounds):
            for keep in (False, True):
                runs["kept" if keep else "glibc default"].append(run(case, keep, args.threads))
        row = {setting: {k: round(median([r[k] for r in rs]), 2) for k in rs[0] if k != "kept"}
               for setting, rs in runs.items()}
        row["kept"]["applied"] = all(r["kept"] for r in runs["kept"])
        row["speed-up (wall)"] = round(row["glibc default"]["wall s"] / row["kept"]["wall s"], 3)
        figures[case] = row
        print(case, json.dumps(row), flush=True)
    if not args.no_write:
        first = args.cases[0]
        write_result(args.name, figures, threads=args.threads, notes=(
            "Each case in fresh child processes, GENLAB_KEEP_FREED_MEMORY=0 (glibc's malloc as it comes: every "
            "allocation over 32 MB is a fresh mmap whose pages fault in again) against keep_freed_memory() (mmap "
            "off, freed memory kept and reused), alternated; medians over the rounds."),
            headline={"figure": f"{first} > speed-up (wall)", "target": "reported (no target)", "met": None})
    return figures


if __name__ == "__main__":
    main()
