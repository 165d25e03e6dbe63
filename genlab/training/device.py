"""Device selection, bf16 autocast and multi-process (torchrun) set-up."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from genlab.nn.bf16 import cpu_has_fast_bf16  # noqa: F401  (re-exported: the trainer's warning uses it)


def pick_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """cuda, then mps, then cpu for "auto"; an unavailable explicit choice raises ValueError."""
    valid = ("auto", "cpu", "cuda", "mps")
    if name not in valid:
        raise ValueError(f"unknown device {name!r}; valid: {list(valid)}")
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible; use --train.device auto")
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "mps" and not has_mps:
        raise ValueError("device 'mps' was asked for but MPS is not available; use --train.device auto")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on cuda/cpu when enabled, else a no-op context."""
    if not enabled or device.type not in ("cuda", "cpu"):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@dataclass(frozen=True)
class Dist:
    """This process's place in a (possibly single-process) job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def check_compiler(device: torch.device) -> None:
    """--train.compile builds its kernels with a host C/C++ compiler (inductor's C++ on a CPU; triton's launchers
    on a GPU): say so in one line when there is none."""
    from genlab.nn.native import compiler

    if compiler() is None:
        raise ValueError(f"--train.compile on {device.type} needs a C++ compiler (g++ or clang++) on PATH; install one "
                         "(Debian: apt-get install g++) or train without --train.compile")


def init_distributed(device_name: str) -> tuple[Dist, torch.device]:
    """Join the torchrun job described by RANK/WORLD_SIZE/LOCAL_RANK (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), pick_device(device_name)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name, local)
    per_node = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    if device.type == "cuda" and per_node > (gpus := torch.cuda.device_count()):  # NCCL: "Duplicate GPU"
        raise ValueError(f"torchrun started {per_node} processes on this machine but it has {gpus} CUDA GPU(s), and "
                         f"each process needs its own; use --nproc_per_node {gpus}, or --train.device cpu to train "
                         "on the CPU (gloo)")
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return Dist(rank, world, local), device


def group_is_up() -> bool:
    """Whether a process group exists already (one a caller set up before genlab's train)."""
    return dist.is_available() and dist.is_initialized()


def end_distributed(d: Dist) -> None:
    """Wait for every process, then destroy the process group: left to the interpreter's exit, gloo's threads
    are torn down in no set order, and a process can abort ("terminate called without an active exception")."""
    if d.enabled and group_is_up():
        barrier(d)
        dist.destroy_process_group()


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def mean_across(d: Dist, values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Average scalar metrics over processes (for logging)."""
    if not d.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], device=device, dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / d.world_size for k, v in zip(keys, t.tolist())}


def broadcast_state(d: Dist, module: torch.nn.Module) -> None:
    """Make rank 0's parameters and buffers every process's (a no-op in a single process)."""
    if not d.enabled:
        return
    with torch.no_grad():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


def max_across(d: Dist, values: list[int], device: torch.device) -> list[int]:
    """The largest of each integer over processes (e.g. a stop signal only some of them received)."""
    if not d.enabled:
        return values
    t = torch.tensor(values, device=device, dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [int(v) for v in t.tolist()]
