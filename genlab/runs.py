"""Run folders: `runs/<name>/` with config.json, checkpoints/, samples/ and metrics.jsonl, and the
functions that tie data, models and the trainer to them: `train`, `load_run`, `sample`.

An existing run is never overwritten unless the user says `resume` or `overwrite`, and genlab deletes
only what it made: a run folder gets a `.genlab-run` marker when it is created, and `overwrite` clears a
folder only if it holds that marker and lies inside the runs folder (never `.`, a parent of the current
folder, or the runs folder itself). One process at a time trains a run (genlab/training/lock.py).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genlab.config import DataConfig, RunConfig, validate
from genlab.data.base import Data, DataSpec, ImageData
from genlab.io import atomic_write_json
from genlab.models import GenerativeModel, build_model, families_with, family_class, model_config, model_record
from genlab.models.base import Sampler, Samples, check_sampling_options
from genlab.training import checkpoint as ckpt
from genlab.training.device import barrier, end_distributed, group_is_up, init_distributed
from genlab.training.lock import LOCK, LockHeld, RunLock
from genlab.training.precision import Choice, fixed
from genlab.training.trainer import Trainer, TrainResult, nonfinite_parameters

CONFIG = "config.json"
MAX_SAMPLES = 100_000  # what one sample() call draws at most (the CLI shares the cap)
MARKER = ".genlab-run"  # {"run_id", "created", "genlab_version"}: written when genlab creates a run folder
RESUMED_WITH = "resumed_with"  # config.json: [{"step": S, "changes": {option: {"from": a, "to": b}}}, ...]
PRECISION_CHOICE = "precision_choice"  # config.json: the precision and layout the run trains in (Choice.to_json)
# Training options a checkpoint's state holds (optimizer param groups, scheduler base lr, RNG streams): a
# resume that changed them would be trained with the old values while config.json showed the new ones.
PINNED_ON_RESUME = ("optimizer", "lr", "betas", "weight_decay", "seed")


class RunError(ValueError):
    """A run folder cannot be used as asked; the message says why and what to do."""


def load_training_data(data: DataConfig, split: str = "train") -> Data:
    from genlab.data import load_data

    d = load_data(data.name, split=split, data_dir=data.data_dir)
    if data.name_b:  # two unpaired domains (cyclegan): A = name, B = name_b
        from genlab.data.pairs import unpaired

        d = unpaired(d, load_data(data.name_b, split=split, data_dir=data.data_dir))
    if data.limit < 0:
        raise ValueError(f"data limit must be >= 0, got {data.limit}")
    if split != "train":
        return d
    d = d.subset(data.limit) if data.limit else d
    if data.classes or data.per_class or data.perturb:
        if not isinstance(d, ImageData):
            raise ValueError(f"--classes, --per-class and --perturb select and change images; {data.name} holds "
                             f"{d.kind} data")
        d = d.of_classes(data.classes) if data.classes else d
        d = d.per_class(data.per_class, torch.Generator().manual_seed(0)) if data.per_class else d
        if data.perturb:
            from genlab.apps.anomaly import perturb
            d = dataclasses.replace(d, x=perturb(d.x, data.perturb, torch.Generator().manual_seed(0)),
                                    source=f"{d.source} ({data.perturb:g} of the pixels perturbed)".strip())
    return d


def _plain(value: Any) -> Any:
    """JSON-normal form (tuples as lists, dataclasses as dicts) for comparing configs."""
    import dataclasses

    from genlab.config import to_dict

    return to_dict(value) if dataclasses.is_dataclass(value) else json.loads(json.dumps(value))


def _has_run(path: Path) -> bool:
    return path.is_dir() and any((path / p).exists() for p in (MARKER, CONFIG, "checkpoints", "metrics.jsonl"))


def check_run_name(name: str) -> str:
    """`name` if it is one plain folder name (the run lives in RUNS_DIR/NAME), else RunError."""
    bad = (not name or name in (".", "..") or name.startswith("~") or os.path.isabs(name)
           or any(c in name for c in ("/", "\\")) or any(ord(c) < 32 for c in name))
    if bad:
        raise RunError(f"invalid run name {name!r}: a run name is one folder name inside --runs-dir (no '/', '\\', "
                       "'.', '..', '~' or control characters); e.g. --name vae-mnist-2, and --runs-dir for another "
                       "folder")
    return name


def _foreign_files(path: Path) -> list[str]:
    """What a folder that is not a genlab run holds, besides what genlab leaves when a kill cuts the
    creation of a run short (its lock file, a half-written marker)."""
    if not path.is_dir():
        return []
    return sorted(p.name for p in path.iterdir() if p.name != LOCK and not p.name.startswith(f".{MARKER}.tmp"))


def _check_removable(path: Path, runs_dir: Path | None) -> None:
    """RunError unless `overwrite` may clear `path`: a folder genlab made (MARKER), inside the runs folder,
    and neither the current folder, one of its parents, nor the runs folder itself."""
    real, cwd = path.resolve(), Path.cwd().resolve()
    runs = Path(runs_dir if runs_dir is not None else path.parent).resolve()
    if real == cwd or real in cwd.parents:
        raise RunError(f"refusing to --overwrite {path}: it is the current folder or one of its parents")
    if real == runs or runs not in real.parents:
        raise RunError(f"refusing to --overwrite {path}: it is not a run folder inside {runs_dir or runs}")
    if not (path / MARKER).is_file():
        raise RunError(f"refusing to --overwrite {path}: it has no {MARKER} marker, so genlab cannot tell that it "
                       f"made it (runs made by older genlab versions have none). If it is a run you no longer want, "
                       f"delete it yourself (rm -r '{path}') and train again, or choose another --name")


def check_run_target(path: Path, *, resume: bool, overwrite: bool, runs_dir: Path | None = None) -> None:
    """RunError (before anything is created) unless a run can be started, resumed or replaced in `path`."""
    path = Path(path)
    if resume and overwrite:
        raise RunError("choose either --resume or --overwrite, not both")
    if path.exists() and not path.is_dir():
        raise RunError(f"{path} exists and is not a folder; choose another --name")
    if resume:
        if not ((path / CONFIG).is_file() or _creation_interrupted(path)):
            raise RunError(f"nothing to resume: {path} holds no run; drop --resume to start a new one")
    elif _has_run(path):
        if not overwrite:
            raise RunError(f"{path} already holds a run; pass --resume to continue it, --overwrite to replace "
                           "it, or choose another --name")
        _check_removable(path, runs_dir)
    elif _foreign_files(path):
        shown = ", ".join(_foreign_files(path)[:3])
        raise RunError(f"{path} exists and holds files genlab did not make ({shown}, ...); genlab writes a run "
                       "only into a new or empty folder: choose another --name or --runs-dir")


def _creation_interrupted(path: Path) -> bool:
    """A folder genlab made whose creation a kill cut short: its marker, but no config.json or checkpoint."""
    return (path / MARKER).is_file() and not (path / CONFIG).exists() and not (path / "checkpoints").exists()


def _clear(path: Path) -> None:
    """Remove what a run folder holds but its lock file (held by this process); the marker goes last, so
    a kill halfway leaves a folder that --overwrite still may clear."""
    for p in sorted(path.iterdir(), key=lambda p: p.name == MARKER):
        if p.name == LOCK:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _write_marker(path: Path) -> None:
    from genlab.version import __version__

    atomic_write_json(path / MARKER, {"run_id": uuid.uuid4().hex, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                      "genlab_version": __version__})


def prepare_run_dir(path: Path, config: RunConfig, *, resume: bool, overwrite: bool,
                    data: Data | None = None, write: bool = True,
                    runs_dir: Path | None = None, choice: dict[str, Any] | None = None) -> tuple[Path, Path | None]:
    """Create (or reopen, for resume) the run folder; returns (path, checkpoint to resume from or None).
    `choice` (the trainer's precision choice) is recorded in config.json.

    `overwrite` clears only a folder genlab made (see check_run_target); the caller holds the run's lock
    (genlab.runs.train does). `write=False` only inspects (for the non-main processes of a torchrun job)."""
    path = Path(path)
    if not write:
        return path, (ckpt.latest_checkpoint(path / "checkpoints") if resume else None)
    check_run_target(path, resume=resume, overwrite=overwrite, runs_dir=runs_dir)
    if resume and _creation_interrupted(path):  # killed while it was being created: start it now
        _clear(path)
        resume = False
    if resume:
        raw, saved = read_run_config(path)  # RunError naming config.json when it is damaged
        changes = resume_changes(saved, config, path)
        where = ckpt.latest_checkpoint(path / "checkpoints")
        history = list(raw.get(RESUMED_WITH, []))
        if changes:
            history.append({"step": checkpoint_step(where), "changes": changes})
        _write_config(path, config, data, resumed_with=history, choice=choice)
        return path, where
    if _has_run(path):  # overwrite, and check_run_target found the folder genlab's to clear
        _clear(path)
    path.mkdir(parents=True, exist_ok=True)
    _write_marker(path)
    _write_config(path, config, data, choice=choice)
    return path, None


def resume_changes(saved: RunConfig, config: RunConfig, path: Path | str = "the run") -> dict[str, dict[str, Any]]:
    """{option: {"from": saved value, "to": new value}} for the training options that resuming the run
    saved as `saved` with `config` changes.

    Raises RunError when the family, model or data differ, or an option the checkpoint's optimizer and RNG
    state hold (PINNED_ON_RESUME) does: the restored state would override it, so the run would not be
    trained as its config says."""
    for part in ("family", "model", "data"):
        a, b = getattr(saved, part), getattr(config, part)
        if part == "model" and saved.family == config.family:  # compare with every default filled in
            a, b = resolved_config(saved).model, resolved_config(config).model
        if _plain(a) != _plain(b):
            raise RunError(f"cannot resume {path}: its {part} was {a}, now {b}; resume with the same "
                           f"{part} or start a new run with --name")
    a, b = _plain(saved.train), _plain(config.train)
    changes = {k: {"from": a[k], "to": b[k]} for k in b if a.get(k) != b[k]}
    pinned = [k for k in PINNED_ON_RESUME if k in changes]
    if pinned:
        was = ", ".join(f"{k} {changes[k]['from']}" for k in pinned)
        raise RunError(f"cannot resume {path} with a new {', '.join(pinned)}: its checkpoint's optimizer and "
                       f"random state hold {was}; resume with those, or start a new run with --name")
    return changes


def checkpoint_step(where: Path | None) -> int:
    """The step of a checkpoint folder (0 for None: a run that never saved one); CheckpointError naming
    meta.json when it holds no step."""
    return 0 if where is None else ckpt.read_meta(Path(where))["step"]


def resolved_config(config: RunConfig, resume_dir: Path | None = None) -> RunConfig:
    """`config` with every model default filled in, so that config.json and the checkpoints pin the
    options a run was trained with even if a family's defaults change later. When resuming the run in
    `resume_dir`, options not given in `config.model` come from the run's own config.json."""
    model = config.model_options()
    saved = Path(resume_dir) / CONFIG if resume_dir is not None else None
    if saved is not None and saved.exists():
        old, _ = read_run_config(Path(resume_dir))
        if old["family"] == config.family:
            model = {**old["model"], **model}
    return dataclasses.replace(config, model=model_config(config.family, model))


def _write_config(path: Path, config: RunConfig, data: Data | None,
                  resumed_with: list[dict[str, Any]] | None = None, choice: dict[str, Any] | None = None) -> None:
    from genlab.version import __version__

    config = resolved_config(config)
    info: dict[str, Any] = {}
    if data is not None:  # the DataSpec the model was built for, and where the data came from
        info = {**data.spec.to_json(), "n_train": len(data), "source": data.origin}
    extra = {RESUMED_WITH: resumed_with} if resumed_with else {}
    if choice is not None:
        extra[PRECISION_CHOICE] = choice
    atomic_write_json(path / CONFIG, {**config.to_json(), "data_info": info, "genlab_version": __version__,
                                      **extra})


@dataclass
class Run:
    """A trained run loaded from disk."""

    path: Path
    config: RunConfig
    model: GenerativeModel
    step: int
    info: dict[str, Any]

    @property
    def classes(self) -> list[str] | None:
        return self.info.get("classes")


MAX_CONFIG_BYTES = 64 << 20  # a config.json with a large vocabulary is a few MB
MAX_SIDE = 16384  # pixels along one side of an image in data_info
MAX_PIXELS = 1 << 26  # c * h * w of one image in data_info (64 Mi values: 4096 x 4096 x 4)
MAX_CLASSES = 1 << 20


def read_run_config(path: str | Path) -> tuple[dict[str, Any], RunConfig]:
    """A run folder's config.json as (raw dict, RunConfig with its model options checked); RunError naming
    the file when it is missing, unreadable, or has missing keys, unknown options or values of the wrong
    type."""
    file = Path(path) / CONFIG
    if not file.is_file():
        raise RunError(f"{path} is not a genlab run (no {CONFIG}); runs live in runs/<name>/")
    return read_config_file(file)


def read_config_file(file: str | Path) -> tuple[dict[str, Any], RunConfig]:
    """A saved run config (a run folder's config.json, or a copy of it) as (raw dict, RunConfig), checked as
    read_run_config checks it."""
    from genlab.config import ConfigError

    file = Path(file)
    try:
        if file.stat().st_size > MAX_CONFIG_BYTES:
            raise RunError(f"{file}: {file.stat().st_size} bytes is too large for a run's {CONFIG}")
        raw = json.loads(file.read_bytes())
        config = RunConfig.from_json(raw)
        model_config(config.family, config.model_options())  # unknown family, options or wrong types
        older = {k: v for k, v in getattr(family_class(config.family).Config, "SAVED_BEFORE", {}).items()
                 if k not in raw["model"]}  # options added since the run was saved: the value it ran with
        if older:
            raw = {**raw, "model": {**raw["model"], **older}}
            config = dataclasses.replace(config, model={**config.model_options(), **older})
    except RunError:
        raise
    except (OSError, ValueError, TypeError, RecursionError) as e:  # ConfigError, JSONDecodeError: ValueErrors
        plain = type(e) in (ValueError, ConfigError)  # genlab's own messages; others keep their type's name
        raise RunError(f"{file}: {str(e).splitlines()[0] if plain else ckpt.first_line(e)}") from None
    return raw, config


def data_spec(info: Any, file: Path) -> DataSpec:
    """The DataSpec in a config.json's data_info, checked (kind, shapes within MAX_SIDE and MAX_PIXELS,
    class names, vocabulary) before any model is built for it; RunError naming `file` otherwise."""
    from genlab.data.base import KINDS

    def bad(what: str) -> RunError:
        return RunError(f"{file}: data_info.{what}; it was not written by genlab train (train the run again)")

    def image_shape(key: str) -> None:
        shape = info.get(key)
        if not (isinstance(shape, list) and len(shape) == 3 and all(type(v) is int for v in shape)):
            raise bad(f"{key} must be [channels, height, width], found {shape!r}")
        c, h, w = shape
        if not (1 <= c <= 4 and 1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE and c * h * w <= MAX_PIXELS):
            raise bad(f"{key} {shape} is not an image shape genlab trains on (1-4 channels, sides up to "
                      f"{MAX_SIDE}, at most {MAX_PIXELS} values)")

    if not isinstance(info, dict):
        raise bad(f"must be a JSON object, found {type(info).__name__}")
    kind = info.get("kind", "image")
    if kind not in KINDS:
        raise bad(f"kind is {kind!r}; valid: {', '.join(KINDS)}")
    if kind == "tokens":
        if info.get("shape") not in (None, []):
            raise bad(f"shape must be [] for tokens, found {info.get('shape')!r}")
    else:
        image_shape("shape")
    if kind == "image-pair":
        image_shape("source_shape")
    num_classes, classes = info.get("num_classes") or 0, info.get("classes")
    if type(num_classes) is not int or not 0 <= num_classes <= MAX_CLASSES:
        raise bad(f"num_classes must be an integer in [0, {MAX_CLASSES}], found {num_classes!r}")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)
                                    and len(classes) == num_classes):
        raise bad(f"classes must be {num_classes} names, found {str(classes)[:80]}")
    vocab = info.get("vocab")
    if kind in ("tokens", "image-text") or vocab is not None:
        tokens = vocab.get("tokens") if isinstance(vocab, dict) else None
        if not (isinstance(tokens, list) and 0 < len(tokens) <= MAX_CLASSES
                and all(isinstance(t, str) for t in tokens)
                and isinstance(vocab.get("pad", False), bool)
                and (vocab.get("unk") is None or (type(vocab["unk"]) is int and 0 <= vocab["unk"] < len(tokens)))):
            raise bad("vocab must be {tokens: [strings], pad: bool, unk: index or null}")
    try:
        return DataSpec.from_json(info)
    except (ValueError, TypeError) as e:
        raise bad(str(e)) from None


