"""`genlab train FAMILY`: build the run's config from the flags and train it (a new run, or --resume)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Literal, Union

import tyro

from genlab.cli.common import given_flags, run_name
from genlab.config import DataConfig, RunConfig, TrainConfig, to_dict
from genlab.models import FAMILIES
from genlab.models.recipes import PRESETS, recipe, train_config

Binarize = Literal["none", "dynamic", "static"]
# The data flags of `genlab train` and the DataConfig fields they set.
DATA_FLAGS = {"data": "name", "data_dir": "data_dir", "binarize": "binarize", "limit": "limit", "data_b": "name_b",
              "classes": "classes", "per_class": "per_class", "perturb": "perturb"}


# the step count of a run that the time budget ends: `--train.time-budget` without `--train.steps`
UNTIL_BUDGET = 10**9


# family -> its config with the defaults of this command line (the preset's, or a --config file's), set by
# `command` before tyro reads train's signature (the annotation below is evaluated then)
SUBCOMMAND_DEFAULTS: dict[str, object] = {}


def family_union():
    """One tyro subcommand per family, each with its Config's options (and SUBCOMMAND_DEFAULTS' defaults)."""
    def sub(name, cls):
        default = SUBCOMMAND_DEFAULTS.get(name)
        extra = {} if default is None else {"default": default}
        return Annotated[cls.Config, tyro.conf.subcommand(name, description=(cls.__doc__ or "").strip(), **extra)]

    options = tuple(sub(name, cls) for name, cls in FAMILIES.items())
    return tyro.conf.OmitSubcommandPrefixes[Union[options]]  # type: ignore[valid-type]


def family_of(config: object) -> str:
    for name, cls in FAMILIES.items():
        if type(config) is cls.Config:
            return name
    raise ValueError(f"no family has config {type(config).__name__}")


def train(model: family_union(), data: str = "mnist", data_dir: str | None = None,  # type: ignore[valid-type]
          binarize: Binarize = "none", limit: int = 0, classes: tuple[int, ...] = (), per_class: int = 0,
          perturb: float = 0.0, name: str | None = None, runs_dir: str = "runs",
          resume: bool = False, overwrite: bool = False, config: str | None = None,
          train: TrainConfig = TrainConfig(), data_b: str | None = None,
          preset: tyro.conf.Suppress[str] = "cpu") -> None:
    """Train a model: `genlab train FAMILY --data NAME [family options] [--train.* options]`, or rerun a saved
    config: `genlab train --config runs/NAME/config.json --name NAME2 [changes]`.

    `--preset cpu` (the default) starts from the family's CPU recipe, the settings that work on a laptop CPU
    in minutes; `--preset paper` from the papers' settings (docs/TRAINING.md, "Presets"). Flags given win over
    either. (A family's own `--preset` with other values, e.g. `flow --preset tiny`, picks its network size.)

    Args:
        data: dataset name (see `genlab datasets`), or folder:PATH / npz:PATH.
        data_dir: look here first for the dataset's files.
        binarize: "dynamic" Bernoulli-samples pixels every batch (likelihood on MNIST), "static" thresholds.
        limit: train on only the first N images (0 = all).
        data_b: a second image dataset, domain B of unpaired translation (cyclegan --data A --data-b B).
        classes: train on these classes only (a one-class anomaly detector: --classes 3); drawn in turn if conditional.
        per_class: train on N images of each class only (a seeded pick; the low-data setting of genlab augment).
        perturb: replace this fraction of the training pixels by random levels (the background model of
            `genlab anomaly --score ratio`; 0 = off).
        name: run name; the run lives in RUNS_DIR/NAME (default FAMILY-DATA).
        runs_dir: folder holding runs.
        resume: continue the run from its latest checkpoint, with its saved options but those given again.
        overwrite: replace an existing run of the same name (only a folder genlab made, inside RUNS_DIR).
        config: a saved run config (a run folder's config.json, or the folder): its family, model, data and
            training options become the defaults, the flags given change them; FAMILY may be left out.
        preset: "cpu" or "paper", from `--preset` (read off the command line by `split_preset`).
    """
    from genlab.runs import check_run_name
    from genlab.runs import train as train_fn

    if config is not None and resume:
        raise ValueError("--config starts a new run from a saved config, --resume continues a run with its own "
                         "config.json: give one of them")
    family = family_of(model)
    if train.time_budget and config is None and not resume and _steps_left_to_budget(family, preset):
        train = dataclasses.replace(train, steps=UNTIL_BUDGET)  # the budget the user gave ends the run
    data_config = DataConfig(data, data_dir, binarize, limit, name_b=data_b, classes=tuple(classes),
                             per_class=per_class, perturb=perturb)
    run_config = RunConfig(family, to_dict(model), data_config, train)
    run_dir = Path(runs_dir) / check_run_name(name if name is not None else run_name(family, data))
    if config is not None:
        print(config_changes(config, run_config))
    elif not resume:
        line = preset_line(family, preset, data_config)
        if line:
            print(line)
    if resume and not overwrite:
        run_config = resumed_config(run_config, run_dir)
    result = train_fn(run_config, run_dir, resume=resume, overwrite=overwrite, runs_dir=runs_dir,
                      on_start=lambda info: print(start_line(info)))
    if result.is_main:  # one summary under DDP
        print(summary(result))
        print(f"run saved in {run_dir}/ (samples in {run_dir}/samples/)")
    if result.stopped == "interrupted":  # exit 130 (Ctrl-C) or 143 (SIGTERM): `train ... && eval ...` stops
        if result.is_main:
            print(f"genlab: interrupted at step {result.step} (checkpoint saved); continue with the same command "
                  "and --resume", file=sys.stderr)
        raise SystemExit(128 + (result.signal or signal.SIGINT))


def _steps_left_to_budget(family: str, preset: str) -> bool:
    """True when the command line gives no --train.steps and the preset sets none: a time budget then runs until
    it is spent, rather than stopping at TrainConfig's default of 2000 steps first (unknown from Python: False)."""
    given = given_flags(["steps"], prefix="train.")
    return given is not None and "steps" not in given and "steps" not in recipe(family, preset).train


def preset_line(family: str, preset: str, data: DataConfig | None = None) -> str:
    """'dcgan with the cpu recipe: --channels 32 64 ...' where the preset changes defaults, else ''."""
    r = recipe(family, preset, data)
    given_model = given_flags(r.model) or set()
    given_train = given_flags(r.train, prefix="train.") or set()
    shown = [_flag(k, v) for k, v in r.model.items() if k not in given_model]
    shown += [_flag(f"train.{k}", v) for k, v in r.train.items() if k not in given_train]
    if preset != "cpu" or not shown:
        return ""
    return f"{family} with the cpu recipe: {' '.join(shown)} (--preset paper for the papers' settings)"


def _flag(name: str, value: object) -> str:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else flag.replace("--", "--no-", 1)
    if isinstance(value, (tuple, list)):
        return f"{flag} {' '.join(_fmt(v) for v in value)}"
    return f"{flag} {_fmt(value)}"


def start_line(info: dict) -> str:
    """'training vae on digits (1500 images): 12,345 parameters, fp32 on cpu (2 threads), steps 0 -> 2000'."""
    size = (f"fitted once, no optimizer steps ({info['fitted_values']:,} fitted values)" if info["fitted"] else
            f"{info['parameters']:,} parameters" + (f" ({info['trainable']:,} trainable)"
                                                   if info["trainable"] != info["parameters"] else ""))
    threads = info["threads"]
    where = info["device"] + (f" ({threads} thread{'s' * (threads != 1)})" if info["device"] == "cpu" else "")
    if info["processes"] > 1:
        where += f" x {info['processes']} processes"
    precision = (info["precision"] + (", channels-last" if info["channels_last"] else "")
                 + (", compiled" if info.get("compiled") else ""))
    plan = "" if info["fitted"] else f", steps {info['step']} -> {info['steps']}"
    if info["time_budget"] and not info["fitted"]:
        budget = f"{info['time_budget']:g} {info['budget_clock']}-seconds"
        plan = f", from step {info['step']} until {budget}" if info["steps"] >= UNTIL_BUDGET else f"{plan} or {budget}"
    return (f"training {info['family']} on {info['data']} ({info['n_train']:,} examples): {size}; {precision} on "
            f"{where}{plan}{_how(info)}")


def _how(info: dict) -> str:
    """How the precision was chosen, when it was not simply the config's: '; precision auto, timed ...'."""
    choice = info.get("precision_choice") or {}
    how, timings = choice.get("how"), choice.get("timings_ms") or {}
    if how == "timed":
        return "; precision auto, the fastest per step of " + ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items())
    if how == "resumed":
        return "; precision as the run recorded it"
    if how == "short run":
        return "; precision auto: fp32, a run under 200 steps is not timed"
    return ""


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def summary(result, width: int = 100) -> str:
    """The end of a run in a few lines: how it stopped, when, how fast, and the last logged figures."""
    import textwrap

    last = result.history[-1] if result.history else {}
    how = {"done": "done", "time_budget": "stopped by the time budget", "interrupted": "interrupted"}
    speed = next((f", {last[k]:,.0f} {k.replace('_per_s', '/s').replace('img', 'images')}" for k in
                  ("img_per_s", "tokens_per_s") if k in last), "")
    head = f"{how.get(result.stopped, result.stopped)} at step {result.step} in {result.seconds:.1f}s{speed}"
    shown = [f"{k} {_fmt(v)}" for k, v in last.items() if k not in ("step", "time", "lr", "img_per_s", "tokens_per_s")
             and not k.startswith("finish_")]
    lines = [head]
    if shown:
        lines.append(textwrap.fill(", ".join(shown), width=width, initial_indent="  ", subsequent_indent="  "))
    finished = getattr(result, "finished", None) or {}
    if finished:  # the model's end-of-training fit (an autoencoder's code prior)
        lines.append(textwrap.fill("then " + ", ".join(f"{k} {_fmt(v)}" for k, v in finished.items()), width=width,
                                   initial_indent="  ", subsequent_indent="  "))
    return "\n".join(lines)


def split_preset(argv: list[str]) -> tuple[list[str], str]:
    """(argv without `--preset cpu|paper`, the preset): the recipe preset is read before tyro parses, as some
    families have a `--preset` of their own (network sizes, never named cpu or paper)."""
    out, preset, i = [], "cpu", 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out += argv[i:]
            break
        value = token.split("=", 1)[1] if token.startswith("--preset=") else \
            argv[i + 1] if token == "--preset" and i + 1 < len(argv) else None
        if value in PRESETS:
            preset = value
            i += 1 if "=" in token else 2
            continue
        out.append(token)
        i += 1
    return out, preset


def command(argv: list[str], preset: str = "cpu"):
    """The `train` command tyro parses: with `--config FILE` among `argv`, `train` with the saved config's
    values as its defaults (so every flag given on the command line overrides the file); else, for
    `train FAMILY`, with the defaults of the preset (--preset, "cpu" unless given)."""
    import functools

    from genlab.models import model_config

    path = _config_flag(argv) if argv[:1] == ["train"] else None
    if path is None:
        family = _family_arg(argv) if argv[:1] == ["train"] else None
        if family is None:
            return train
        other = _flag_value(argv, "--preset")  # not cpu or paper: the family's own (sizes), if it has one
        if other is not None and "preset" not in {f.name for f in dataclasses.fields(FAMILIES[family].Config)}:
            recipe(family, other)  # the one-line error naming the valid presets
        r = recipe(family, preset, _data_arg(argv))
        SUBCOMMAND_DEFAULTS.clear()
        SUBCOMMAND_DEFAULTS[family] = model_config(family, r.model)
        return functools.partial(train, train=train_config(family, r.preset), preset=r.preset)
    saved = read_saved(path)
    d = saved.data
    SUBCOMMAND_DEFAULTS.clear()
    SUBCOMMAND_DEFAULTS[saved.family] = model_config(saved.family, saved.model_options())
    return functools.partial(train, model=SUBCOMMAND_DEFAULTS[saved.family], data=d.name,
                             data_dir=d.data_dir, binarize=d.binarize, limit=d.limit, classes=d.classes,
                             per_class=d.per_class, perturb=d.perturb, train=saved.train, data_b=d.name_b)


def _config_flag(argv: list[str]) -> str | None:
    return _flag_value(argv, "--config")


def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, token in enumerate(argv):
        if token == "--":
            break
        if token == flag and i + 1 < len(argv):
            return argv[i + 1]
        if token.startswith(flag + "="):
            return token.split("=", 1)[1]
    return None


def _data_arg(argv: list[str]) -> DataConfig:
    """The data the command line names (`--data`, `--classes`), as far as the preset needs it: whether it is
    labelled and not cut to one class (genlab.models.recipes.labelled)."""
    classes: list[str] = []
    for i, token in enumerate(argv):
        if token == "--":
            break
        if token == "--classes":
            classes = list(itertools.takewhile(lambda t: not t.startswith("-"), argv[i + 1:]))
        elif token.startswith("--classes="):
            classes = token.split("=", 1)[1].split()
    return DataConfig(_flag_value(argv, "--data") or "mnist", classes=tuple(int(k) for k in classes if k.isdigit()))


_SWITCHES = {"--resume", "--overwrite", "--help", "-h"}  # flags of `train` itself that take no value


def _family_arg(argv: list[str]) -> str | None:
    """The FAMILY subcommand of `genlab train ... FAMILY ...`, or None."""
    expects_value = False
    for token in argv[1:]:
        if token == "--":
            return None
        if token.startswith("-"):
            expects_value = "=" not in token and token not in _SWITCHES and not token.startswith("--no-")
            continue
        if not expects_value and token in FAMILIES:
            return token
        expects_value = False
    return None


def read_saved(path: str) -> RunConfig:
    """The RunConfig of a saved config file or run folder; one-line errors naming --config."""
    from genlab.runs import CONFIG, read_config_file

    file = Path(path) / CONFIG if Path(path).is_dir() else Path(path)
    if not file.is_file():
        raise ValueError(f"--config {path}: no such file; give a run's {CONFIG} (runs/NAME/{CONFIG}) or its folder")
    return read_config_file(file)[1]


def config_changes(path: str, config: RunConfig) -> str:
    """One line: the saved config the run starts from and what the command line changed in it."""
    saved = read_saved(path)
    if saved.family != config.family:
        return f"training from {path} as {config.family} (was {saved.family}): its data and --train.* options"
    changes = []
    data_flags = {field: flag for flag, field in DATA_FLAGS.items()}  # DataConfig field -> flag ("name" -> "data")
    for flags, old, new in ((lambda k: k, saved.model_options(), config.model_options()),
                            (data_flags.get, to_dict(saved.data), to_dict(config.data)),
                            (lambda k: f"train.{k}", to_dict(saved.train), to_dict(config.train))):
        for k in new:
            if old.get(k) != new[k]:
                changes.append(f"--{flags(k).replace('_', '-')} {json.dumps(old.get(k))} -> {json.dumps(new[k])}")
    return f"training from {path} with " + (", ".join(changes) if changes else "its saved options")


def resumed_config(config: RunConfig, run_dir: Path) -> RunConfig:
    """The config that continues the run in `run_dir`: every option the command line did not give comes
    from the run's config.json; prints one line naming the training options that change.

    Model and data options given again must still match the run, and so must the training options its
    checkpoint's state holds: genlab.runs.resume_changes raises RunError otherwise."""
    from genlab.runs import CONFIG, checkpoint_step, read_run_config, resume_changes
    from genlab.training.checkpoint import latest_checkpoint

    if not (run_dir / CONFIG).exists():
        return config  # nothing to resume: prepare_run_dir says so
    _, saved = read_run_config(run_dir)
    train = _keep_given(saved.train, config.train, given_flags(to_dict(config.train), prefix="train."))
    data_given = given_flags(DATA_FLAGS)
    data = _keep_given(saved.data, config.data, None if data_given is None else {DATA_FLAGS[k] for k in data_given})
    model = config.model
    if saved.family == config.family:
        options = config.model_options()
        model_given = given_flags(options)
        model = options if model_given is None else {**saved.model_options(), **{k: options[k] for k in model_given}}
    resumed = RunConfig(config.family, model, data, train)
    changes = resume_changes(saved, resumed, run_dir)  # or RunError, before anything is printed or trained
    step = checkpoint_step(latest_checkpoint(run_dir / "checkpoints"))
    if changes:
        shown = ", ".join(f"--train.{k.replace('_', '-')} {json.dumps(c['from'])} -> {json.dumps(c['to'])}"
                          for k, c in changes.items())
        print(f"resuming {run_dir} at step {step} with {shown}")
    else:
        print(f"resuming {run_dir} at step {step} with its saved options")
    return resumed


def _keep_given(saved, parsed, given: set[str] | None):
    """`saved` with the fields in `given` taken from `parsed` (all of `parsed` when given is None)."""
    if given is None:
        return parsed
    return dataclasses.replace(saved, **{k: getattr(parsed, k) for k in given})
