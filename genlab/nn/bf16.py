"""Whether a device runs bf16 natively: where bf16 autocast is faster than fp32 rather than emulated."""

from __future__ import annotations

import torch


def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX-512 BF16 or AMX)."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_is_native(device: torch.device | str) -> bool:
    """Whether bf16 autocast runs on native instructions on `device` (not emulated, slower than fp32)."""
    device = torch.device(device)
    if device.type == "cpu":
        return cpu_has_fast_bf16()
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return False


def use_bf16(precision: str, device: torch.device | str) -> bool:
    """A sampling or evaluation `precision` option ("fp32", "bf16" or "auto": bf16 where native) as a flag;
    ValueError naming the valid values for anything else."""
    if precision not in ("fp32", "bf16", "auto"):
        raise ValueError(f"precision must be 'fp32', 'bf16' or 'auto' (bf16 where the device runs it natively), "
                         f"got {precision!r}")
    return precision == "bf16" or (precision == "auto" and bf16_is_native(device))


__all__ = ["bf16_is_native", "cpu_has_fast_bf16", "use_bf16"]