def check_weights(expected: dict[str, torch.Tensor], weights: dict[str, torch.Tensor], file: Path,
                  family: str) -> None:
    """CheckpointError naming `file` and the keys or shapes in which `weights` differ from `expected` (the
    state_dict of the model config.json describes)."""
    optional = family_class(family).optional_state  # added since older runs were saved: they load as defaults
    missing = sorted(k for k in set(expected) - set(weights) if not k.startswith(optional))
    unexpected = sorted(set(weights) - set(expected))
    shapes = [f"{k} is {tuple(weights[k].shape)}, the model's is {tuple(v.shape)}"
              for k, v in expected.items() if k in weights and weights[k].shape != v.shape]
    problems = ([f"missing {len(missing)} tensor(s) ({', '.join(missing[:3])})"] if missing else []) + \
               ([f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])})"] if unexpected else []) + shapes[:3]
    if problems:
        raise ckpt.CheckpointError(f"{file}: does not fit the {family} model its config.json describes: "
                                   f"{'; '.join(problems)}")


def load_run(path: str | Path, *, ema: bool = True, device: str | torch.device = "cpu") -> Run:
    """Load a run's latest checkpoint (EMA weights when present and `ema`), in eval mode. Every file is
    checked as it is read: RunError (config.json) or CheckpointError (checkpoints/) name the file at fault."""
    path = Path(path)
    raw, config = read_run_config(path)
    config, pretrained = attach_pretrained(config)  # runs of older versions kept such parts outside
    info = raw.get("data_info") or {}
    if isinstance(info, dict) and not info.get("shape") and info.get("kind", "image") != "tokens":
        raise RunError(f"{path}/{CONFIG} lacks data_info.shape; it was not written by genlab train")
    spec = data_spec(info, path / CONFIG)
    where = ckpt.latest_checkpoint(path / "checkpoints")
    if where is None:
        raise RunError(f"{path} has no complete checkpoint yet; train it first (or --resume it)")
    loaded = ckpt.load_checkpoint(where, map_location=device, with_state=False)
    config = dataclasses.replace(config, model=model_config(config.family, config.model_options()))  # typed
    weights, file = loaded["model"], where / "model.safetensors"
    if ema and loaded["ema"] is not None:
        weights = {k[len("module."):]: v for k, v in loaded["ema"].items() if k.startswith("module.")}
        file = where / "ema.safetensors"
    for submodule, part in pretrained.items():
        weights = {**{f"{submodule}.{k}": v for k, v in part.items()}, **weights}
    try:  # shapes first, on the meta device: a damaged data_info must not allocate a huge model
        with torch.device("meta"):
            shaped = build_model(config.family, config.model, spec=spec).state_dict()
    except Exception:  # a family that cannot be built on the meta device: the real build below reports it
        shaped = None
    if shaped is not None:
        check_weights(shaped, weights, file, config.family)
    try:
        model = build_model(config.family, config.model, spec=spec).to(device)
    except (ValueError, TypeError, RuntimeError, AssertionError, ZeroDivisionError, IndexError, KeyError) as e:
        raise RunError(f"{path / CONFIG}: cannot build its {config.family} model for data_info "
                       f"{info.get('shape')} ({ckpt.first_line(e)})") from None
    check_weights(model.state_dict(), weights, file, config.family)
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise ckpt.CheckpointError(f"{file}: {ckpt.first_line(e)}") from None
    bad = nonfinite_parameters(model)
    if bad:  # sampling would give black (or NaN) images, evaluation NaN figures
        which = "EMA weights" if ema and loaded["ema"] is not None else "weights"
        raise RunError(f"{where} holds non-finite {which} (NaN or inf in {', '.join(bad[:3])}"
                       f"{', ...' if len(bad) > 3 else ''}); the run diverged before this checkpoint was saved. "
                       "Train it again, e.g. with a lower --train.lr or --train.grad-clip 1.0")
    model.eval()
    return Run(path, config, model, int(loaded["meta"]["step"]), info)


