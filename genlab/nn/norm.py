"""GroupNorm (Wu & He 2018) that stays fast on channels-last bf16 CPU tensors.

torch's CPU GroupNorm kernel for channels-last bf16 inputs is far slower than its contiguous one (torch 2.13,
64x64x28x28, one thread, forward + backward: 98 ms against 6.7 ms contiguous; benchmarks/precision_speed.py).
For those inputs this GroupNorm runs torch's contiguous kernels, forward and backward, on contiguous copies
and hands back channels-last strides, both for its output and for the gradient of its input: a gradient in
the other layout would make autograd's sum with the residual branch's gradient a slow mixed-layout add.
The same run measures 11.5 ms for this path. In fp32 the copies cost more than they save (torch's
channels-last kernel 17 ms, this path 21 ms), so fp32 inputs keep torch's own path. Parameters and
state_dict are those of torch.nn.GroupNorm; the values are torch's own kernels' values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CL = torch.channels_last
HALF = (torch.bfloat16, torch.float16)  # the dtypes whose channels-last kernel is the slow one


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


class GroupNorm(nn.GroupNorm):
    """torch.nn.GroupNorm with a fast path for channels-last bf16/fp16 inputs on CPU (same numbers, weights)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.dtype in HALF and self.affine and _channels_last_only(x):
            return _ChannelsLastGroupNorm.apply(x, self.weight, self.bias, self.num_groups, self.eps)
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


__all__ = ["GroupNorm"]
