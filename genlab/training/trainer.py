"""The training loop, split into steps: build, restore, one optimizer step, log, sample, save.

The trainer knows a model only through the family contract (genlab/models/base.py): it hands each
player's optimizer the losses of a `Batch`, or, for a fitted family, calls `fit` once. It is the same
for one process and for a torchrun job (DDP; gloo on CPU, nccl on CUDA): each process takes its slice
of a deterministic global batch, and process 0 alone writes metrics, samples and checkpoints.
`genlab.runs.train` ties it to a run folder.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genlab.config import RunConfig
from genlab.data.base import Batch, Data
from genlab.models import GenerativeModel, build_model
from genlab.models.base import Fitted, Sampler
from genlab.training import checkpoint as ckpt
from genlab.training.batches import BatchSampler
from genlab.training.callbacks import attach_feature_net, callbacks_for
from genlab.training.device import (
    autocast,
    barrier,
    broadcast_state,
    check_compiler,
    cpu_has_fast_bf16,
    init_distributed,
    max_across,
    mean_across,
)
from genlab.training.metrics import (
    METRICS,
    METRICS_CSV,
    TensorBoardLog,
    append_csv,
    append_record,
    check_tensorboard,
    trim_metrics,
)
from genlab.training.precision import Choice, candidates, fixed, needs_timing, pick, time_candidates
from genlab.training.signals import StopSignals
from genlab.viz.progress import Bars, messages_above_bars, new_bar, shown


class TrainingDiverged(RuntimeError):
    """A loss or a parameter became NaN or infinite; training stopped, and only checkpoints whose loss and
    parameters were finite exist (the message names the last one, or says there is none)."""


DIVERGED_HINT = "Try a lower --train.lr, --train.grad-clip 1.0, or warm-up."
PREPARE_SUBSET = 2048  # images a throw-away copy timed by precision="auto" prepares on (the run prepares on all)


@dataclass
class TrainResult:
    model: GenerativeModel
    run_dir: Path | None
    step: int
    stopped: str  # "done", "time_budget" or "interrupted"
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    signal: int | None = None  # the signal that interrupted the run (SIGINT for Ctrl-C, SIGTERM)
    is_main: bool = True  # process 0 (the one that writes the run and prints) of a DDP job, or the only one
    finished: dict[str, Any] = field(default_factory=dict)  # what the model's end-of-training fit reported


def nonfinite_parameters(module: nn.Module) -> list[str]:
    """Names of the parameters of `module` holding a NaN or an infinity (one device sync)."""
    named = [(k, p) for k, p in module.named_parameters() if p.is_floating_point() or p.is_complex()]
    if not named:
        return []
    ok = torch.stack([torch.isfinite(p.detach()).all() for _, p in named])
    if bool(ok.all()):
        return []
    return [k for (k, _), good in zip(named, ok.tolist()) if not good]


class _Losses(nn.Module):
    """Routes forward() to training_losses so DDP can hook gradient all-reduce onto it."""

    def __init__(self, model: GenerativeModel):
        super().__init__()
        self.model = model

    def forward(self, batch: Batch, generator, player):
        return self.model.training_losses(batch, generator=generator, player=player)


def lr_lambda(step: int, warmup: int, total: int, schedule: str) -> float:
    """Multiplier of the peak lr at `step`: linear warm-up, then constant, cosine or linear decay."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "linear":
        return 1.0 - t
    raise ValueError(f"unknown schedule {schedule!r}; valid: constant, cosine, linear")


def ema_decay_at(decay: float, updates: int, warmup: bool = True) -> float:
    """The EMA decay for the update after `updates` earlier ones: min(decay, (1 + n) / (10 + n)) with warm-up."""
    return min(decay, (1.0 + updates) / (10.0 + updates)) if warmup else decay


def ema_update(decay: float, warmup: bool) -> Callable:
    """AveragedModel's multi_avg_fn: ema <- decay_n * ema + (1 - decay_n) * current, in place."""

    @torch.no_grad()
    def update(ema_params, current_params, num_averaged):
        d = ema_decay_at(decay, int(num_averaged), warmup)
        if ema_params[0].is_floating_point() or ema_params[0].is_complex():
            torch._foreach_lerp_(ema_params, current_params, 1.0 - d)
        else:  # integer buffers (batch norm's step counter): take the current value
            torch._foreach_copy_(ema_params, current_params)

    return update