def sample(run: Run | str | Path, n: int = 64, *, cond: Any = None, seed: int | None = 0,
           progress: bool | Callable[[str, int, int], None] = True, **options: Any) -> Samples:
    """n samples from a run (a path or a loaded Run), with the labels they were drawn for; `cond` goes to
    the family's `sample` (labels, a prompt, ...), and so do `options` (e.g. a diffusion model's sampler
    and steps). `seed` None draws from torch's global generator. `progress`: for families that sample in a
    loop (diffusion, pixelcnn), tqdm bars of the batches and steps on a terminal (True), none (False), or
    your own hook progress(stage, done, total)."""
    r = run if isinstance(run, Run) else load_run(run)
    if not isinstance(r.model, Sampler):
        from genlab.models import families_with

        raise ValueError(f"a {r.config.family} model cannot sample; families that can: "
                         f"{', '.join(families_with('sample'))}")
    if not 1 <= n <= MAX_SAMPLES:  # all n are drawn at once: a huge n would exhaust memory, not fail clearly
        raise ValueError(f"n must be in [1, {MAX_SAMPLES}], got {n}; draw more in several calls with other seeds")
    g = None if seed is None else torch.Generator(device=r.model.device).manual_seed(seed)
    check_sampling_options(r.model, options)
    from genlab.viz.progress import Bars

    with torch.no_grad(), Bars(f"sample {r.config.family}", progress) as bars:
        if "progress" in inspect.signature(r.model.sample).parameters:
            options["progress"] = bars
        return r.model.sample(n, cond=cond, generator=g, **options)


