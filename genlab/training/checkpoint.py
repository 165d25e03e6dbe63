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
Every file is written with the mode the umask gives (0644 by default), the weights included.

Reading trusts nothing: `latest` must be a small file naming a `step_NNNNNNNN` folder of this
checkpoints folder, meta.json must hold a step, and state.pt must hold the trainer's state (plain
containers and tensors only, without attributes); anything else is a CheckpointError naming the file.

While a step is saved again, `latest` may name `step_N.old-PID`, a hard-linked copy of the old one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from genlab.io import atomic_write_bytes, fsync_dir, fsync_file

LATEST = "latest"
STEP_NAME = re.compile(r"step_\d{8,}")
POINTER_NAME = re.compile(r"step_\d{8,}(\.old-\d+-\d+)?")  # a same-step re-save points at a hard-linked copy
STATE_KEYS = ("step", "optimizers", "schedulers", "generator", "torch_rng")  # the trainer's state.pt
STATE_OPTIONAL = ("window", "callbacks")  # the log window and stateful callbacks (older checkpoints lack them)
MAX_JSON_BYTES = 1 << 20  # meta.json is a few hundred bytes


class CheckpointError(RuntimeError):
    """A checkpoint is missing or unreadable; the message says which and what to do."""


def save_file(tensors: dict[str, torch.Tensor], filename: str) -> None:
    """safetensors' `save_file`, except that the file gets the umask's mode like every other run file
    (safetensors' own writer creates it 0600)."""
    with open(filename, "wb") as f:
        f.write(safetensors_bytes(tensors))


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


