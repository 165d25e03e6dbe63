"""genlab.nn.GroupNorm: the same numbers and gradients as torch's, with channels-last strides kept."""

from __future__ import annotations

import torch
from torch import nn

from genlab.nn.norm import GroupNorm


def test_channels_last_input_gives_torchs_values_and_gradients_and_keeps_its_layout():
    torch.manual_seed(0)
    ours, ref = GroupNorm(4, 8), nn.GroupNorm(4, 8)
    with torch.no_grad():
        ours.weight.normal_(), ours.bias.normal_()
    ref.load_state_dict(ours.state_dict())  # the same parameter names: checkpoints load either way
    x = torch.randn(3, 8, 5, 6).bfloat16().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    y, y_ref = ours(x), ref(x_ref)
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    y.backward(g), y_ref.backward(g)
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)


def test_contiguous_and_fp32_inputs_take_torchs_path_unchanged():
    norm = GroupNorm(2, 4)
    x = torch.randn(2, 4, 3, 3)
    assert torch.equal(norm(x), nn.functional.group_norm(x, 2, norm.weight, norm.bias, norm.eps))
    assert norm(x).is_contiguous()
    x_cl = x.contiguous(memory_format=torch.channels_last)  # fp32: torch's channels-last kernel is the faster
    assert norm(x_cl).grad_fn.name() == "NativeGroupNormBackward0"


def test_the_gradient_of_a_channels_last_input_is_channels_last():
    norm = GroupNorm(2, 4)
    x = torch.randn(2, 4, 3, 3).bfloat16().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    norm(x).float().square().sum().backward()
    assert x.grad.is_contiguous(memory_format=torch.channels_last) and not x.grad.is_contiguous()


def test_gradients_agree_with_torch_under_bf16_autocast():
    torch.manual_seed(1)
    ours, ref = GroupNorm(4, 8), nn.GroupNorm(4, 8)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 8, 4, 4).bfloat16().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    x_ref = x.detach().clone().requires_grad_(True)
    with torch.autocast("cpu", torch.bfloat16):
        y, y_ref = ours(x), ref(x_ref)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    torch.testing.assert_close(y, y_ref)
    y.float().sum().backward(), y_ref.float().sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    torch.testing.assert_close(ours.bias.grad, ref.bias.grad)


def test_the_custom_autograd_path_matches_autograds_gradients_in_double_precision():
    from genlab.nn.norm import _ChannelsLastGroupNorm

    torch.manual_seed(2)
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    w, b = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    args = [t.requires_grad_(True) for t in (x, w, b)]
    assert torch.autograd.gradcheck(lambda x, w, b: _ChannelsLastGroupNorm.apply(x, w, b, 3, 1e-5), args)
    torch.testing.assert_close(_ChannelsLastGroupNorm.apply(x, w, b, 3, 1e-5), nn.functional.group_norm(x, 3, w, b))