def translate(run: Run | str | Path, image: str | Path | torch.Tensor, *, direction: str | None = None,
              ema: bool = True) -> torch.Tensor:
    """Translate an image (a PNG/JPEG path, or (b, c', h', w') sources in [0, 1]) with a run of image pairs
    (pix2pix, cyclegan with `direction` "ab" or "ba", sr, srgan): (b, c, h, w) in [0, 1] (genlab/apps/translate.py)."""
    from genlab.apps import translate as app

    r = run if isinstance(run, Run) else load_run(run, ema=ema)
    app.check_pairs_model(r.model, "translate images")
    x = image if isinstance(image, torch.Tensor) else app.read_image(image, r.model, any_size=app.scale_of(r.model) > 1)
    return app.translate(r.model, x, direction=direction)


def upscale(run: Run | str | Path, image: str | Path | torch.Tensor, *, ema: bool = True) -> torch.Tensor:
    """Upscale an image (a PNG/JPEG path of any size, or (b, c, h, w) in [0, 1]) with a super-resolution run."""
    from genlab.apps import translate as app

    r = run if isinstance(run, Run) else load_run(run, ema=ema)
    app.check_pairs_model(r.model, "upscale images")
    x = image if isinstance(image, torch.Tensor) else app.read_image(image, r.model, any_size=True)
    return app.upscale(r.model, x)


