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
While a step is saved again, `latest` may name `step_N.old-PID`, a hard-linked copy of the old one.
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
    """Write checkpoint `step` atomically under `ckpt_dir`, point `latest` at it, prune old ones.

    At every moment `latest` names a complete checkpoint: re-saving a step that exists (resuming a
    finished run, a stop right after a periodic save) first points `latest` at a hard-linked copy of the
    old one. A failed write (a full disk) raises CheckpointError, removes its temporary files and leaves
    the previous checkpoint as it was."""
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    name = f"step_{step:08d}"
    final = ckpt_dir / name
    tmp = ckpt_dir / f".tmp-{name}-{os.getpid()}"
    try:
        _write_folder(tmp, model=model, state=state, ema=ema, config=config,
                      meta={"step": step, "time": time.time(), **(meta or {})})
        if final.exists():  # re-saving the same step: never without a complete checkpoint in place
            _replace_keeping_one(final, tmp)
        else:
            os.replace(tmp, final)
        fsync_dir(ckpt_dir)
        atomic_write_bytes(ckpt_dir / LATEST, (name + "\n").encode())
    except Exception as e:  # OSError, and torch's and safetensors' own errors for a failed write
        shutil.rmtree(tmp, ignore_errors=True)
        previous = latest_checkpoint(ckpt_dir)
        kept = f"the previous checkpoint {previous.name} is intact" if previous else "no earlier checkpoint exists"
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, OSError) and e.strerror:
            why = e.strerror
        raise CheckpointError(f"could not save checkpoint {final}: {why}; {kept}. Free space (or fix "
                              "permissions) and resume the run with --resume") from e
    except BaseException:  # e.g. a second Ctrl-C: leave no temporary folder behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(ckpt_dir, keep, protect=final)
    return final


def _write_folder(tmp: Path, *, model: dict[str, torch.Tensor], state: dict[str, Any],
                  ema: dict[str, torch.Tensor] | None, config: dict[str, Any] | None, meta: dict[str, Any]) -> None:
    """One checkpoint's files in `tmp`, meta.json last, every file and the folder fsynced."""
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(_tensors(model), str(tmp / "model.safetensors"))
    if ema is not None:
        save_file(_tensors(ema), str(tmp / "ema.safetensors"))
    torch.save(state, tmp / "state.pt")
    if config is not None:
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2))
    for f in tmp.iterdir():
        fsync_file(f)
    fsync_dir(tmp)


def _replace_keeping_one(final: Path, tmp: Path) -> None:
    """Put the complete checkpoint `tmp` in place of `final` while `latest` always names a complete one:
    a hard-linked copy of `final` (`step_N.old-PID`, no data copied) takes the pointer, `final` moves
    aside and is removed, `tmp` takes its name (the caller then points `latest` at it)."""
    ckpt_dir = final.parent
    if (final / "meta.json").exists():
        old = ckpt_dir / f"{final.name}.old-{os.getpid()}-{time.time_ns()}"  # a new name: never the pointer's
        old.mkdir()
        files = sorted(final.iterdir(), key=lambda f: f.name == "meta.json")  # meta.json last: complete
        for f in files:
            try:
                os.link(f, old / f.name)
            except OSError:  # a file system without hard links
                shutil.copy2(f, old / f.name)
        fsync_dir(old)
        atomic_write_bytes(ckpt_dir / LATEST, (old.name + "\n").encode())
    aside = ckpt_dir / f".tmp-{final.name}-replaced-{os.getpid()}"
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(final, aside)
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(tmp, final)


def _complete(ckpt_dir: Path) -> list[Path]:
    found = [p for p in ckpt_dir.glob("step_*") if p.is_dir() and (p / "meta.json").exists()]
    return sorted(found, key=lambda p: p.name)


def _prune(ckpt_dir: Path, keep: int, protect: Path) -> None:
    """Keep the newest `keep` checkpoints; remove the copies a re-save kept and leftovers of crashed saves
    (`latest` names `protect` by now)."""
    for p in ckpt_dir.glob("step_*.old-*"):
        if p != protect:
            shutil.rmtree(p, ignore_errors=True)
    for p in [p for p in _complete(ckpt_dir) if ".old-" not in p.name][: -max(keep, 1)]:
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
