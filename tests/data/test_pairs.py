"""Pairs derived from image datasets, unpaired domains, paired augmentation (genlab/data/pairs.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from genlab.data import load_data
from genlab.data.base import DataError, ImageData
from genlab.data.pairs import (
    augment_pairs,
    derive,
    downsample,
    luma,
    mask_square,
    sobel,
    strokes,
    unpaired,
    upsample,
)
from tests.conftest import tiny_images


def rgb_images(n: int = 6, size: int = 8, seed: int = 0) -> ImageData:
    g = torch.Generator().manual_seed(seed)
    return ImageData(torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8), None, "rgb", "train")


@pytest.mark.parametrize("factor", [2, 4])
def test_downsample_is_pillows_bicubic(factor):
    x = rgb_images(3).x
    out = downsample(x, factor)
    assert out.shape == (3, 3, 8 // factor, 8 // factor)
    plane = Image.fromarray(x[1, 2].numpy()).resize((8 // factor, 8 // factor), Image.Resampling.BICUBIC)
    assert np.array_equal(out[1, 2].numpy(), np.asarray(plane))


def test_downsample_refuses_sides_that_do_not_divide():
    with pytest.raises(DataError, match="divisible by 3"):
        downsample(rgb_images(1).x, 3)


def test_upsample_baselines_have_the_target_size():
    x = rgb_images(2, size=4).x
    for method in ("bicubic", "lanczos"):
        assert upsample(x, 2, method).shape == (2, 3, 8, 8)


@pytest.mark.parametrize("form, source_shape", [("sr2", (1, 4, 4)), ("sr4", (1, 2, 2)), ("edges", (1, 8, 8)),
                                                ("masked", (1, 8, 8))])
def test_derived_pair_shapes(form, source_shape):
    data = derive(form, tiny_images(10))
    assert data.kind == "image-pair" and data.source_shape == source_shape and data.shape == (1, 8, 8)
    assert torch.equal(data.target, tiny_images(10).x) and data.how


def test_greyscale_pairs_are_the_luma_of_rgb_and_refuse_grey_images():
    data = derive("grey", rgb_images(4))
    assert data.source_shape == (1, 8, 8) and data.shape == (3, 8, 8)
    pil = np.asarray(Image.fromarray(data.target[0].permute(1, 2, 0).numpy()).convert("L"))
    assert np.abs(data.source[0, 0].numpy().astype(int) - pil.astype(int)).max() <= 1  # Pillow rounds in fixed point
    with pytest.raises(DataError, match="need RGB images"):
        derive("grey", tiny_images(2))


def test_sobel_of_a_vertical_step_is_strongest_at_the_step():
    x = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    x[..., 4:] = 255
    e = sobel(x)[0, 0]
    assert e[:, 3:5].min() > 0 and e[:, :2].max() == 0 and e[:, 6:].max() == 0  # no edge at the frame
    assert torch.equal(luma(x), x.float())


def test_masks_are_fixed_by_the_seed_and_hide_a_half_side_square():
    x = torch.full((5, 1, 8, 8), 200, dtype=torch.uint8)
    a, b = mask_square(x), mask_square(x)
    assert torch.equal(a, b)  # the same pairs on every load: resume stays exact
    assert ((a == 0).flatten(1).sum(1) == 16).all()
    assert not torch.equal(a, mask_square(x, seed=7))


def test_thin_and_thick_strokes():
    x = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    x[..., 2:5, 3] = 255  # a one-pixel-wide stroke
    assert strokes(x, thick=True).float().sum() > x.float().sum()
    assert strokes(x, thick=False).sum() == 0
    assert strokes(strokes(x, thick=True), thick=False).float().sum() >= x.float().sum()


def test_load_data_derives_pairs_by_name_and_refuses_bad_forms():
    data = load_data("edges:digits")
    assert data.kind == "image-pair" and data.name == "edges:digits" and data.shape == data.source_shape
    with pytest.raises(DataError, match="name a dataset after the colon"):
        load_data("sr2:")
    with pytest.raises(DataError, match="pairs are derived from image data"):
        load_data("sr2:edges:digits")


def test_unpaired_domains_share_no_image():
    a = tiny_images(10)
    data = unpaired(a, a)
    assert not data.paired and len(data) == 5
    assert torch.equal(data.source, a.x[0::2]) and torch.equal(data.target, a.x[1::2])


def test_augmented_pairs_stay_aligned():
    # sources are 2x2 average pools of their targets: after the same flip and shift, they still are
    target = tiny_images(16).images()
    source = F.avg_pool2d(target, 2)
    g = torch.Generator().manual_seed(0)
    s, t = augment_pairs(source, target, g, shift=1)
    assert torch.allclose(F.avg_pool2d(t, 2), s, atol=1e-6)
    assert not torch.equal(t, target)  # something moved
    same = augment_pairs(source, target, torch.Generator().manual_seed(0), shift=1)
    assert torch.equal(same[0], s) and torch.equal(same[1], t)


def test_augmented_pairs_of_one_size_stay_aligned():
    # sources are the negatives of their targets: each augmented pair still sums to 1, or to 0 where both were
    # shifted in (zero fill)
    target = tiny_images(16).images()
    s, t = augment_pairs(1 - target, target, torch.Generator().manual_seed(1), shift=2)
    total = s + t
    assert (((total - 1).abs() < 1e-6) | (total == 0)).all()
    assert (total == 0).any() and (total > 0).float().mean() > 0.5