def attach_pretrained(config: RunConfig) -> tuple[RunConfig, dict[str, dict[str, torch.Tensor]]]:
    """For a family whose options name another run (an ldm's `autoencoder`), record that run's model in
    the config (`<option>_config`) and return its weights by submodule, to copy into the new model."""
    cls = family_class(config.family)
    weights: dict[str, dict[str, torch.Tensor]] = {}
    model = config.model_options()
    for option, submodule in cls.pretrained.items():
        path = model.get(option) or ""
        if not path or model.get(f"{option}_config"):
            continue
        if not (Path(path) / CONFIG).exists():
            raise RunError(f"{option} run {path!r} does not exist (no {CONFIG}); train one first, e.g. "
                           f"`genlab train vae --data mnist`, and pass --{option} runs/vae-mnist")
        _, other_config = read_run_config(path)
        if family_class(other_config.family).pretrained:  # e.g. an ldm as an ldm's autoencoder (or itself)
            raise RunError(f"{option} run {path!r} is a {other_config.family} run, which itself embeds another "
                           f"run; pass a run of {', '.join(families_with('latent'))}")
        other = load_run(path)
        model[f"{option}_config"] = model_record(other.config.family, other.config.model_options(),
                                                 other.model.spec)
        weights[submodule] = other.model.state_dict()
    return dataclasses.replace(config, model=model), weights


