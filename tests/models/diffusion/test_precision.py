"""Sampling precision: bf16 autocast of the network only, "auto" by the device, clear errors."""

from __future__ import annotations

import pytest
import torch

from genlab.data.base import DataSpec
from genlab.models import build_model
from genlab.nn import bf16
from tests.conftest import TINY


def tiny_ddpm():
    torch.manual_seed(0)
    return build_model("ddpm", TINY["ddpm"], spec=DataSpec.image((1, 8, 8), 4)).eval()


def draw(model, precision: str) -> torch.Tensor:
    return model.sample(6, cond=torch.arange(6) % 4, generator=torch.Generator().manual_seed(3),
                        precision=precision).x


def test_bf16_sampling_stays_close_to_fp32_and_auto_follows_the_device(monkeypatch):
    model = tiny_ddpm()
    fp32, half = draw(model, "fp32"), draw(model, "bf16")
    assert half.dtype == fp32.dtype == torch.float32 and half.shape == fp32.shape
    assert not torch.equal(half, fp32)  # the network did run in bf16
    assert (half - fp32).abs().mean() < 0.02
    monkeypatch.setattr(bf16, "cpu_has_fast_bf16", lambda: False)
    assert torch.equal(draw(model, "auto"), fp32)
    monkeypatch.setattr(bf16, "cpu_has_fast_bf16", lambda: True)
    assert torch.equal(draw(model, "auto"), half)


def test_an_unknown_precision_is_a_one_line_error():
    with pytest.raises(ValueError, match="precision must be 'fp32', 'bf16' or 'auto'"):
        draw(tiny_ddpm(), "fp16")
