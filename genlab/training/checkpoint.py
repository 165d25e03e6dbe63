"""Atomic checkpoints that never unpickle arbitrary objects.

Layout of one checkpoint, `checkpoints/step_00001000/`:
    model.safetensors   the weights (and buffers)
    ema.safetensors     the EMA weights, when EMA is on
    config.json         the run's config (so one checkpoint folder is self-contained)
    state.pt            optimizer/scheduler/RNG state: tensors and plain containers only,
                        loaded with torch.load(weights_only=True) (a restricted unpickler)
    meta.json           step and summary; written last, so its presence marks a complete checkpoint
A checkpoint is written into a temporary folder, every file fsynced, then renamed into place, and the
`latest` pointer is replaced atomically: a kill at any moment leaves the previous checkpoint loadable.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genlab.io import atomic_write_bytes, fsync_dir, fsync_file

LATEST = "latest"


class CheckpointError(RuntimeError):
    """A checkpoint is missing or unreadable; the message says which and what to do."""


def _tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}


def save_checkpoint(ckpt_dir: Path, step: int, *, model: dict[str, torch.Tensor],
                    state: dict[str, Any], ema: dict[str, torch.Tensor] | None = None,
                    meta: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                    keep: int = 2) -> Path:
    """Write checkpoint `step` atomically under `ckpt_dir`, point `latest` at it, prune old ones."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:08d}"
    final = ckpt_dir / name
    tmp = ckpt_dir / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(_tensors(model), str(tmp / "model.safetensors"))
    if ema is not None:
        save_file(_tensors(ema), str(tmp / "ema.safetensors"))
    torch.save(state, tmp / "state.pt")
    if config is not None:
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
    (tmp / "meta.json").write_text(json.dumps({"step": step, "time": time.time(), **(meta or {})}, indent=2))
    for f in tmp.iterdir():
        fsync_file(f)
    fsync_dir(tmp)
    if final.exists():  # re-saving the same step (e.g. after an interrupt): replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    fsync_dir(ckpt_dir)
    atomic_write_bytes(ckpt_dir / LATEST, (name + "\n").encode())
    _prune(ckpt_dir, keep, protect=final)
    return final


def _complete(ckpt_dir: Path) -> list[Path]:
    found = [p for p in ckpt_dir.glob("step_*") if p.is_dir() and (p / "meta.json").exists()]
    return sorted(found, key=lambda p: p.name)


def _prune(ckpt_dir: Path, keep: int, protect: Path) -> None:
    for p in _complete(ckpt_dir)[: -max(keep, 1)]:
        if p != protect:
            shutil.rmtree(p, ignore_errors=True)
    for p in ckpt_dir.glob(".tmp-*"):  # leftovers of a crashed save
        shutil.rmtree(p, ignore_errors=True)


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, or None. Falls back to a scan if `latest` is damaged."""
    ckpt_dir = Path(ckpt_dir)
    pointer = ckpt_dir / LATEST
    if pointer.exists():
        cand = ckpt_dir / pointer.read_text().strip()
        if (cand / "meta.json").exists():
            return cand
    found = _complete(ckpt_dir) if ckpt_dir.exists() else []
    return found[-1] if found else None


def load_checkpoint(path: Path, *, map_location: str | torch.device = "cpu",
                    with_state: bool = True) -> dict[str, Any]:
    """{"model", "ema" (or None), "state" (or None), "meta"} from a checkpoint folder."""
    path = Path(path)
    if not (path / "meta.json").exists():
        raise CheckpointError(f"{path} is not a complete checkpoint (no meta.json); "
                              "use the run folder so genlab picks the latest complete one")
    try:
        device = str(map_location)
        out: dict[str, Any] = {"meta": json.loads((path / "meta.json").read_text())}
        out["model"] = load_file(str(path / "model.safetensors"), device=device)
        ema_path = path / "ema.safetensors"
        out["ema"] = load_file(str(ema_path), device=device) if ema_path.exists() else None
        out["state"] = (torch.load(path / "state.pt", map_location=map_location, weights_only=True)
                        if with_state else None)
    except Exception as e:  # safetensors, pickle-guard and OS errors alike
        raise CheckpointError(f"could not read checkpoint {path}: {e}") from e
    return out
