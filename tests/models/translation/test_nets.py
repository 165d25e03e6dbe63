"""The sub-pixel layer, the SR network and the U-Net translator (genlab/models/translation/nets.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genlab.models.translation.nets import SRResNet, SubPixel, UNetTranslator, scale_factors


@pytest.mark.parametrize("scale, stages", [(2, [2]), (3, [3]), (4, [2, 2]), (6, [2, 3]), (8, [2, 2, 2])])
def test_scale_factors(scale, stages):
    assert scale_factors(scale) == stages


@pytest.mark.parametrize("scale", [1, 5, 7])
def test_scales_without_sub_pixel_stages_are_refused(scale):
    with pytest.raises(ValueError, match=f"products of 2 and 3 .* got x{scale}"):
        scale_factors(scale)


def test_sub_pixel_layer_is_the_periodic_shuffle_of_its_convolution():
    # Shi et al. 2016, eq. 4: out[b, k, r y + i, r x + j] = conv(x)[b, k r^2 + i r + j, y, x]
    torch.manual_seed(0)
    r, c_out = 3, 2
    layer = SubPixel(4, c_out, r)
    torch.nn.init.normal_(layer.conv.weight)  # break ICNR's copies so every position differs
    x = torch.randn(2, 4, 5, 6)
    out, lr = layer(x), layer.conv(x)
    assert out.shape == (2, c_out, 15, 18)
    expected = torch.empty_like(out)
    for k in range(c_out):
        for i in range(r):
            for j in range(r):
                expected[:, k, i::r, j::r] = lr[:, k * r * r + i * r + j]
    assert torch.allclose(out, expected)
    assert torch.equal(out, F.pixel_shuffle(lr, r))


def test_icnr_starts_as_nearest_neighbour_upsampling():
    torch.manual_seed(0)
    layer = SubPixel(3, 2, 2)
    out = layer(torch.randn(1, 3, 4, 4))
    blocks = out.unfold(2, 2, 2).unfold(3, 2, 2)  # (1, 2, 4, 4, 2, 2): each 2x2 block of one low-res pixel
    assert torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks))


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
@pytest.mark.parametrize("channels", [1, 3])
def test_sr_network_shapes_for_every_scale(scale, channels):
    net = SRResNet(channels, scale, width=4, blocks=1)
    assert net(torch.rand(2, channels, 5, 7)).shape == (2, channels, 5 * scale, 7 * scale)


def test_sr_network_learns_a_residual_over_bicubic():
    net = SRResNet(1, 2, width=4, blocks=1)
    torch.nn.init.zeros_(net.tail.weight)
    torch.nn.init.zeros_(net.tail.bias)
    x = torch.rand(2, 1, 6, 6)
    assert torch.allclose(net(x), F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False))


def test_unet_translator_resizes_sources_and_outputs_images():
    net = UNetTranslator(1, 3, (8, 8), (4, 8))
    out = net(torch.rand(2, 1, 4, 4))
    assert out.shape == (2, 3, 8, 8) and out.min() >= 0 and out.max() <= 1
