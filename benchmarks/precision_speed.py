"""bf16 against fp32 on this CPU: the trainer's own steps of ddpm and a conv VAE in each precision and layout,
what `--train.precision auto` picks, the kernels behind the difference, and short training curves in both.

Parts (each figure is a median over interleaved rounds of CPU time, so a busy machine slows every
candidate alike; the CPU capability is recorded with them):
- steps: `Trainer.train_step()` of ddpm (the 28x28 preset, conditional, batch 64) and of a conv VAE
  (channels (32, 64), batch 128) on MNIST in fp32 / bf16 autocast x contiguous / channels-last, each a
  Trainer given that choice outright; the speed-up is the best bf16 over the best fp32. Then the choice
  precision="auto" makes for each, and the seconds its timing took.
- kernels: forward and backward GFLOP/s of a 3x3 conv 64->64 at 64x28x28 (fp32, bf16; both layouts), a
  2048^2 matrix product (fp32, bf16), GroupNorm on channels-last input (torch's kernel against genlab's
  native kernel, or its torch fallback under GENLAB_NATIVE=0), and attention (fused kernel against the plain
  one).
- curves (`--curves N`): N steps of each model in fp32 and in bf16 from the same seed, the loss every 25
  steps, and the mean loss of the last fifth of each run; a plot in docs/images/precision_curves.png.

    .venv/bin/python benchmarks/precision_speed.py --threads 1 --rounds 5 --curves 300
"""

# ruff: noqa: B023  (the kernel timings' lambdas run at once, inside the loop that binds their variables)
from __future__ import annotations

import argparse
import time

import torch
from _common import ROOT, load_mnist, median, write_result

MODELS = {
    "ddpm": ({"conditional": True}, 64),
    "vae": ({"arch": "conv", "channels": (32, 64), "hidden": (256,), "latent_dim": 16}, 128),
}
CANDIDATES = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]


def trainer(family: str, data, choice=None, steps: int = 100_000, seed: int = 0):
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.training.trainer import Trainer

    options, batch = MODELS[family]
    tc = TrainConfig(steps=steps, batch_size=batch, lr=2e-4 if family == "ddpm" else 1e-3, seed=seed,
                     progress=False, threads=torch.get_num_threads())
    return Trainer(RunConfig(family, dict(options), DataConfig("mnist"), tc), data, choice=choice)


def step_times(family: str, data, rounds: int, per_round: int = 2) -> dict[str, float]:
    """Median CPU-seconds of one train_step per candidate, interleaved round by round."""
    from genlab.training.precision import Choice, label

    trainers = {label(p, cl): trainer(family, data, Choice(p, cl)) for p, cl in CANDIDATES}
    for t in trainers.values():
        t.train_step()  # warm-up: kernels, optimizer state
    times: dict[str, list[float]] = {k: [] for k in trainers}
    for _ in range(rounds):
        for k, t in trainers.items():
            c0 = time.process_time()
            for _ in range(per_round):
                t.train_step()
            times[k].append((time.process_time() - c0) / per_round)
    return {k: median(v) for k, v in times.items()}


def timed(f, reps: int = 5) -> float:
    f()
    out = []
    for _ in range(reps):
        c0 = time.process_time()
        f()
        out.append(time.process_time() - c0)
    return median(out)


