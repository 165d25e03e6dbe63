"""The shared transformer: causality by gradients and by perturbation, padding that the real tokens never
see, shapes, attention weights that are distributions and reproduce the fused attention's output."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genlab.nn.transformer import Block, SelfAttention, Transformer


def tiny(causal: bool, **kw) -> Transformer:
    torch.manual_seed(0)
    return Transformer(**{"vocab_size": 11, "max_len": 12, "dim": 16, "depth": 2, "heads": 4, "causal": causal,
                          **kw}).eval()


def tokens(b: int = 3, T: int = 10, seed: int = 0) -> torch.Tensor:
    return torch.randint(1, 11, (b, T), generator=torch.Generator().manual_seed(seed))


def test_shapes():
    for causal in (True, False):
        net = tiny(causal)
        idx = tokens()
        assert net(idx).shape == (3, 10, 16)
        assert net(idx, idx != 0).shape == (3, 10, 16)
        assert net.attention(idx, head=3).shape == (2, 3, 10, 10)
        assert net(tokens(T=1)).shape == (3, 1, 16)
    with pytest.raises(ValueError, match="max_len"):
        tiny(True)(tokens(T=13))
    with pytest.raises(ValueError, match="divisible"):
        SelfAttention(10, 4)
    with pytest.raises(ValueError, match="head"):
        tiny(True).attention(tokens(), head=4)


def test_causal_by_gradients():
    """d out_i / d x_j = 0 for every j > i, and not for j <= i."""
    torch.manual_seed(0)
    blocks = [Block(16, 4).eval() for _ in range(2)]
    x = torch.randn(2, 7, 16, requires_grad=True)
    T = x.shape[1]
    for i in range(T):
        h = x
        for block in blocks:
            h, _ = block(h, causal=True)
        (g,) = torch.autograd.grad(h[:, i].sum(), x)
        per_pos = g.abs().sum((0, 2))  # (T,)
        assert torch.all(per_pos[i + 1:] == 0), (i, per_pos)
        assert torch.all(per_pos[:i + 1] > 0), (i, per_pos)


@pytest.mark.parametrize("with_mask", [False, True])
def test_causal_by_perturbation(with_mask):
    """Changing token t changes no output before t (and does change the output at t)."""
    net = tiny(True)
    idx = tokens()
    mask = torch.ones_like(idx, dtype=torch.bool) if with_mask else None
    out = net(idx, mask)
    for t in range(idx.shape[1]):
        changed = idx.clone()
        changed[:, t] = changed[:, t] % 10 + 1  # another token in 1..10
        out2 = net(changed, mask)
        assert torch.allclose(out[:, :t], out2[:, :t], atol=1e-6), t
        assert not torch.allclose(out[:, t], out2[:, t], atol=1e-4), t


def test_bidirectional_sees_both_ways():
    net = tiny(False)
    idx = tokens()
    changed = idx.clone()
    changed[:, -1] = changed[:, -1] % 10 + 1
    assert not torch.allclose(net(idx)[:, 0], net(changed)[:, 0], atol=1e-4)  # the first sees the last


@pytest.mark.parametrize("causal", [False, True])
def test_padding_is_irrelevant_to_the_real_tokens(causal):
    net = tiny(causal)
    lengths = torch.tensor([10, 6, 3])
    idx = tokens()
    mask = torch.arange(10)[None] < lengths[:, None]  # (b, T) right padding
    out = net(idx.masked_fill(~mask, 0), mask)
    noisy = torch.where(mask, idx, tokens(seed=1))  # other tokens at the padded positions
    out2 = net(noisy, mask)
    assert torch.allclose(out[mask], out2[mask], atol=1e-6)
    for i, n in enumerate(lengths.tolist()):  # the same as the unpadded sequence alone
        alone = net(idx[i:i + 1, :n])
        assert torch.allclose(out[i, :n], alone[0], atol=1e-5)
    if not causal:  # without the mask the (right) padding would matter
        assert not torch.allclose(net(idx.masked_fill(~mask, 0))[mask], out[mask], atol=1e-4)


def test_all_padding_and_left_padding_stay_finite():
    for causal in (True, False):
        net = tiny(causal)
        mask = torch.zeros(3, 10, dtype=torch.bool)
        mask[1, 4:] = True  # left padding: in the causal case the first real token has no real key before it
        out = net(tokens(), mask)
        assert torch.isfinite(out).all()
        assert torch.isfinite(net.attention(tokens(), mask)).all()


@pytest.mark.parametrize("causal", [False, True])
def test_attention_rows_are_distributions(causal):
    net = tiny(causal)
    idx = tokens()
    mask = torch.arange(10)[None] < torch.tensor([10, 6, 3])[:, None]
    w = net.attention(idx, mask, head=1)  # (depth, b, T, T)
    assert w.dtype == torch.float32 and (w >= 0).all()
    assert torch.allclose(w.sum(-1), torch.ones(w.shape[:-1]), atol=1e-6)
    real_query = mask[None, :, :, None].expand_as(w)
    padded_key = ~mask[None, :, None, :].expand_as(w)
    assert (w[real_query & padded_key] == 0).all()  # real tokens give padding no weight
    if causal:
        future = torch.ones(10, 10, dtype=torch.bool).triu(1).expand_as(w)
        assert (w[future] == 0).all()


@pytest.mark.parametrize("causal,masked", [(False, False), (True, False), (False, True), (True, True)])
def test_weights_reproduce_the_fused_attention(causal, masked):
    """proj(concat_h(W_h V_h)) with the explicitly computed weights equals the SDPA output."""
    torch.manual_seed(0)
    attn = SelfAttention(16, 4).eval()
    x = torch.randn(3, 9, 16)
    mask = torch.arange(9)[None] < torch.tensor([9, 5, 2])[:, None] if masked else None
    out, none = attn(x, causal=causal, mask=mask)
    assert none is None
    v = attn.qkv(x).view(3, 9, 3, 4, 4)[:, :, 2].transpose(1, 2)  # (b, H, T, dh)
    heads = []
    for h in range(4):
        out_h, w = attn(x, causal=causal, mask=mask, head=h)
        assert torch.equal(out_h, out)  # asking for weights does not change the output
        heads.append(w @ v[:, h])  # (b, T, dh)
    recomputed = attn.proj(torch.cat(heads, dim=-1))
    rows = slice(None) if mask is None else mask  # padded queries' outputs are unused
    assert torch.allclose(recomputed[rows], out[rows], atol=1e-5)


def test_gpt2_init():
    torch.manual_seed(0)
    net = Transformer(50, 64, dim=256, depth=4, heads=4, causal=True)
    assert net.tok.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert net.blocks[0].attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert net.blocks[0].attn.qkv.bias.abs().max().item() == 0
    residual = 0.02 / math.sqrt(2 * 4)
    assert net.blocks[1].attn.proj.weight.std().item() == pytest.approx(residual, rel=0.05)
    assert net.blocks[1].mlp[2].weight.std().item() == pytest.approx(residual, rel=0.05)
    assert torch.equal(net.ln_f.weight, torch.ones(256))


def test_dropout_only_while_training():
    net = tiny(True, dropout=0.5)
    idx = tokens()
    assert torch.equal(net(idx), net(idx))  # eval
    net.train()
    assert not torch.equal(net(idx), net(idx))


@pytest.mark.parametrize("case", ["causal", "mask", "causal+mask"])
def test_the_plain_attention_path_matches_the_fused_kernel_with_masks(case):
    from genlab.nn.attention import plain_attention
    from genlab.nn.transformer import attention_mask

    torch.manual_seed(0)
    b, H, T, dh = 2, 3, 7, 4
    q, k, v = (torch.randn(b, H, T, dh, dtype=torch.float64, requires_grad=True) for _ in range(3))
    causal = "causal" in case
    pad = torch.tensor([[True] * T, [True] * 4 + [False] * 3]) if "mask" in case else None
    allowed = attention_mask(T, causal=causal, mask=pad, device=q.device)
    ours = plain_attention(q, k, v, allowed=allowed, causal=causal)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=causal and allowed is None)
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ours)
    for a, r in zip(torch.autograd.grad(ours, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g)):
        torch.testing.assert_close(a, r)
