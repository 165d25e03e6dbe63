"""`genlab info` and `genlab datasets`: what a run holds and which datasets this machine has."""

from __future__ import annotations

import json
from pathlib import Path

import tyro

from genlab.config import to_dict


def info(run: tyro.conf.Positional[str]) -> None:
    """Show a run's family, options, data, progress and last metrics."""
    from genlab.runs import load_run
    from genlab.training.metrics import read_metrics

    r = load_run(run)
    records = read_metrics(Path(run) / "metrics.jsonl")  # a torn last line is dropped with a warning
    last = records[-1] if records else {}
    print(json.dumps({"run": str(r.path), "step": r.step, **r.model.describe(), "data": to_dict(r.config.data),
                      "train": to_dict(r.config.train), "last_metrics": last}, indent=2))


def datasets(data_dir: str | None = None) -> None:
    """List the datasets genlab knows and whether each is available on this machine."""
    from genlab.data import list_datasets

    rows = list_datasets(data_dir)
    width = max(len("name"), *(len(d.name) for d in rows))  # the longest name sets the column
    print(f"{'name':<{width}} {'shape':<12} {'classes':>7}  {'available':<9}  where")
    for d in rows:
        shape = "x".join(str(s) for s in d.shape) if d.shape else "-"
        print(f"{d.name:<{width}} {shape:<12} {d.num_classes or '-':>7}  {'yes' if d.available else 'no':<9}  "
              f"{d.where}")
    print("also: folder:PATH (one subfolder per class, or flat) and npz:PATH (arrays x, optional y)")