def first_line(e: BaseException) -> str:
    """`Type: first line of the message`, so that a library's multi-line error stays one line."""
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def read_pointer(pointer: Path) -> str:
    """The checkpoint name in a `latest` file; CheckpointError unless it is a small regular file (not a
    folder or link) naming a `step_NNNNNNNN` entry of its own folder."""
    fix = "remove it and genlab picks the newest complete checkpoint"
    if pointer.is_symlink() or not pointer.is_file():
        what = "a link" if pointer.is_symlink() else "a folder" if pointer.is_dir() else "not a regular file"
        raise CheckpointError(f"{pointer}: is {what}, not genlab's pointer file; {fix}")
    try:
        with open(pointer, "rb") as f:
            text = f.read(64).decode("ascii").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{pointer}: unreadable ({type(e).__name__}); {fix}") from None
    if not POINTER_NAME.fullmatch(text):
        raise CheckpointError(f"{pointer}: names {text[:40]!r}, which is not a checkpoint of this run "
                              f"(step_NNNNNNNN in {pointer.parent}); {fix}")
    return text


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest complete checkpoint folder, or None. A `latest` naming a missing or incomplete
    checkpoint falls back to a scan; one that is not a pointer file raises CheckpointError (read_pointer)."""
    ckpt_dir = Path(ckpt_dir)
    pointer = ckpt_dir / LATEST
    if pointer.is_symlink() or pointer.exists():
        cand = ckpt_dir / read_pointer(pointer)
        if not cand.is_symlink() and (cand / "meta.json").is_file():
            return cand
    found = [p for p in _complete(ckpt_dir) if STEP_NAME.fullmatch(p.name) and not p.is_symlink()
             ] if ckpt_dir.is_dir() else []
    return found[-1] if found else None


def read_meta(path: Path) -> dict[str, Any]:
    """A checkpoint folder's meta.json: a JSON object with a non-negative integer `step`."""
    file = Path(path) / "meta.json"
    try:
        if file.stat().st_size > MAX_JSON_BYTES:
            raise CheckpointError(f"{file}: {file.stat().st_size} bytes, not a checkpoint's meta.json")
        meta = json.loads(file.read_bytes())
    except CheckpointError:
        raise
    except (OSError, ValueError, RecursionError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CheckpointError(f"{file}: unreadable ({first_line(e)})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{file}: must hold a JSON object, found {type(meta).__name__}")
    step = meta.get("step")
    if type(step) is not int or step < 0:
        raise CheckpointError(f"{file}: needs a non-negative integer 'step', found {step!r}")
    return meta


def _plain(obj: Any, where: str) -> None:
    """Refuse anything in a loaded state but plain containers, numbers, strings and tensors, and any
    object carrying attributes (set through a pickle's BUILD)."""
    todo = [obj]
    while todo:
        o = todo.pop()
        if type(o) in (dict, OrderedDict):
            if type(o) is OrderedDict and vars(o):
                raise CheckpointError(f"{where}: an OrderedDict carries attributes {sorted(vars(o))}")
            todo += [*o.keys(), *o.values()]
        elif type(o) in (list, tuple):
            todo += o
        elif type(o) is torch.Tensor:
            if o.__dict__:
                raise CheckpointError(f"{where}: a tensor carries attributes {sorted(o.__dict__)}")
        elif type(o) not in (str, int, float, bool, type(None)):
            raise CheckpointError(f"{where}: holds a {type(o).__name__}; only tensors and plain values belong")


def check_state(state: Any, where: str, step: int) -> dict[str, Any]:
    """`state` if it is the trainer's state (STATE_KEYS) or a part of it with at most `step` (as tests
    and tools write); CheckpointError naming `where` otherwise."""
    _plain(state, where)
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: must hold a dict, found {type(state).__name__}")
    keys = set(state)
    full = set(STATE_KEYS) <= keys <= set(STATE_KEYS) | set(STATE_OPTIONAL)
    if not keys <= {"step"} and not full:
        known = set(STATE_KEYS) | set(STATE_OPTIONAL)
        missing, extra = sorted(set(STATE_KEYS) - keys), sorted(map(str, keys - known))
        raise CheckpointError(f"{where}: is not a trainer state (missing {missing}, unexpected {extra})")
    if "step" in state and (type(state["step"]) is not int or state["step"] != step):
        raise CheckpointError(f"{where}: step {state['step']!r} differs from meta.json's {step}")
    if full:
        opts, scheds = state["optimizers"], state["schedulers"]
        if not (isinstance(opts, dict) and isinstance(scheds, dict) and set(opts) == set(scheds)
                and all(isinstance(o, dict) and isinstance(o.get("state"), dict)
                        and isinstance(o.get("param_groups"), list) for o in opts.values())
                and all(isinstance(sc, dict) for sc in scheds.values())):
            raise CheckpointError(f"{where}: optimizers/schedulers are not one state_dict per player")
        for k in ("generator", "torch_rng"):
            t = state[k]
            if not (isinstance(t, torch.Tensor) and t.dtype == torch.uint8 and t.ndim == 1 and t.numel()):
                raise CheckpointError(f"{where}: '{k}' is not a random generator state (a uint8 vector)")
    return state


def load_checkpoint(path: Path, *, map_location: str | torch.device = "cpu",
                    with_state: bool = True) -> dict[str, Any]:
    """{"model", "ema" (or None), "state" (or None), "meta"} from a checkpoint folder."""
    path = Path(path)
    if not (path / "meta.json").exists():
        raise CheckpointError(f"{path} is not a complete checkpoint (no meta.json); "
                              "use the run folder so genlab picks the latest complete one")
    out: dict[str, Any] = {"meta": read_meta(path)}
    device = str(map_location)
    for key, name in (("model", "model.safetensors"), ("ema", "ema.safetensors")):
        file = path / name
        if key == "ema" and not file.exists():
            out[key] = None
            continue
        try:
            out[key] = load_file(str(file), device=device)
        except Exception as e:  # safetensors raises its own SafetensorError, OSError, ...
            raise CheckpointError(f"could not read checkpoint {file}: {first_line(e)}") from None
    out["state"] = None
    if with_state:
        file = path / "state.pt"
        try:
            state = torch.load(file, map_location=map_location, weights_only=True)
        except Exception as e:  # the weights_only unpickler's refusals, zip and OS errors alike
            raise CheckpointError(f"could not read checkpoint {file}: {first_line(e)}") from None
        out["state"] = check_state(state, str(file), out["meta"]["step"])
    return out