def kernels() -> dict[str, float]:
    import torch.nn.functional as F

    from genlab.nn.attention import plain_attention
    from genlab.nn.norm import GroupNorm

    out: dict[str, float] = {}
    flops = 2 * 64 * 64 * 9 * 64 * 28 * 28  # one 3x3 conv 64->64 on 64x64x28x28, forward
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        for cl in (False, True):
            conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(dtype)
            x = torch.randn(64, 64, 28, 28, dtype=dtype)
            if cl:
                conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
            x.requires_grad_(True)
            y = conv(x)
            g = torch.randn_like(y)
            fwd = timed(lambda: conv(x))
            bwd = timed(lambda: torch.autograd.grad(conv(x), (x, conv.weight), g)) - fwd
            layout = "channels-last" if cl else "contiguous"
            out[f"conv3x3 {name} {layout} forward GFLOP/s"] = round(flops / fwd / 1e9, 1)
            out[f"conv3x3 {name} {layout} backward GFLOP/s"] = round(2 * flops / bwd / 1e9, 1)
        a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
        out[f"matmul 2048 {name} GFLOP/s"] = round(2 * 2048 ** 3 / timed(lambda: a @ b) / 1e9, 1)
        # the upstream gradient in the input's dtype and layout, as a network's next layer hands it back
        x = torch.randn(64, 64, 28, 28, dtype=dtype).contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        g = torch.randn_like(x)
        ref, ours = torch.nn.GroupNorm(32, 64).to(dtype), GroupNorm(32, 64).to(dtype)
        for who, norm in (("torch", ref), ("genlab", ours)):
            out[f"GroupNorm {name} channels-last fwd+bwd ms, {who}"] = round(
                1e3 * timed(lambda n=norm: n(x).backward(g)), 2)
        xc, gc = x.detach().contiguous().requires_grad_(True), g.contiguous()
        out[f"GroupNorm {name} contiguous fwd+bwd ms, torch"] = round(1e3 * timed(lambda: ref(xc).backward(gc)), 2)
    for n in (49, 196):
        q, k, v = (torch.randn(64, 2, n, 32, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
        out[f"attention bf16 n={n} fwd+bwd ms, fused"] = round(
            1e3 * timed(lambda: F.scaled_dot_product_attention(q, k, v).float().sum().backward()), 2)
        out[f"attention bf16 n={n} fwd+bwd ms, plain"] = round(
            1e3 * timed(lambda: plain_attention(q, k, v).float().sum().backward()), 2)
    return out


def curve(family: str, data, precision: str, steps: int, every: int = 25) -> list[float]:
    from genlab.training.precision import Choice

    t = trainer(family, data, Choice(precision, False), steps=steps)
    losses, window = [], []
    for _ in range(steps):
        window.append(float(t.train_step()["loss"]))
        if len(window) == every:
            losses.append(sum(window) / every)
            window = []
    return losses


def plot_curves(curves: dict[str, dict[str, list[float]]], every: int, path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.4))
    for ax, (family, by_precision) in zip(axes, curves.items()):
        for precision, losses in by_precision.items():
            ax.plot([every * (i + 1) for i in range(len(losses))], losses, label=precision)
        ax.set_title(f"{family}: training loss (mean of {every} steps)")
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path.relative_to(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the step timing")
    ap.add_argument("--curves", type=int, default=0, help="training steps per curve (0: no curves)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from genlab.training.precision import Choice

    data = load_mnist("train")
    figures: dict = {"threads": args.threads}
    for family in MODELS:
        t = step_times(family, data, args.rounds)
        best_fp32 = min(v for k, v in t.items() if k.startswith("fp32"))
        best_bf16 = min(v for k, v in t.items() if k.startswith("bf16"))
        c0 = time.perf_counter()
        auto = trainer(family, data).choice
        figures[family] = {
            "CPU ms per step": {k: round(1e3 * v, 1) for k, v in t.items()},
            "bf16 speed-up (best bf16 over best fp32)": round(best_fp32 / best_bf16, 2),
            "precision auto chose": Choice(auto.precision, auto.channels_last).label,
            "precision auto timing, wall s": round(time.perf_counter() - c0, 1),
            "precision auto timings, ms per step": auto.timings_ms,
        }
        figures[f"bf16 speed-up, {family}"] = figures[family]["bf16 speed-up (best bf16 over best fp32)"]
        print(family, figures[family], flush=True)
    figures["kernels"] = kernels()
    print(figures["kernels"], flush=True)
    if args.curves:
        every = 25
        curves = {f: {p: curve(f, data, p, args.curves, every) for p in ("fp32", "bf16")} for f in MODELS}
        tail = max(1, len(next(iter(curves["vae"].values()))) // 5)
        figures["curves"] = {"steps": args.curves, "every": every, "losses": curves}
        for f, by in curves.items():
            end = {p: sum(v[-tail:]) / tail for p, v in by.items()}
            figures[f]["final loss (mean of the last fifth), fp32 / bf16"] = [round(end["fp32"], 5),
                                                                             round(end["bf16"], 5)]
            figures[f]["final loss, bf16 relative to fp32"] = round(end["bf16"] / end["fp32"] - 1, 4)
        if not args.no_write:
            figures["curves"]["plot"] = plot_curves(curves, every, ROOT / "docs" / "images" / "precision_curves.png")
    if not args.no_write:
        write_result("precision_speed", figures,
                     "CPU time per trainer step, medians of interleaved rounds; bf16 = torch.autocast(bfloat16) "
                     "over the forward, fp32 master weights and optimizer. Target (issue 20): bf16 >= 2x fp32 "
                     "for ddpm and the conv VAE on a CPU with native bf16.", threads=args.threads)


if __name__ == "__main__":
    main()