def match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor (Adam's moments) its parameter's memory layout: a checkpoint saved in
    one layout and resumed in the other (channels-last or not) would otherwise feed fused Adam mixed strides,
    which CUDA refuses."""
    for p, state in optimizer.state.items():
        for name, v in state.items():
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                state[name] = torch.empty_like(p, dtype=v.dtype).copy_(v)


class Trainer:
    """Holds the model, optimizers, EMA and RNG of one run and advances them step by step."""

    def __init__(self, config: RunConfig, data: Data, run_dir: Path | None = None,
                 on_log: Callable[[dict[str, Any]], None] | None = None, choice: Choice | None = None):
        self.config, self.tc, self.data = config, config.train, data
        self.run_dir = None if run_dir is None else Path(run_dir)
        # Called as f(trainer, record) after each log: the user's, then the model's own (e.g. a watchdog).
        self.callbacks: list[Callable[[Trainer, dict[str, Any]], None]] = []
        if on_log is not None:
            self.callbacks.append(lambda trainer, record: on_log(record))
        self.dist, self.device = init_distributed(self.tc.device)
        if self.tc.threads > 0:
            torch.set_num_threads(self.tc.threads)
        if self.tc.bf16 and self.tc.precision == "fp32":
            raise ValueError("train.bf16 asks for bf16 but train.precision is fp32; pass one of them "
                             "(--train.precision bf16, fp32 or auto)")
        if fixed(self.tc).bf16 and self.device.type == "cpu" and not cpu_has_fast_bf16():
            warnings.warn("bf16 autocast on a CPU without native bf16 (no AVX-512 BF16 or AMX in /proc/cpuinfo): "
                          "torch emulates it, typically several times slower than fp32. Train in fp32 "
                          "(--train.precision auto or fp32) on this machine.", UserWarning, stacklevel=2)
        self.choice = choice  # None: decided in _build (from the config, or timed when precision is auto)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.grad_norms: dict[str, torch.Tensor] = {}
        self.skipping: set[str] = set()  # players that sat out some step: their grad norm is taken at every step
        # The losses summed since the last metrics record, and the steps that produced each (a player may
        # sit out some): part of a checkpoint, so a record after a resume averages the same steps.
        self.window: dict[str, torch.Tensor] = {}
        self.window_counts: dict[str, int] = {}
        self.window_steps = 0
        self.tensorboard: TensorBoardLog | None = None  # opened at the first record, in a run that asks for it
        self.start_step = 0  # the step fit() started from (a resumed run's checkpoint)
        if self.tc.tensorboard:
            check_tensorboard()  # a missing package fails here, before any folder or step
        self._build()

    # --- set-up ---------------------------------------------------------------------------------
    def _build(self) -> None:
        tc = self.tc
        torch.manual_seed(tc.seed)  # model initialization; identical on every process
        self.model = build_model(self.config.family, self.config.model, spec=self.data.spec).to(self.device)
        attach_feature_net(self.model)  # a model with a feature loss gets genlab's classifier (srgan)
        self.fitted = isinstance(self.model, Fitted)  # fitted in closed form or by EM: no optimizer
        if tc.compile and not self.fitted:  # refused before any timing or step
            check_compiler(self.device)
            obstacle = self.model.compile_obstacle()
            if obstacle is not None:
                raise ValueError(f"--train.compile cannot train this {self.config.family} model: {obstacle}")
        self.batches = None if self.fitted else BatchSampler(
            self.data, tc.batch_size, seed=tc.seed, rank=self.dist.rank, world_size=self.dist.world_size,
            device=self.device, binarize=self.config.data.binarize, block_size=self.model.context)
        if self.choice is None:
            self.choice = self._choose_precision()
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.callbacks += callbacks_for(self.model)  # the probes its config asks for, then its own
        self.losses_module: nn.Module = _Losses(self.model)
        self.players = {p.name: p for p in ([] if self.fitted else self.model.players())}
        if self.dist.enabled and not self.fitted:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.losses_module = DDP(self.losses_module, device_ids=ids, find_unused_parameters=len(self.players) > 1)
        if tc.compile and not self.fitted:
            # compiled on the first step; weights shared. Static shapes: a training batch keeps its shape, and a
            # flow's levels run one step's code on other sizes, which automatic dynamic shapes recompiled with
            # symbolic sizes that inductor fails on (tests/training/test_compile.py)
            self.losses_module = torch.compile(self.losses_module, dynamic=False)
        # per-player settings (a GAN's two Adams) replace the TrainConfig's
        self.optimizers = {name: self._optimizer(p.params, p.options) for name, p in self.players.items()}
        self.schedulers = {name: torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: lr_lambda(s, tc.warmup_steps, tc.steps, tc.schedule))
            for name, opt in self.optimizers.items()}
        self.ema = None
        if tc.ema_decay > 0 and not self.fitted:
            from torch.optim.swa_utils import AveragedModel

            self.ema = AveragedModel(self.model, multi_avg_fn=ema_update(tc.ema_decay, tc.ema_warmup),
                                     use_buffers=True)
        self.generator = torch.Generator(device=self.device).manual_seed(tc.seed * 7919 + self.dist.rank)

    @property
    def bf16(self) -> bool:
        return self.choice.bf16 and self.device.type in ("cpu", "cuda")

    @property
    def channels_last(self) -> bool:
        return self.choice.channels_last

    def _choose_precision(self) -> Choice:
        """The config's precision and layout, or (precision auto) the fastest candidate timed on copies of
        the model; every process of a torchrun job times its own and they agree on the mean."""
        why = needs_timing(self.tc, self.fitted)
        if why is not None:
            return fixed(self.tc, why)
        cands = candidates(self.tc, self.device, self.model)
        if len(cands) == 1:
            return Choice(cands[0][0], cands[0][1], "one candidate")
        g = torch.Generator(device=self.device).manual_seed(12345)
        batch = self.batches.batch(0, g)

        def stepper(model: GenerativeModel):
            if type(model).prepare is not GenerativeModel.prepare:  # data-dependent set-up (a GAN's clusters)
                model.prepare(self.data.subset(min(len(self.data), PREPARE_SUBSET)))
            optimizers = [(p, self._optimizer(p.params, p.options)) for p in model.players()]
            single = len(optimizers) == 1

            def step(b: Batch, bf16: bool) -> None:
                for player, opt in optimizers:
                    if not player.active(0):
                        continue
                    opt.zero_grad(set_to_none=True)
                    with autocast(self.device, bf16):
                        losses = model.training_losses(b, generator=g, player=None if single else player.name)
                    losses["loss"].backward()
                    opt.step()
            return step

        timings = time_candidates(self.model, lambda cl: batch.channels_last() if cl else batch, stepper, cands,
                                  self.device)
        if self.dist.enabled:
            keys = list(timings)
            mean = mean_across(self.dist, {str(i): timings[k] for i, k in enumerate(keys)}, self.device)
            timings = {k: mean[str(i)] for i, k in enumerate(keys)}
        return pick(timings)

    def _optimizer(self, params: list[nn.Parameter], overrides: dict[str, Any] | None = None) -> torch.optim.Optimizer:
        tc = self.tc
        cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}.get(tc.optimizer)
        if cls is None:
            raise ValueError(f"unknown optimizer {tc.optimizer!r}; valid: adam, adamw")
        options = {"lr": tc.lr, "betas": tuple(tc.betas), "weight_decay": tc.weight_decay, **(overrides or {})}
        # One fused kernel for all parameters instead of a loop of small ops: on CPU it cut the optimizer's
        # share of an MLP-VAE step by ~20% (benchmarks/vae_vs_pythae.py). CPU and CUDA support it.
        fused = self.device.type in ("cpu", "cuda")
        return cls(params, fused=fused, **options)

    # --- state ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"step": self.step,
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
                "generator": self.generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "window": {"sums": dict(self.window), "counts": dict(self.window_counts),
                           "steps": self.window_steps, "grad_norms": dict(self.grad_norms),
                           "skipping": sorted(self.skipping)},
                "callbacks": {type(c).__name__: c.state_dict() for c in self.callbacks if hasattr(c, "state_dict")}}

    def restore(self, path: Path) -> None:
        """Continue from a checkpoint folder: weights, EMA, optimizers, schedulers, RNG and step."""
        loaded = ckpt.load_checkpoint(path, map_location=self.device)
        self.model.load_state_dict(loaded["model"])
        if self.ema is not None and loaded["ema"] is not None:
            self.ema.load_state_dict(loaded["ema"])
        st = loaded["state"]
        for k, o in self.optimizers.items():
            o.load_state_dict(st["optimizers"][k])
            match_layouts(o)
        for k, s in self.schedulers.items():
            s.load_state_dict(st["schedulers"][k])
        self.generator.set_state(st["generator"].cpu())  # a CUDA generator's state is a CPU ByteTensor too
        torch.set_rng_state(st["torch_rng"].cpu())
        self.step = int(st["step"])
        window = st.get("window") or {}  # checkpoints of older versions have none
        self.window = {k: v.to(self.device) for k, v in window.get("sums", {}).items()}
        self.window_counts = dict(window.get("counts", {}))
        self.window_steps = int(window.get("steps", 0))
        self.grad_norms = {k: v.to(self.device) for k, v in window.get("grad_norms", {}).items()}
        self.skipping = set(window.get("skipping", []))
        saved = st.get("callbacks") or {}  # stateful callbacks (a probe's schedule) continue where they were
        for c in self.callbacks:
            if type(c).__name__ in saved and hasattr(c, "load_state_dict"):
                c.load_state_dict(saved[type(c).__name__])

    def save(self, metrics: dict[str, Any] | None = None) -> Path | None:
        """A checkpoint of this step (process 0 writes it); TrainingDiverged, and nothing saved, when a
        parameter is not finite."""
        if self.run_dir is None:
            return None
        bad = nonfinite_parameters(self.model) + (
            [] if self.ema is None else [f"ema.{k}" for k in nonfinite_parameters(self.ema.module)])
        if bad:
            raise TrainingDiverged(f"parameter {bad[0]} became NaN or infinite by step {self.step} (the losses "
                                   f"were finite); training stopped and step {self.step} was not saved. "
                                   f"{self.kept_checkpoint()} {DIVERGED_HINT}")
        if self.dist.is_main:
            ema = None if self.ema is None else self.ema.state_dict()
            ckpt.save_checkpoint(self.run_dir / "checkpoints", self.step, model=self.model.state_dict(),
                                 state=self.state(), ema=ema, meta={"metrics": metrics or {}},
                                 config=self.config.to_json(), keep=self.tc.keep_checkpoints)
        barrier(self.dist)
        return self.run_dir / "checkpoints"

    # --- one step -------------------------------------------------------------------------------
    def train_step(self) -> dict[str, torch.Tensor]:
        """One optimizer step for every player; returns the detached losses of the step."""
        self.model.train()
        self.model.on_train_step(self.step, self.tc.steps)
        batch = self.batches.batch(self.step, self.generator)
        if self.channels_last:
            batch = batch.channels_last()
        out: dict[str, torch.Tensor] = {}
        single = len(self.optimizers) == 1
        for name, opt in self.optimizers.items():
            if not self.players[name].active(self.step):
                self.skipping.add(name)
                self.schedulers[name].step()  # schedules follow the trainer's step for every player
                continue
            opt.zero_grad(set_to_none=True)
            with autocast(self.device, self.bf16):
                losses = self.losses_module(batch, self.generator, None if single else name)
            loss = losses["loss"]
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"the {name} loss became {loss.item()} at step {self.step}; training "
                                       f"stopped. {self.kept_checkpoint()} {DIVERGED_HINT}")
            loss.backward()
            prefix = "" if single else f"{name}/"
            if self.tc.grad_clip > 0:
                norm = torch.nn.utils.clip_grad_norm_(self.players[name].params, self.tc.grad_clip)
                self.grad_norms[prefix + "grad_norm"] = norm
            elif (self.step + 1) % self.tc.log_every == 0 or name in self.skipping:  # only where it will be logged
                grads = [p.grad for p in self.players[name].params if p.grad is not None]
                self.grad_norms[prefix + "grad_norm"] = torch.nn.utils.get_total_norm(grads)
            opt.step()
            self.schedulers[name].step()
            out.update({prefix + k: v.detach() for k, v in losses.items()})
        if self.step == 0 and self.dist.enabled:
            # a model initialized from its first batch (a flow's ActNorm) saw a different batch in each process,
            # and DDP averages gradients, not weights: every process takes rank 0's weights once, or they would
            # train different models for good (tests/training/test_distributed.py)
            broadcast_state(self.dist, self.model)
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.step += 1
        return out

    # --- outputs --------------------------------------------------------------------------------
    def sampling_model(self) -> GenerativeModel:
        return self.model if self.ema is None else self.ema.module  # type: ignore[return-value]

    def save_samples(self, n: int = 64) -> Path | None:
        """A grid of n samples (images) or a text file of a few (tokens) under samples/; nothing for a
        family that cannot sample."""
        m = self.sampling_model()
        if self.run_dir is None or not self.dist.is_main or not isinstance(m, Sampler):
            return None
        from genlab.viz.grid import save_grid

        was_training = m.training
        m.eval()
        g = torch.Generator(device=self.device).manual_seed(1234)
        kind = m.spec.kind
        if kind == "image-pair":  # translate the first training sources; the grid shows outputs over targets
            n = min(16, len(self.data))
        cond = self.data.sources(slice(0, n)).to(self.device) if kind == "image-pair" else None
        with torch.no_grad():
            out = m.sample(n if kind != "tokens" else 4, cond=cond, generator=g)
        m.train(was_training)
        name = self.run_dir / "samples" / f"step_{self.step:08d}"
        if m.spec.kind == "tokens":
            from genlab.io import atomic_write_bytes

            text = "\n\n---\n\n".join(m.spec.vocab.decode(row.tolist()) for row in out.x)
            name.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(name.with_suffix(".txt"), text.encode("utf-8"))
            return name.with_suffix(".txt")
        if kind == "image-pair":
            images = torch.cat([out.x.float().cpu(), self.data.images(slice(0, n)).cpu()])
            return save_grid(images, name.with_suffix(".png"), nrow=n, scale=2)
        nrow = m.num_classes if out.y is not None and m.num_classes <= 16 else None
        return save_grid(out.x, name.with_suffix(".png"), nrow=nrow, scale=2)

    def kept_checkpoint(self) -> str:
        """What a diverged run keeps: its latest checkpoint (every one saved had finite weights), or none."""
        where = None if self.run_dir is None else ckpt.latest_checkpoint(self.run_dir / "checkpoints")
        if where is None:
            return ("No checkpoint was saved before (nothing to resume)." if self.run_dir is not None
                    else "Nothing was saved (no run folder).")
        step = json.loads((where / "meta.json").read_text())["step"]
        return (f"Kept: the checkpoint of step {step} ({where}), "
                "the last one with finite losses and parameters.")

    def log(self, sums: dict[str, float], count: int, seconds: float,
            counts: dict[str, int] | None = None) -> dict[str, Any]:
        """Average each loss over the steps that produced it (`counts`, default `count`) and write a record."""
        counts = counts or {}
        values = {k: v / max(counts.get(k, count), 1) for k, v in sums.items()}
        values.update({k: float(v) for k, v in self.grad_norms.items()})  # at the last step of the window
        values = mean_across(self.dist, values, self.device)
        record = {"step": self.step, **{k: round(v, 6) for k, v in values.items()},
                  "lr": self.schedulers[next(iter(self.schedulers))].get_last_lr()[0],
                  self.speed_key: round(count * self.items_per_step / max(seconds, 1e-9), 1),
                  "time": round(time.time(), 3)}
        for callback in self.callbacks:  # may add diagnostics to the record
            callback(self, record)
        self.history.append(record)
        self.write_record(record)
        return record

    def write_record(self, record: dict[str, Any]) -> None:
        """Process 0 appends a record to metrics.jsonl and metrics.csv, and to TensorBoard when asked."""
        if self.run_dir is None or not self.dist.is_main:
            return
        append_record(self.run_dir / METRICS, record)
        append_csv(self.run_dir / METRICS_CSV, record, self.run_dir / METRICS)
        if self.tc.tensorboard:
            if self.tensorboard is None:  # from the first record on: a resume purges events past its checkpoint
                self.tensorboard = TensorBoardLog(self.run_dir, purge_after=self.start_step)
            self.tensorboard.add(record)

    def close_logs(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None

    def trim_metrics(self) -> None:
        """On resume, drop metric lines written after the checkpoint we continue from (and a torn last one)."""
        if self.run_dir is not None and self.dist.is_main:
            trim_metrics(self.run_dir / METRICS, self.step)

    def start_info(self) -> dict[str, Any]:
        """What this run is about to do, for a start-of-run line: model size, precision, device, processes."""
        described = self.model.describe()
        return {"family": self.config.family, "data": self.config.data.name, "n_train": len(self.data),
                "parameters": described["parameters"],
                "trainable": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
                "fitted_values": described["buffers"] if self.fitted else 0,
                "precision": "bf16 autocast" if self.bf16 else "fp32", "channels_last": self.channels_last,
                "compiled": self.tc.compile and not self.fitted,
                "precision_choice": self.choice.to_json(),
                "device": str(self.device), "processes": self.dist.world_size, "threads": torch.get_num_threads(),
                "step": self.step, "steps": 1 if self.fitted else self.tc.steps, "fitted": self.fitted,
                "time_budget": self.tc.time_budget, "budget_clock": self.tc.budget_clock}

    # --- the loop -------------------------------------------------------------------------------
    @property
    def speed_key(self) -> str:
        return "tokens_per_s" if self.data.kind == "tokens" else "img_per_s"

    @property
    def items_per_step(self) -> int:
        """Images (or tokens) that one step consumes across every process."""
        return self.batches.global_batch * max(1, self.model.context)

    def fit_once(self) -> TrainResult:
        """A fitted family: `fit` once on the whole training set (a finished run is left as it is)."""
        t_start = time.perf_counter()
        if self.step == 0:
            takes_progress = "progress" in inspect.signature(self.model.fit).parameters  # EM fits report theirs
            with Bars(f"fit {self.model.family}", self.dist.is_main and self.tc.progress) as bars:
                extra = {"progress": bars if bars else None} if takes_progress else {}
                figures = self.model.fit(self.data.to(self.device), generator=self.generator,
                                         time_budget=self.tc.time_budget, **extra)
            self.step = 1
            record = {"step": 1, **{k: (round(float(v), 6) if isinstance(v, (int, float)) else v)
                                    for k, v in (figures or {}).items()},
                      "fit_seconds": round(time.perf_counter() - t_start, 3), "time": round(time.time(), 3)}
            self.history.append(record)
            self.write_record(record)
            self.save(record)
            self.save_samples()
        return TrainResult(self.model, self.run_dir, self.step, "done", self.history,
                           time.perf_counter() - t_start, is_main=self.dist.is_main)

    def accumulate(self, losses: dict[str, torch.Tensor]) -> None:
        """Add one step's losses to the window of the next metrics record."""
        for k, v in losses.items():
            self.window[k] = self.window[k] + v if k in self.window else v.clone()
            self.window_counts[k] = self.window_counts.get(k, 0) + 1
        self.window_steps += 1

    def log_window(self, seconds: float) -> dict[str, Any]:
        """Write the record of the window (losses averaged over the steps that produced them) and empty it."""
        sums = {k: float(v) for k, v in self.window.items()}
        record = self.log(sums, self.window_steps, seconds, self.window_counts)
        self.window, self.window_counts, self.window_steps = {}, {}, 0
        return record

    def stop_requests(self, over_budget: bool, signals: StopSignals) -> tuple[bool, int | None]:
        """(time budget spent, signal that asked to stop or None), agreed by every process (the largest
        over them), so that all stop at the same step."""
        if not self.dist.enabled:
            return over_budget, signals.signum
        budget, signum = max_across(self.dist, [int(over_budget), signals.signum or 0], self.device)
        return bool(budget), signum or None

    def fit(self) -> TrainResult:
        """Train to `steps` (or the time budget). SIGTERM or a first Ctrl-C stop at the next step boundary
        with a checkpoint (stopped "interrupted"; no record for the partial window: its sums are saved in
        the checkpoint, so records after a resume equal an uninterrupted run's); a second Ctrl-C raises
        KeyboardInterrupt at once and saves nothing."""
        tc = self.tc
        self.start_step = self.step
        if self.fitted:
            try:
                return self.fit_once()
            finally:
                self.close_logs()
        t_log, t_start, stopped, signum = time.perf_counter(), time.perf_counter(), "done", None
        if tc.budget_clock not in ("wall", "cpu"):
            raise ValueError(f"unknown budget_clock {tc.budget_clock!r}; valid: wall, cpu")
        clock = time.process_time if tc.budget_clock == "cpu" else time.perf_counter
        c_start = clock()
        bar = self._progress_bar()
        above = messages_above_bars() if bar is not None else contextlib.nullcontext()
        above.__enter__()  # warnings (the GAN watchdog's) print on their own line above the bar
        signals = StopSignals()
        try:
            if self.step == 0:  # a fresh run: data-dependent set-up (inside the time budget)
                self.model.prepare(self.data)
                if self.ema is not None:
                    self.ema.module.load_state_dict(self.model.state_dict())
            while self.step < tc.steps:
                losses = self.train_step()
                self.accumulate(losses)
                if bar is not None:
                    bar.update(1)
                last = self.step >= tc.steps
                if self.step % tc.log_every == 0 or last:
                    rec = self.log_window(time.perf_counter() - t_log)
                    if bar is not None:
                        keys = self.model.progress_keys() or list(losses)[:4]
                        speed = {self.speed_key.replace("_per_s", "/s"): rec[self.speed_key]}
                        bar.set_postfix({k: rec[k] for k in keys if k in rec} | speed)
                    t_log = time.perf_counter()
                if tc.sample_every and self.step % tc.sample_every == 0 and not last:
                    self.save_samples()
                if tc.checkpoint_every and self.step % tc.checkpoint_every == 0 and not last:
                    self.save(self.history[-1] if self.history else None)
                over_budget, signum = self.stop_requests(
                    bool(tc.time_budget) and clock() - c_start >= tc.time_budget, signals)
                if over_budget:
                    stopped, signum = "time_budget", None
                    break
                if signum is not None and not last:
                    stopped = "interrupted"
                    break
        finally:
            signals.restore()
            if bar is not None:
                bar.close()
            above.__exit__(None, None, None)
            self.close_logs()
        seconds = time.perf_counter() - t_start
        if stopped == "time_budget" and self.window_steps:  # the run ends here: its last record
            self.log_window(time.perf_counter() - t_log)
        meta = dict(self.history[-1]) if self.history else {}
        finished = self.finish_models() if stopped != "interrupted" else {}
        meta.update({f"finish_{k}": v for k, v in finished.items()})
        if self.dist.enabled:
            meta["world_size"] = self.dist.world_size
            meta["ranks_in_step"] = self.ranks_in_step()
        self.save(meta)
        if stopped != "interrupted":
            self.save_samples()
        return TrainResult(self.sampling_model(), self.run_dir, self.step, stopped, self.history, seconds,
                           signum if stopped == "interrupted" else None, is_main=self.dist.is_main,
                           finished=finished)

    def finish_models(self) -> dict[str, Any]:
        """The model's end-of-training fit (`GenerativeModel.finish`) on the weights that are trained and on the
        EMA weights that sample; the figures it returns for the last one."""
        figures: dict[str, Any] = {}
        for model in {id(m): m for m in (self.model, self.sampling_model())}.values():
            was = model.training
            model.eval()
            try:
                figures = model.finish(self.data) or {}
            finally:
                model.train(was)
        return figures

    def ranks_in_step(self) -> bool:
        """True when every process holds the same weights (what DDP's all-reduce must guarantee)."""
        import torch.distributed as dist

        flat = torch.cat([p.detach().float().flatten() for p in self.model.parameters()])
        lo, hi = flat.clone(), flat.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        return bool(torch.equal(lo, hi))

    def _progress_bar(self):
        """The bar of the steps: on a terminal, by process 0, unless --train.no-progress."""
        if not (self.dist.is_main and shown(self.tc.progress)):
            return None
        desc = f"train {self.config.family}"
        total: int | None = self.tc.steps
        if self.tc.time_budget:  # the budget, not the step count, will likely end the run: no misleading %
            desc += f" ({self.tc.time_budget:g} {self.tc.budget_clock} s budget)"
            total = None
        return new_bar(total=total, initial=self.step, desc=desc, unit="step")
