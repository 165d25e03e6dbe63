"""The precision and memory format a run trains in: fixed by its TrainConfig, or timed at the start
(`precision="auto"`, the default), as cudnn.benchmark picks convolution kernels.

auto times TIMED_STEPS optimizer steps (after WARMUP_STEPS untimed ones) of a throw-away copy of the model in each
candidate: fp32, plus bf16 autocast where the device runs it natively (a CPU with AVX-512 BF16 or AMX, a
GPU with bf16), each in contiguous and channels-last layout for models with convolutions. The fastest (by
its fastest step, the one least disturbed by other work on the machine) is kept, logged and recorded in
the run's config.json (`precision_choice`), and a resumed run reuses the recorded choice, so its numbers
continue exactly. Runs shorter than AUTO_MIN_STEPS steps without a time
budget skip the timing (it would cost more than it saves) and train in fp32.

The copy is trained on a batch drawn with its own generator, so neither the run's weights, optimizer
state nor random streams are touched: a timed run and an untimed one with the same choice are identical.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from genlab.nn.bf16 import bf16_is_native

AUTO_MIN_STEPS = 200
WARMUP_STEPS, TIMED_STEPS = 2, 3


@dataclass(frozen=True)
class Choice:
    """The precision ("fp32" or "bf16" autocast) and layout a run trains in, and how it was chosen."""

    precision: str = "fp32"
    channels_last: bool = False
    how: str = "config"  # "config", "timed", "short run", "one candidate", "resumed"
    timings_ms: dict[str, float] = field(default_factory=dict)  # candidate label -> ms per step

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    @property
    def label(self) -> str:
        return label(self.precision, self.channels_last)

    def to_json(self) -> dict[str, Any]:
        return {"precision": self.precision, "channels_last": self.channels_last, "how": self.how,
                "timings_ms": dict(self.timings_ms)}

    @classmethod
    def from_json(cls, d: dict[str, Any], how: str | None = None) -> Choice:
        """A recorded choice (config.json's precision_choice); ValueError naming what is wrong with it."""
        if not isinstance(d, dict) or d.get("precision") not in ("fp32", "bf16") \
                or not isinstance(d.get("channels_last"), bool):
            raise ValueError(f"precision_choice must be {{'precision': 'fp32' | 'bf16', 'channels_last': bool}}, "
                             f"got {d!r}")
        return cls(d["precision"], d["channels_last"], how or str(d.get("how", "config")),
                   {str(k): float(v) for k, v in (d.get("timings_ms") or {}).items()})


def label(precision: str, channels_last: bool) -> str:
    return f"{precision} {'channels-last' if channels_last else 'contiguous'}"


def has_convolutions(model: nn.Module) -> bool:
    """Whether any parameter is a 4-d (conv) weight: only then does the memory format matter."""
    return any(p.dim() == 4 for p in model.parameters())


def fixed(tc, how: str = "config") -> Choice:
    """The choice a TrainConfig names without timing (precision bf16 or the bf16 switch -> bf16)."""
    return Choice("bf16" if tc.bf16 or tc.precision == "bf16" else "fp32", bool(tc.channels_last), how)


def candidates(tc, device: torch.device, model: nn.Module) -> list[tuple[str, bool]]:
    """(precision, channels_last) pairs precision="auto" times on this device for this model."""
    precisions = ["fp32"] + (["bf16"] if bf16_is_native(device) else [])
    layouts = [True] if tc.channels_last else ([False, True] if has_convolutions(model) else [False])
    return [(p, cl) for p in precisions for cl in layouts]


def needs_timing(tc, fitted: bool) -> str | None:
    """None when precision="auto" should time candidates, else why not ("config", "short run", ...)."""
    if tc.precision != "auto" or tc.bf16:
        return "config"
    if fitted:
        return "fitted"
    if tc.steps < AUTO_MIN_STEPS and not tc.time_budget:
        return "short run"
    return None


def time_candidates(model: nn.Module, make_batch: Callable[[bool], Any],
                    stepper: Callable[[nn.Module], Callable[[Any, bool], None]], cands: list[tuple[str, bool]],
                    device: torch.device, steps: int = TIMED_STEPS) -> dict[tuple[str, bool], float]:
    """Seconds of the fastest timed step of each candidate, on fresh copies of `model` (never on the model).

    `make_batch(channels_last)` gives a batch in that layout; `stepper(copy)` is called once per fresh copy
    (its set-up: a GAN's clusters, the optimizers) and returns `step(batch, bf16)`, one full optimizer step of
    that copy with its forward under bf16 autocast when asked. (Set-up keyed by id(copy) instead would be
    skipped when a new copy reuses a freed one's id, and the copy would train unprepared.)"""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    out = {}
    for precision, channels_last in cands:
        m = copy.deepcopy(model)
        if channels_last:
            m = m.to(memory_format=torch.channels_last)
        batch = make_batch(channels_last)
        step = stepper(m)
        times = []
        for i in range(steps + WARMUP_STEPS):  # warm-up: kernel set-up, optimizer state
            sync()
            t0 = time.perf_counter()
            step(batch, precision == "bf16")
            sync()
            if i >= WARMUP_STEPS:
                times.append(time.perf_counter() - t0)
        out[(precision, channels_last)] = min(times)  # the least disturbed by other work on the machine
        del m, step
    return out


def pick(timings: dict[tuple[str, bool], float]) -> Choice:
    """The fastest candidate (ties go to fp32 contiguous, listed first), with every timing in ms."""
    best = min(timings, key=lambda k: timings[k])
    return Choice(best[0], best[1], "timed", {label(*k): round(1e3 * v, 2) for k, v in timings.items()})


__all__ = ["AUTO_MIN_STEPS", "TIMED_STEPS", "Choice", "bf16_is_native", "candidates", "fixed", "has_convolutions",
           "needs_timing", "pick", "time_candidates"]
