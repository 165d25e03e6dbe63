"""Shared helpers of the image-to-image benchmarks (i2i_sr.py, i2i_pix2pix.py, i2i_cyclegan.py): train a run
for a CPU-time budget through genlab.train, and judge images with genlab's classifier."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from _common import ROOT

RUNS = ROOT / "runs" / "bench-i2i"


def train_run(family: str, name: str, data: str, model: dict[str, Any], *, budget: float, batch_size: int = 32,
              lr: float = 1e-3, data_b: str | None = None, seed: int = 0,
              steps: int = 1_000_000) -> dict[str, Any]:
    """Train `family` on `data` for `budget` CPU-seconds (one thread) in runs/bench-i2i/NAME (replaced);
    returns the run folder, steps done and the CPU seconds the training took."""
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import train

    tc = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, time_budget=budget, budget_clock="cpu",
                     threads=1, progress=False, log_every=100, checkpoint_every=0)
    config = RunConfig(family, model, DataConfig(name=data, name_b=data_b), tc)
    run_dir = RUNS / name
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    result = train(config, run_dir, overwrite=run_dir.exists(), runs_dir=RUNS)
    return {"run": str(run_dir.relative_to(ROOT)), "steps": result.step, "stopped": result.stopped,
            "train_cpu_s": round(time.process_time() - t_cpu, 1),
            "train_wall_s": round(time.perf_counter() - t_wall, 1)}


@torch.no_grad()
def translate_all(model, sources: torch.Tensor, batch_size: int = 500, **options: Any) -> torch.Tensor:
    """model.sample(cond=...) over `sources` in batches, clamped to [0, 1]."""
    out = [model.sample(len(s), cond=s, **options).x.float().clamp(0, 1)
           for s in sources.split(batch_size)]
    return torch.cat(out)


def classifier_figures(clf, fake: torch.Tensor, real: torch.Tensor,
                       labels: torch.Tensor | None = None) -> dict[str, float]:
    """FID, precision and recall (k = 3) of `fake` against `real` in the classifier's feature space, and the
    fraction of `fake` classified as `labels` when given."""
    from genlab.eval.metrics import fid, precision_recall

    f_fake, f_real = clf.features(fake), clf.features(real)
    p, r = precision_recall(f_real, f_fake, k=3)
    out = {"fid": round(fid(f_real, f_fake), 3), "precision": round(p, 4), "recall": round(r, 4)}
    if labels is not None:
        out["accuracy"] = round(float((clf.predict(fake).cpu() == labels).float().mean()), 4)
    return out


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))
