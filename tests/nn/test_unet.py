"""The U-Net and its blocks: shapes at several sizes, channels-last end to end, exact attention and
embeddings, class conditioning with a null label."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genlab.nn.attention import SelfAttention2d, attention, plain_attention
from genlab.nn.embeddings import TimeEmbedding, sinusoidal_embedding
from genlab.nn.unet import PRESETS, UNet


def tiny(**kw):
    torch.manual_seed(0)
    return UNet(**{**PRESETS["tiny"], **kw})


@pytest.mark.parametrize("size,patch", [(8, 1), (28, 1), (28, 2), (7, 1), (12, 2)])
def test_output_shape_matches_input(size, patch):
    net = tiny(in_channels=3, out_channels=3, patch=patch, channels=(8, 8, 8), attention_levels=(2,))
    x = torch.randn(2, 3, size, size)
    assert net(x, torch.tensor([0, 999])).shape == (2, 3, size, size)


def test_channels_last_in_channels_last_out_same_values():
    net = tiny(channels=(8, 16), num_classes=3)
    x = torch.randn(2, 1, 8, 8)
    t, y = torch.tensor([3, 500]), torch.tensor([0, 2])
    ref = net(x, t, y)
    net_cl = tiny(channels=(8, 16), num_classes=3).to(memory_format=torch.channels_last)
    out = net_cl(x.contiguous(memory_format=torch.channels_last), t, y)
    assert torch.allclose(out, ref, atol=1e-5)


def test_class_embedding_has_a_null_row_and_changes_the_output():
    net = tiny(num_classes=4)
    assert net.time.class_emb.num_embeddings == 5
    x, t = torch.randn(1, 1, 8, 8), torch.tensor([10])
    assert not torch.allclose(net(x, t, torch.tensor([1])), net(x, t, torch.tensor([2])))
    assert torch.equal(net(x, t, None), net(x, t, torch.tensor([4])))  # None = the null label


def test_attention_equals_the_textbook_formula():
    torch.manual_seed(0)
    attn = SelfAttention2d(8, head_dim=4, groups=2)
    x = torch.randn(2, 8, 3, 3)
    h = attn.norm(x).flatten(2).transpose(1, 2)  # (b, n, c)
    q, k, v = attn.qkv(h).chunk(3, dim=-1)
    heads = lambda z: z.view(2, 9, 2, 4).transpose(1, 2)
    w = torch.softmax(heads(q) @ heads(k).transpose(-1, -2) / math.sqrt(4), dim=-1)
    o = (w @ heads(v)).transpose(1, 2).reshape(2, 9, 8)
    ref = x + attn.proj(o).transpose(1, 2).view(2, 8, 3, 3)
    assert torch.allclose(attn(x), ref, atol=1e-5)
    assert torch.allclose(attn(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-5)


def test_sinusoidal_embedding_values():
    e = sinusoidal_embedding(torch.tensor([0, 7]), 6)
    assert torch.allclose(e[0], torch.tensor([1.0, 1, 1, 0, 0, 0]))
    f = torch.tensor([1.0, 10000 ** (-1 / 3), 10000 ** (-2 / 3)])
    assert torch.allclose(e[1], torch.cat([torch.cos(7 * f), torch.sin(7 * f)]), atol=1e-6)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_embedding(torch.tensor([1]), 5)
    assert TimeEmbedding(8, 16)(torch.tensor([1, 2])).shape == (2, 16)


def test_bad_options_are_reported():
    with pytest.raises(ValueError, match="attention_levels \\[3\\] out of range"):
        UNet(channels=(8, 8), attention_levels=(3,))
    with pytest.raises(ValueError, match="divisible by head_dim"):
        SelfAttention2d(12, head_dim=8)


def test_bf16_autocast_runs_and_stays_close():
    net = tiny()
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([1, 2])
    with torch.autocast("cpu", torch.bfloat16):
        out = net(x, t)
    assert out.dtype == torch.bfloat16
    assert F.mse_loss(out.float(), net(x, t)).item() < 1e-3


def test_plain_attention_matches_the_fused_kernel_in_values_and_gradients():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 10, 8, dtype=torch.float64, requires_grad=True) for _ in range(3))
    ours = plain_attention(q, k, v)
    ref = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ours)
    grads = torch.autograd.grad(ours, (q, k, v), g)
    for a, b in zip(grads, torch.autograd.grad(ref, (q, k, v), g)):
        torch.testing.assert_close(a, b)


def test_bf16_attention_on_cpu_takes_the_plain_path_and_stays_close_to_fp32():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 49, 16) for _ in range(3))
    out = attention(*(t.bfloat16() for t in (q, k, v)))
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), F.scaled_dot_product_attention(q, k, v), atol=3e-2, rtol=3e-2)
    torch.testing.assert_close(out, plain_attention(*(t.bfloat16() for t in (q, k, v))), atol=0, rtol=0)


def test_the_native_kernel_and_the_torch_fallback_give_the_same_unet(monkeypatch):
    torch.manual_seed(0)
    net = UNet(1, 1, channels=(8, 16), attention_levels=(1,), head_dim=8, groups=4, num_classes=3)
    net = net.to(memory_format=torch.channels_last)
    x = torch.randn(2, 1, 12, 12).contiguous(memory_format=torch.channels_last)
    t, y = torch.tensor([3, 700]), torch.tensor([0, 2])
    outs = []
    for flag in ("1", "0"):
        monkeypatch.setenv("GENLAB_NATIVE", flag)
        net.zero_grad()
        out = net(x, t, y)
        out.square().mean().backward()
        outs.append((out.detach(), net.conv_in.weight.grad.clone()))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=1e-4, atol=1e-5)
