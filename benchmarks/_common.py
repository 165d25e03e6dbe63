"""Shared helpers for the benchmark scripts: machine description, MNIST loading, result JSON.

Every benchmark writes benchmarks/results/<name>.json:
    {"name", "figures": {...}, "command", "machine": {...}, "date", "notes"}
and benchmarks/render.py turns all of them into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# OpenMP threads that spin while waiting burn the CPU time of a shared machine: on this 2-core box with a
# load of ~10, a 2-thread MLP-VAE step took 164 CPU-ms (786 wall-ms) with libgomp's default spinning and
# 12 CPU-ms (51 wall-ms) with passive waiting. Must be set before torch is imported; set
# OMP_WAIT_POLICY=ACTIVE in the environment to measure the default behaviour.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# --train compile: inductor builds kernels in this process's children (counted by CpuTimer.children), not in a
# pool of workers that outlive a measurement
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
if str(ROOT) not in sys.path:  # run as `python benchmarks/x.py` from a checkout
    sys.path.insert(0, str(ROOT))

from genlab.training.memory import keep_freed_memory  # noqa: E402  (imports no torch)

# as the genlab command does: freed memory is reused instead of faulting in new pages (docs/TRAINING.md);
# GENLAB_KEEP_FREED_MEMORY=0 in the environment measures glibc's default
KEEP_FREED_MEMORY = keep_freed_memory()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int | None = None, device: str = "cpu") -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, torch version, threads, bf16 support (and the GPU, for a
    cuda device)."""
    import torch

    flags = ""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        pass
    out = {"cpu": cpu_model(), "cores": os.cpu_count(),
           "threads": threads if threads is not None else torch.get_num_threads(),
           "torch": torch.__version__, "python": platform.python_version(),
           "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
           "cpu_capability": _cpu_capability(),
           "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
           "keep_freed_memory": KEEP_FREED_MEMORY, "device": device}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
        out["cuda"] = torch.version.cuda
    return out


def _cpu_capability() -> str:
    import torch

    try:
        return torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        return ""


def command_line() -> str:
    """The exact command that ran this script, relative to the repository root when possible."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    python = ".venv/bin/python" if Path(sys.executable).absolute().is_relative_to(ROOT) else "python3"
    return " ".join([python, shlex.quote(str(script)), *map(shlex.quote, sys.argv[1:])])


def write_result(name: str, figures: dict[str, Any], notes: str = "", threads: int | None = None,
                 path: Path | None = None, headline: dict[str, Any] | None = None, device: str = "cpu") -> Path:
    """Write benchmarks/results/<name>.json and return its path.

    Args:
        headline: optional {"figure": a key of `figures`, "target": text, "met": bool} for the summary
            table of docs/BENCHMARKS.md.
    """
    out = {"name": name, "figures": figures, "command": command_line(), "machine": machine(threads, device),
           "date": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(), "notes": notes}
    if headline:
        out["headline"] = headline
    path = path or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def load_mnist(split: str = "train", retries: int = 10, wait: float = 30.0):
    """MNIST as genlab ImageData via genlab.data.load_data (retried while that module is being written)."""
    for attempt in range(retries):
        try:
            from genlab.data import load_data

            return load_data("mnist", split=split)
        except ImportError:
            if attempt == retries - 1:
                raise
            print(f"genlab.data.load_data not importable yet; retrying in {wait:.0f} s", flush=True)
            time.sleep(wait)


def sample_figures(r: dict[str, Any]) -> str:
    """'FID ..; precision ..; recall ..; coverage ..' (and '; class agreement ..' when measured) of an
    evaluate_samples result, as the classical benchmarks record them."""
    line = (f"FID {r['fid']:.2f}; precision {r['precision']:.3f}; recall {r['recall']:.3f}; "
            f"coverage {r['coverage']:.3f}")
    return line + (f"; class agreement {r['class_accuracy']:.3f}" if "class_accuracy" in r else "")


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


class CpuTimer:
    """Wall and process-CPU seconds of a block, and the CPU seconds of its finished child processes:
    `with CpuTimer() as t: ...; t.wall, t.cpu, t.children`."""

    def __enter__(self):
        self._w, self._c, self._k = time.perf_counter(), time.process_time(), sum(os.times()[2:4])
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._w
        self.cpu = time.process_time() - self._c
        self.children = sum(os.times()[2:4]) - self._k  # CPU of finished child processes (a C++ compiler's)
        return False
