"""Native CPU kernels: C++ sources in genlab/nn/kernels/, built once per machine by the host C++ compiler and
called through ctypes (a plain C interface, no torch headers: a build takes about a second).

Why genlab has any: torch 2.13 has no fast CPU kernel for GroupNorm on channels-last tensors (bf16: 20x slower
than its contiguous kernel), nor one that fuses the SiLU that follows every GroupNorm of a U-Net; the way around
it, layout copies on both sides of the contiguous kernel, costs as much as the norm itself
(benchmarks/precision_speed.py, docs/TRAINING.md).

Libraries live in ($GENLAB_CACHE or ~/.cache/genlab)/kernels/<name>-<key>.so; the key hashes the source, the
compiler's version, the flags (with the instruction set torch's own kernels use, `isa_flags`) and this CPU's
instruction-set flags, so a shared home folder never hands one machine another machine's build. A build goes to a
temporary file that is renamed into place, so processes building at once (DDP) do not see half a library. A kernel
that cannot be built (no compiler, a failed build, not Linux/macOS) is None and callers use torch's ops; one warning
says why. GENLAB_NATIVE=0 turns native kernels off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

from genlab.io import cache_dir

KERNELS = Path(__file__).parent / "kernels"
# -ffast-math for vectorized expf (glibc libmvec), less reassociation: the kernel orders its subtractions on purpose
FLAGS = ("-O3", "-fopenmp", "-ffast-math", "-fno-associative-math", "-fno-reciprocal-math", "-shared", "-fPIC",
         "-std=c++17")
X86 = platform.machine().lower() in ("x86_64", "amd64")


def isa_flags() -> tuple[str, ...]:
    """The instruction set to build for: the one torch's own kernels use here (torch.backends.cpu's capability).

    On x86 with capability AVX512: this CPU's (-march=native) with 512-bit vectors (gcc stops at 256 by default; the
    GroupNorm kernel is ~15% faster). Where torch was limited to AVX2 (ATEN_CPU_CAPABILITY=avx2, or an AVX2-only
    CPU): AVX2 and FMA (x86-64-v3), tuned for this CPU, so a run that emulates an AVX2 machine emulates it for
    genlab's kernels too. Capability DEFAULT: SSE4.2 (x86-64-v2). Other processors (Arm): -march=native."""
    if not X86:
        return ("-march=native",)
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if capability == "AVX512":
        return ("-march=native", "-mprefer-vector-width=512")
    if capability == "AVX2":
        return ("-march=x86-64-v3", "-mtune=native")
    return ("-march=x86-64-v2", "-mtune=native")


_lock = threading.Lock()
_loaded: dict[str, ctypes.CDLL | None] = {}


def enabled() -> bool:
    """False when GENLAB_NATIVE is 0/false/no/off."""
    return os.environ.get("GENLAB_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def compiler() -> str | None:
    """The C++ compiler on PATH ($CXX first), or None."""
    for c in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if c and shutil.which(c):
            return c
    return None


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _key(source: bytes, cxx: str) -> str:
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30).stdout
    h = hashlib.sha256(source)
    for part in (version, " ".join(FLAGS + isa_flags()), _cpu_flags(), platform.machine()):
        h.update(b"\0" + part.encode())
    return h.hexdigest()[:16]


def build(name: str, folder: Path | None = None) -> Path:
    """Compile kernels/<name>.cpp into the cache (if not there yet) and return the library's path.

    Raises RuntimeError naming the problem (no compiler, the compiler's own error)."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler on PATH (install g++, e.g. apt-get install g++)")
    source = (KERNELS / f"{name}.cpp").read_bytes()
    folder = folder or cache_dir() / "kernels"
    lib = folder / f"{name}-{_key(source, cxx)}.so"
    if lib.exists():
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".so", dir=folder)
    os.close(fd)
    try:
        done = subprocess.run([cxx, *FLAGS, *isa_flags(), str(KERNELS / f"{name}.cpp"), "-o", tmp], capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["(no message)"])[0]
            raise RuntimeError(f"{cxx} failed on {name}.cpp: {first}")
        os.replace(tmp, lib)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return lib


def load(name: str) -> ctypes.CDLL | None:
    """The built library kernels/<name>.cpp, or None (disabled, or it cannot be built: one warning says why)."""
    if not enabled():
        return None
    with _lock:
        if name not in _loaded:
            try:
                _loaded[name] = ctypes.CDLL(str(build(name)))
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                warnings.warn(f"genlab's native {name} kernel is unavailable ({e}); using torch's slower ops",
                              RuntimeWarning, stacklevel=2)
                _loaded[name] = None
        return _loaded[name]


__all__ = ["build", "compiler", "enabled", "load"]
