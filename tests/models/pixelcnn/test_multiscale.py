"""pixelcnn arch=multiscale: the autoregressive order through the subsampled scales (by gradients), no blind
spot once the blocks reach, the cropped sampler against the network, classes and guidance, refusals."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import Batch
from genlab.models import build_model
from genlab.models.pixelcnn.multiscale import ChannelNorm, ShiftedConv, right_shift
from tests.models.pixelcnn.test_causality import input_gradients, raster


def multiscale(shape=(1, 8, 8), classes: int = 0, **options):
    torch.manual_seed(0)
    opts = {"arch": "multiscale", "channels": 8, "blocks": 2, "scales": 3, **options}
    return build_model("pixelcnn", opts, shape=shape, num_classes=classes).eval()


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 7, 5), (1, 9, 12)])
def test_logits_never_see_the_current_or_a_later_position(shape):
    # odd sizes too: each subsampling rounds up, each upsampling cuts back to the scale's size
    c, h, w = shape
    model = multiscale(shape)
    grads = input_gradients(model, torch.rand(1, *shape, generator=gen()))
    for (r, q, i), g in grads.items():
        j = (r * w + q) * c + i
        assert raster(g)[j:].max() == 0, (r, q, i)  # exactly 0, not small


def test_no_blind_spot_every_earlier_position_matters():
    # two blocks per scale and pass reach every earlier pixel of an 8x8 image, the ones above and to the right
    # included (the blind spot of the original masked PixelCNN)
    model = multiscale(channels=16)
    grads = input_gradients(model, torch.rand(1, 1, 8, 8, generator=gen()))
    for (r, q, i), g in grads.items():
        j = r * 8 + q
        assert (raster(g)[:j] > 0).all(), (r, q, i)


def test_shifted_convolutions_read_rows_above_and_columns_around_or_left():
    x = torch.arange(36.0).view(1, 1, 6, 6)
    assert torch.equal(right_shift(x)[0, 0, :, 0], torch.zeros(6)) and torch.equal(right_shift(x)[..., 1:], x[..., :5])
    cases = ((ShiftedConv(1, 1, (2, 3), right=False), (3, 3), lambda r, q: 2 <= r <= 3 and 2 <= q <= 4),
             (ShiftedConv(1, 1, (2, 2), right=True), (3, 3), lambda r, q: 2 <= r <= 3 and 2 <= q <= 3),
             (ShiftedConv(1, 1, (2, 3), right=False, stride=2), (1, 2), lambda r, q: 1 <= r <= 2 and 3 <= q <= 5),
             (ShiftedConv(1, 1, (2, 2), right=True, stride=2), (1, 2), lambda r, q: 1 <= r <= 2 and 3 <= q <= 4))
    for conv, (ro, qo), sees in cases:
        with torch.no_grad():
            conv.conv.weight.fill_(1.0)
        z = x.clone().requires_grad_(True)
        out = conv(z)
        assert out.shape[-2:] == ((6, 6) if conv.conv.stride == (1, 1) else (3, 3))
        out[0, 0, ro, qo].backward()
        got = z.grad[0, 0] != 0
        assert all(bool(got[r, q]) == sees(r, q) for r in range(6) for q in range(6)), conv
    with pytest.raises(ValueError, match="odd width"):
        ShiftedConv(1, 1, (2, 2), right=False)


def test_the_channel_norm_normalizes_each_position_on_its_own():
    norm = ChannelNorm(6)
    x = (torch.randn(2, 6, 4, 5, generator=gen()) * 7 + 3).requires_grad_(True)
    y = norm(x)
    torch.testing.assert_close(y.mean(1), torch.zeros(2, 4, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, correction=0), torch.ones(2, 4, 5), atol=1e-3, rtol=0)
    (y[1, :, 2, 3] @ torch.randn(6, generator=gen(1))).backward()  # one position's outputs read its inputs only
    assert (x.grad != 0).sum() > 0 and (x.grad.abs().sum(1) != 0).nonzero().tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("shape", [(1, 9, 6), (3, 5, 4)])
def test_the_cropped_sampler_draws_the_argmax_of_the_network(shape):
    model = multiscale(shape)
    x = model.sample(3, generator=gen(), temperature=0.0).x
    with torch.no_grad():
        best = model.net(2 * x - 1).argmax(2)  # (b, c, h, w)
    assert torch.equal(best, (x * 255).round().long())
    a, b = (model.sample(2, generator=gen(5)).x for _ in range(2))
    assert torch.equal(a, b) and not torch.equal(a, model.sample(2, generator=gen(6)).x)


def test_inpainting_keeps_the_known_rows():
    model = multiscale((1, 6, 5))
    x, mask = torch.rand(2, 1, 6, 5, generator=gen()), torch.zeros(1, 1, 6, 5)
    mask[..., 4:, :] = 1
    filled = model.inpaint(x, mask, generator=gen())
    assert torch.equal(filled[..., :4, :], x[..., :4, :]) and not torch.equal(filled, x)


def test_classes_label_minus_one_and_guidance():
    model = multiscale((1, 6, 5), 3, conditional=True, cond_drop=0.2)
    with torch.no_grad():
        for block in model.net.modules():
            if getattr(block, "embed", None) is not None:
                block.embed.weight.normal_(0, 2, generator=gen(1))
    x = torch.rand(3, 1, 6, 5, generator=gen())
    with torch.no_grad():
        free, none = model.net(2 * x - 1, torch.full((3,), -1)), model.net(2 * x - 1, None)
        assert torch.allclose(free, none, atol=1e-6)
        assert not torch.allclose(model.net(2 * x - 1, torch.tensor([0, 1, 2])), none)
    out = model.sample(3, cond=torch.tensor([0, 1, 2]), generator=gen(), temperature=0.0, guidance=2.0)
    with torch.no_grad():
        lc = model.net(2 * out.x - 1, out.y).log_softmax(2)
        lu = model.net(2 * out.x - 1, None).log_softmax(2)
    assert torch.equal((lu + 2.0 * (lc - lu)).argmax(2), (out.x * 255).round().long())


def test_options_and_a_training_step():
    model = multiscale((1, 8, 8), scales=1, blocks=1)
    assert not hasattr(model.net, "layers") and len(model.net.v_sub) == 0
    x = torch.randint(0, 256, (4, 1, 8, 8), generator=gen()).float() / 255
    model.train()
    loss = model.training_losses(Batch(x, None))["loss"]
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with pytest.raises(Exception, match="arch"):
        build_model("pixelcnn", {"arch": "pyramid"}, shape=(1, 8, 8))
    with pytest.raises(ValueError, match="sized by channels, blocks and scales: drop them or use arch=gated"):
        build_model("pixelcnn", {"arch": "multiscale", "layers": 12}, shape=(1, 8, 8))