def train(config: RunConfig, run_dir: str | Path | None = None, *, data: Data | None = None,
          resume: bool = False, overwrite: bool = False,
          on_log: Callable[[dict[str, Any]], None] | None = None,
          runs_dir: str | Path | None = None,
          on_start: Callable[[dict[str, Any]], None] | None = None) -> TrainResult:
    """Train `config` (optionally in `run_dir`, with checkpoints, metrics.jsonl and sample grids).

    Args:
        config: family, model options, data and training options.
        run_dir: the run's folder; None trains in memory only.
        data: the training data; loaded from `config.data` when None.
        resume: continue the run in `run_dir` from its latest checkpoint.
        overwrite: replace the run in `run_dir` (only a folder genlab made, inside `runs_dir`).
        runs_dir: the folder of runs that `run_dir` must lie in to be overwritten (default: its parent).
        on_start: called once, by process 0, with `Trainer.start_info()` (model size, precision, device, the
            step it starts from) just before training starts.

    The run is locked for the whole call (process 0 of a torchrun job holds the lock): a second process
    training, resuming or overwriting it gets a RunError naming the holder.
    """
    validate(config.train, "train.")
    validate(config.data, "data.")
    caller_group = group_is_up()  # a group the caller made stays; one made here is destroyed at the end
    d, _ = init_distributed(config.train.device)
    if run_dir is not None and d.is_main:  # refuse a bad target before any work (nothing is created yet)
        check_run_target(Path(run_dir), resume=resume, overwrite=overwrite,
                         runs_dir=None if runs_dir is None else Path(runs_dir))
    config, pretrained = attach_pretrained(config)
    # pin every model default in config.json and the checkpoints (a resumed run keeps its own)
    config = resolved_config(config, Path(run_dir) if resume and run_dir is not None else None)
    if data is None:
        data = load_training_data(config.data)
    # build (and so check) the model first: bad options must not leave a half-made run folder behind
    # a resumed run with precision auto trains as it did (its recorded choice), not as a new timing says
    auto = config.train.precision == "auto" and not config.train.bf16
    trainer = Trainer(config, data, None, on_log=on_log,
                      choice=recorded_choice(Path(run_dir)) if resume and auto and run_dir is not None else None)
    for submodule, weights in pretrained.items():
        trainer.model.get_submodule(submodule).load_state_dict(weights)
    path, resume_from, lock = None, None, None
    try:
        if run_dir is not None:  # process 0 locks and creates or clears the folder, the others only look
            if d.is_main:
                lock = lock_run(Path(run_dir))
                path, resume_from = prepare_run_dir(Path(run_dir), config, resume=resume, overwrite=overwrite,
                                                    data=data, runs_dir=None if runs_dir is None else Path(runs_dir),
                                                    choice=trainer.choice.to_json())
            barrier(d)
            if not d.is_main:
                path, resume_from = prepare_run_dir(Path(run_dir), config, resume=resume, overwrite=False,
                                                    data=data, write=False)
        trainer.run_dir = path
        if resume_from is not None:
            trainer.restore(resume_from)
        if resume:  # records past the checkpoint (all of them when there is none yet) are written again
            trainer.trim_metrics()
        if on_start is not None and d.is_main:
            on_start(trainer.start_info())
        result = trainer.fit()
    finally:
        if lock is not None:
            lock.release()
    if not caller_group:
        end_distributed(d)
    return result


def recorded_choice(path: Path) -> Choice | None:
    """The precision choice a run recorded (to resume it exactly as it trained); for a run that recorded
    none (older genlab, or nothing to resume), the precision its config fixes, None when nothing is there."""
    if not (path / CONFIG).is_file():
        return None
    raw, saved = read_run_config(path)
    if PRECISION_CHOICE not in raw:
        return fixed(saved.train, "resumed")
    try:
        return Choice.from_json(raw[PRECISION_CHOICE], how="resumed")
    except ValueError as e:
        raise RunError(f"{path / CONFIG}: {e}") from None


def lock_run(path: Path) -> RunLock:
    """Create `path` if needed and lock it for this process, or RunError naming the process that holds it."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        return RunLock(path)
    except LockHeld as e:
        raise RunError(f"{e}; wait for it to finish or stop it, then try again (one process per run)") from None
