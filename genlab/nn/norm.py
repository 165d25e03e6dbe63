"""GroupNorm (Wu & He 2018), optionally fused with the SiLU that follows it, fast on channels-last CPU tensors.

On CPU, channels-last fp32 and bf16 inputs run genlab's native kernel (kernels/group_norm_nhwc.cpp, built by
native.py): statistics, normalization and SiLU in two passes over the data forward and two backward, on the
channels-last memory itself, with fp32 accumulation. A U-Net's GroupNorm + SiLU, forward and backward, is 2-3x
faster than the path below (benchmarks/diffusion_speed.py, docs/TRAINING.md). Where the kernel cannot be built
(no C++ compiler; GENLAB_NATIVE=0) the torch paths below run instead, with the same numbers within rounding.

Without the kernel: torch's CPU GroupNorm kernel for channels-last bf16 inputs is far slower than its contiguous
one (torch 2.13, 64x64x28x28, one thread, forward + backward: 98 ms against 6.7 ms contiguous;
benchmarks/precision_speed.py).
For those inputs this GroupNorm runs torch's contiguous kernels, forward and backward, on contiguous copies
and hands back channels-last strides, both for its output and for the gradient of its input: a gradient in
the other layout would make autograd's sum with the residual branch's gradient a slow mixed-layout add.
The same run measures 11.5 ms for this path. In fp32 the copies cost more than they save (torch's
channels-last kernel 17 ms, this path 21 ms), so fp32 inputs keep torch's own path. Parameters and
state_dict are those of torch.nn.GroupNorm; the values are torch's own kernels' values.
"""

from __future__ import annotations

import ctypes
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from genlab.nn import native

CL = torch.channels_last
HALF = (torch.bfloat16, torch.float16)  # the dtypes whose channels-last kernel is the slow one
NATIVE = (torch.float32, torch.bfloat16)  # the dtypes of the native kernel
ACTS = {"none": 0, "silu": 1}
_P, _I = ctypes.c_void_p, ctypes.c_int64


def _channels_last_only(x: torch.Tensor) -> bool:
    """A 4-d tensor whose strides are channels-last and not also contiguous (c = 1 or 1x1 maps are both)."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=CL)


class _ChannelsLastGroupNorm(torch.autograd.Function):
    """y = GroupNorm(x) for channels-last x by torch's contiguous kernels; y and dL/dx channels-last."""

    @staticmethod
    def forward(ctx, x, weight, bias, groups: int, eps: float):
        n, c, h, w = x.shape
        xc = x.contiguous()
        y, mean, rstd = torch.ops.aten.native_group_norm(xc, weight, bias, n, c, h * w, groups, eps)
        ctx.save_for_backward(xc, weight, mean, rstd)
        ctx.groups = groups
        return y.contiguous(memory_format=CL)

    @staticmethod
    def backward(ctx, gy):
        xc, weight, mean, rstd = ctx.saved_tensors
        n, c, h, w = xc.shape
        need = [ctx.needs_input_grad[0], weight is not None and ctx.needs_input_grad[1],
                ctx.needs_input_grad[2]]
        gx, gw, gb = torch.ops.aten.native_group_norm_backward(
            gy.contiguous(), xc, mean, rstd, weight, n, c, h * w, ctx.groups, need)
        return (None if gx is None else gx.contiguous(memory_format=CL)), gw, gb, None, None


def _kernel() -> ctypes.CDLL | None:
    lib = native.load("group_norm_nhwc")
    if lib is not None and not hasattr(lib, "_genlab_typed"):
        lib.genlab_gn_forward.argtypes = [ctypes.c_int, _P, _P, _P, _P, _P, _P, _I, _I, _I, _I, ctypes.c_float,
                                          ctypes.c_int, ctypes.c_int]
        lib.genlab_gn_backward.argtypes = [ctypes.c_int, _P, _P, _P, _P, _P, _P, _P, _P, _P, _I, _I, _I, _I,
                                           ctypes.c_int, ctypes.c_int]
        lib._genlab_typed = True
    return lib


class _NativeGroupNorm(torch.autograd.Function):
    """y = act(GroupNorm(x)) for channels-last fp32/bf16 x by the native kernel; y and dL/dx channels-last.

    Saves x and the (n, groups) mean (float64) and rstd (float32); the backward recomputes z = GroupNorm(x)
    from them."""

    @staticmethod
    def forward(ctx, x, weight, bias, groups: int, eps: float, act: int):
        lib = _kernel()
        n, c, h, w = x.shape
        w32, b32 = weight.detach().float().contiguous(), bias.detach().float().contiguous()
        y = torch.empty_like(x, memory_format=CL)
        mean = x.new_empty((n, groups), dtype=torch.float64)
        rstd = x.new_empty((n, groups), dtype=torch.float32)
        lib.genlab_gn_forward(int(x.dtype == torch.bfloat16), x.data_ptr(), w32.data_ptr(), b32.data_ptr(),
                              y.data_ptr(), mean.data_ptr(), rstd.data_ptr(), n, h * w, c, groups, eps, act,
                              torch.get_num_threads())
        ctx.save_for_backward(x, w32, b32, mean, rstd)
        ctx.groups, ctx.act, ctx.dtypes = groups, act, (weight.dtype, bias.dtype)
        return y

    @staticmethod
    @once_differentiable  # the kernel's backward is not itself differentiable: a second derivative is an error
    def backward(ctx, gy):
        x, w32, b32, mean, rstd = ctx.saved_tensors
        n, c, h, w = x.shape
        gy = gy.to(x.dtype).contiguous(memory_format=CL)
        gx = torch.empty_like(x, memory_format=CL)
        gw, gb = x.new_empty((n, c), dtype=torch.float32), x.new_empty((n, c), dtype=torch.float32)
        _kernel().genlab_gn_backward(int(x.dtype == torch.bfloat16), x.data_ptr(), gy.data_ptr(), w32.data_ptr(),
                                     b32.data_ptr(), mean.data_ptr(), rstd.data_ptr(), gx.data_ptr(),
                                     gw.data_ptr(), gb.data_ptr(), n, h * w, c, ctx.groups, ctx.act,
                                     torch.get_num_threads())
        return gx, gw.sum(0).to(ctx.dtypes[0]), gb.sum(0).to(ctx.dtypes[1]), None, None, None


class GroupNorm(nn.GroupNorm):
    """torch.nn.GroupNorm, then `act` ("none" or "silu"), fast on channels-last CPU inputs (same parameters and
    state_dict as torch's; the same values within rounding)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 act: Literal["none", "silu"] = "none", **kwargs):
        if act not in ACTS:
            raise ValueError(f"act must be one of {sorted(ACTS)}, got {act!r}")
        super().__init__(num_groups, num_channels, eps, affine, **kwargs)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        compiling = torch.compiler.is_compiling()  # under torch.compile: torch's ops, which inductor can fuse
        if (x.device.type == "cpu" and x.dtype in NATIVE and self.affine and _channels_last_only(x)
                and x.numel() > 0 and not compiling and _kernel() is not None):
            return _NativeGroupNorm.apply(x, self.weight, self.bias, self.num_groups, self.eps, ACTS[self.act])
        if x.device.type == "cpu" and x.dtype in HALF and self.affine and _channels_last_only(x) and not compiling:
            y = _ChannelsLastGroupNorm.apply(x, self.weight, self.bias, self.num_groups, self.eps)
        else:
            y = F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        return F.silu(y) if self.act == "silu" else y

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", act={self.act}" if self.act != "none" else "")


__all__ = ["GroupNorm"]
