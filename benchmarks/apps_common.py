"""What the application benchmarks (apps_search, apps_arithmetic) share: one small latent model per dataset,
trained briefly once and reused from a run folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

# The latent family of the application benchmarks: an MLP VAE (784-256-16), trained for STEPS steps of batch 128
# on grey-level (not binarized) images, 1 thread: about half a CPU-minute per dataset.
FAMILY = "vae"
OPTIONS = {"arch": "mlp", "hidden": (256,), "latent_dim": 16}
STEPS = 3000
RUNS = Path(tempfile.gettempdir()) / "genlab-apps-bench"


def trained_run(dataset: str, *, steps: int = STEPS, runs: Path = RUNS, family: str = FAMILY,
                options: dict | None = None, train_options: dict | None = None):
    """(the run of `family` on `dataset`, trained now unless RUNS already holds it; CPU seconds spent training).
    `train_options` override the TrainConfig below (batch size, lr, precision)."""
    import time

    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import load_run, train

    path = runs / f"{family}-{dataset}-{steps}"
    cpu = 0.0
    if not (path / "config.json").exists() or not any((path / "checkpoints").glob("*")):
        config = RunConfig(family, dict(options or OPTIONS), DataConfig(name=dataset),
                           TrainConfig(**{"steps": steps, "batch_size": 128, "lr": 1e-3, "threads": 1,
                                          "progress": False, "log_every": 500, **(train_options or {})}))
        runs.mkdir(parents=True, exist_ok=True)
        c0 = time.process_time()
        train(config, path, overwrite=path.exists())
        cpu = time.process_time() - c0
    return load_run(path), round(cpu, 1)
