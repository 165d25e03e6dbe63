"""pixelcnn: the autoregressive order, checked by gradients. The logits of position j depend on no input
position at or after j, and (no blind spot) on every earlier one once the receptive field covers it."""

from __future__ import annotations

import pytest
import torch

from genlab.models import build_model
from genlab.models.pixelcnn.layers import HorizontalConv, VerticalConv, down_shift


def model_of(c: int = 1, h: int = 8, w: int = 8, **options):
    torch.manual_seed(0)
    opts = {"layers": 8, "channels": 16, "kernel": 3, "first_kernel": 3, **options}
    return build_model("pixelcnn", opts, shape=(c, h, w))


def input_gradients(model, x: torch.Tensor) -> dict[tuple[int, int, int], torch.Tensor]:
    """{(r, q, i): |d (random projection of the logits of channel i at pixel (r, q)) / d x|}, each (c, h, w)."""
    x = x.clone().requires_grad_(True)
    logits = model.net(2 * x - 1)  # (1, c, K, h, w)
    proj = torch.randn(logits.shape[2], generator=torch.Generator().manual_seed(1))
    _, c, _, h, w = logits.shape
    out = {}
    for r in range(h):
        for q in range(w):
            for i in range(c):
                (g,) = torch.autograd.grad(logits[0, i, :, r, q] @ proj, x, retain_graph=True)
                out[r, q, i] = g[0].abs()
    return out


def raster(g: torch.Tensor) -> torch.Tensor:
    """(c, h, w) -> (h w c,) in the model's order: pixels row by row, channels innermost."""
    return g.permute(1, 2, 0).reshape(-1)


@pytest.mark.parametrize("c", [1, 3])
def test_logits_never_see_the_current_or_a_later_position(c):
    model = model_of(c)
    grads = input_gradients(model, torch.rand(1, c, 8, 8, generator=torch.Generator().manual_seed(0)))
    for (r, q, i), g in grads.items():
        j = (r * 8 + q) * c + i
        assert raster(g)[j:].max() == 0, (r, q, i)  # exactly 0, not small


@pytest.mark.parametrize("c", [1, 3])
def test_no_blind_spot_every_earlier_position_matters(c):
    # 8 layers of 3x3 reach 9 rows up, 8 columns to each side and 8 to the left: all of an 8x8 image
    model = model_of(c)
    assert model.net.reach + 1 >= 7
    grads = input_gradients(model, torch.rand(1, c, 8, 8, generator=torch.Generator().manual_seed(0)))
    for (r, q, i), g in grads.items():
        j = (r * 8 + q) * c + i
        assert (raster(g)[:j] > 0).all(), (r, q, i)
    # the blind spot of the original masked PixelCNN: pixels above and to the right. (5, 6) sees all of them
    g = grads[5, 6, 0].sum(0)  # (h, w)
    assert (g[:5, 7] > 0).all() and (g[:5, 6:] > 0).all()


def test_receptive_field_of_one_layer_is_the_shifted_neighbourhood():
    # one layer, 3x3: (r, q) sees (r, q-1) and, through the vertical stack's 2x3 kernel shifted down by one,
    # the two rows above in columns q-1 .. q+1
    model = model_of(1, layers=1)
    grads = input_gradients(model, torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    seen = (grads[4, 4, 0][0] > 0).nonzero().tolist()
    assert sorted(map(tuple, seen)) == [(2, 3), (2, 4), (2, 5), (3, 3), (3, 4), (3, 5), (4, 3)]


def test_shifted_convolutions():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(down_shift(x)[0, 0, 0], torch.zeros(4)) and torch.equal(down_shift(x)[0, 0, 1:], x[0, 0, :3])
    for conv, sees in ((VerticalConv(1, 1, 3), lambda r, q: 1 <= r <= 2 and abs(q - 1) <= 1),
                       (HorizontalConv(1, 1, 3, "A"), lambda r, q: r == 2 and q == 0),
                       (HorizontalConv(1, 1, 5, "B"), lambda r, q: r == 2 and q <= 1)):
        with torch.no_grad():
            conv.conv.weight.fill_(1.0)
        z = x.clone().requires_grad_(True)
        conv(z)[0, 0, 2, 1].backward()  # output pixel (2, 1)
        got = z.grad[0, 0] != 0
        assert conv(x).shape == x.shape
        assert all(bool(got[r, q]) == sees(r, q) for r in range(4) for q in range(4)), type(conv).__name__
    with pytest.raises(ValueError, match="mask must be 'A' or 'B'"):
        HorizontalConv(1, 1, 3, "C")


def test_gate_is_the_same_function_in_channels_last_memory():
    from genlab.models.pixelcnn.layers import gate

    pre = torch.randn(2, 6, 4, 5, dtype=torch.float64, requires_grad=True)
    pre_cl = pre.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    out, out_cl = gate(pre), gate(pre_cl)
    f, g = pre.detach().chunk(2, dim=1)
    assert torch.allclose(out, torch.tanh(f) * torch.sigmoid(g))
    assert torch.allclose(out_cl, out)
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    (out_cl * weights).sum().backward()
    assert torch.allclose(pre_cl.grad, pre.grad)
