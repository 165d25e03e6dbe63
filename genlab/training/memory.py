"""The process's memory allocator: glibc's malloc told to reuse freed memory (no torch import here, so that a
script can call it before torch loads)."""

from __future__ import annotations

import os

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt() parameters (malloc.h)
TRIM_THRESHOLD = 1 << 30  # free memory above this at the top of the heap goes back to the system


def keep_freed_memory() -> bool:
    """Let glibc's malloc reuse freed memory instead of returning it to the system, for this process; True if set.

    glibc serves every allocation over 32 MB with a fresh mmap and unmaps it when freed, so a tensor of that size
    made in every step (a batch's activations, a 256-way PixelCNN output) costs a page fault per 4 KB each time:
    the kernel zeroes every page again. On a 2-core AMD EPYC that was two thirds of the time of an exact PixelCNN
    NLL in batches of 250 (12.7 million faults for 1,000 images) and about 9% of a ddpm training step
    (benchmarks/freed_memory.py). With mmap off
    and the heap kept (up to 1 GiB of free memory at its top), freed blocks are reused as they are. The `genlab`
    command calls this at start; library users may call it first thing. Skipped where it does not apply (not
    glibc) or where the environment already tunes malloc (GLIBC_TUNABLES, MALLOC_MMAP_MAX_,
    MALLOC_TRIM_THRESHOLD_), and when GENLAB_KEEP_FREED_MEMORY=0.
    """
    import ctypes
    import ctypes.util

    env = os.environ
    if env.get("GENLAB_KEEP_FREED_MEMORY", "1") == "0" or "glibc.malloc" in env.get("GLIBC_TUNABLES", "") \
            or "MALLOC_MMAP_MAX_" in env or "MALLOC_TRIM_THRESHOLD_" in env:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_MMAP_MAX, 0))


__all__ = ["keep_freed_memory"]
