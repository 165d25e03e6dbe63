"""Shared pieces of the diffusion benchmarks: the diffusers reference model of equal size, one training
step for genlab and for diffusers (same data, batch, loss, label dropout and optimizer), and FLOP counts.

diffusers is a benchmark-only dependency: `.venv/bin/pip install -c constraints.txt diffusers`
(the `bench` extra of pyproject.toml).
"""

from __future__ import annotations

import time
from typing import Any

import torch
from _common import median

# diffusers' UNet2DModel with channels 32/64/64 and attention at 14x14 and 7x7 (1.16M parameters,
# 76 GFLOP per training step at 28x28, batch 64), class-conditional with a null label (index 10).
DIFFUSERS_UNET = {"sample_size": 28, "in_channels": 1, "out_channels": 1, "layers_per_block": 1,
                  "block_out_channels": (32, 64, 64),
                  "down_block_types": ("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                  "up_block_types": ("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"), "num_class_embeds": 11}
SCHEDULE = "squaredcos_cap_v2"  # diffusers' name for the cosine schedule genlab's ddpm uses by default


def diffusers_model(num_classes: int = 10, seed: int = 0):
    """(unet, DDPMScheduler) of the reference size."""
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(seed)
    unet = UNet2DModel(**{**DIFFUSERS_UNET, "num_class_embeds": num_classes + 1})
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule=SCHEDULE)
    return unet, sched


def genlab_model(options: dict[str, Any] | None = None, num_classes: int = 10, seed: int = 0):
    from genlab.models import build_model

    torch.manual_seed(seed)
    opts = {"conditional": True, **(options or {})}
    return build_model("ddpm", opts, shape=(1, 28, 28), num_classes=num_classes)


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


class DiffusersStep:
    """One training step of diffusers' UNet2DModel + DDPMScheduler: eps-MSE with label dropout, Adam."""

    def __init__(self, unet, sched, lr: float = 1e-3, cond_drop: float = 0.1, channels_last: bool = False,
                 bf16: bool = False, compile: str | None = None):
        self.unet, self.sched, self.cond_drop = unet, sched, cond_drop
        self.channels_last, self.bf16 = channels_last, bf16
        if channels_last:
            self.unet.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(unet.parameters(), lr=lr)
        self.null = unet.config.num_class_embeds - 1
        # torch.compile mode ("default", "reduce-overhead", ...): the network, as a diffusers user compiles it
        self.net = self.unet if compile is None else torch.compile(self.unet, mode=compile)

    def loss(self, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        x0 = x * 2 - 1
        noise = torch.randn(x0.shape, generator=g, device=x0.device)
        t = torch.randint(0, self.sched.config.num_train_timesteps, (x0.shape[0],), generator=g, device=x0.device)
        drop = torch.rand(y.shape, generator=g, device=x0.device) < self.cond_drop
        y = torch.where(drop, torch.full_like(y, self.null), y)
        noisy = self.sched.add_noise(x0, noise, t)
        if self.channels_last:
            noisy = noisy.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x0.device.type, torch.bfloat16, enabled=self.bf16):
            pred = self.net(noisy, t, class_labels=y).sample
        return torch.nn.functional.mse_loss(pred.float(), noise)

    def __call__(self, x, y, g) -> float:
        self.unet.train()
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(x, y, g)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


class GenlabStep:
    """One training step of genlab's ddpm as the trainer runs it (training_losses, backward, Adam)."""

    def __init__(self, model, lr: float = 1e-3, channels_last: bool = True, bf16: bool = False,
                 compile: str | None = None):
        self.model, self.channels_last, self.bf16 = model, channels_last, bf16
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(model.parameters(), lr=lr)
        # torch.compile mode: training_losses compiled as the trainer's --train.compile does it
        self.losses = model.training_losses if compile is None else torch.compile(model.training_losses, mode=compile)

    def __call__(self, x, y, g) -> float:
        from genlab.data.base import Batch

        self.model.train()
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        self.opt.zero_grad(set_to_none=True)
        with torch.autocast(x.device.type, torch.bfloat16, enabled=self.bf16):
            loss = self.losses(Batch(x, y), generator=g)["loss"]
        loss.backward()
        self.opt.step()
        return float(loss.detach())


def step_flops(step, x, y) -> float:
    """FLOPs of one training step (forward + backward) by torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    g = torch.Generator().manual_seed(0)
    with FlopCounterMode(display=False) as fc:
        step(x, y, g)
    return float(fc.get_total_flops())


def conv_peak(bf16: bool, channels_last: bool = True, reps: int = 5) -> dict[str, float]:
    """GFLOP/s of a 3x3 conv 64->64 on 64x64x28x28 (medians of `reps`): "forward", "backward" (input and
    weight gradients, twice the forward's FLOPs) and "both" (forward + backward as one training step has them)."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.randn(64, 64, 28, 28)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    flops = 2 * 9 * 64 * 64 * 28 * 28 * 64  # forward
    fwd, both = [], []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            out = conv(x)
        t1 = time.perf_counter()
        out.backward(torch.ones_like(out))
        if i:
            fwd.append(t1 - t0)
            both.append(time.perf_counter() - t0)
    f, b = median(fwd), median(both)
    return {"forward": flops / f / 1e9, "backward": 2 * flops / (b - f) / 1e9, "both": 3 * flops / b / 1e9}


def gemm_peak(bf16: bool, n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of an n x n matrix product in bf16 or fp32 (median of `reps`)."""
    dtype = torch.bfloat16 if bf16 else torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    times = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        a @ b
        if i:
            times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / median(times) / 1e9


def group_norm_silu_ms(bf16: bool, native: bool, reps: int = 9) -> float:
    """ms for forward + backward of genlab's GroupNorm(32 groups) + SiLU on a channels-last 64x96x28x28 input,
    the U-Net's largest (the first block on the way up), with the native kernel or with its torch fallback."""
    import os

    from genlab.nn.norm import GroupNorm

    norm = GroupNorm(32, 96, act="silu")
    dtype = torch.bfloat16 if bf16 else torch.float32
    x = torch.randn(64, 96, 28, 28).to(dtype).contiguous(memory_format=torch.channels_last)
    g = torch.randn_like(x)
    before = os.environ.get("GENLAB_NATIVE")
    os.environ["GENLAB_NATIVE"] = "1" if native else "0"
    try:
        times = []
        for i in range(reps + 1):
            xx = x.detach().requires_grad_(True)
            t0 = time.perf_counter()
            norm(xx).backward(g)
            if i:
                times.append(time.perf_counter() - t0)
    finally:
        if before is None:
            os.environ.pop("GENLAB_NATIVE")
        else:
            os.environ["GENLAB_NATIVE"] = before
    times.sort()
    return 1e3 * times[len(times) // 2]
