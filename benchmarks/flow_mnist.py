"""Test bits/dim of genlab's `flow` on 8-bit MNIST after a CPU-time budget, against normflows' Glow trained
side by side at (about) the same parameter count and the same CPU time.

genlab: the `flow` family (Glow-style: 2 levels of K = 8 steps of ActNorm, LU 1x1 conv and an affine coupling
whose network is conv3x3-ReLU-conv1x1-ReLU-conv3x3 with 64 hidden channels; the factored-out half under a
learned conditional Gaussian; logit transform a = 0.05; log-scales under the family's default soft bound 6;
variational dequantization, Flow++), trained by genlab's Trainer with
TrainConfig(time_budget=BUDGET, budget_clock="cpu"). Its test figure is then the importance-weighted bound
with --iw-k samples of the dequantizer (an upper bound on the 8-bit NLL, as the uniform one is); pass
--model '{"dequantization": "uniform"}' for the recipe of the records before 2026-12-03.
normflows (https://github.com/VincentStimper/normalizing-flows, PyPI `normflows`): the Glow of its examples,
`nf.MultiscaleFlow` of `nf.flows.GlowBlock(channels, hidden, split_mode="channel", scale=True)` with
`nf.flows.Squeeze` and `nf.flows.Merge`, `nf.distributions.DiagGaussian` base distributions per level, on
the same 2 levels and K; its hidden channels are chosen to match genlab's parameter count (within ~1%).
It is trained by a plain loop (batch, dequantize, `forward_kld`, backward, Adam step) until its loop has
used the same CPU seconds.

Both: batch 64, Adam lr 1e-3 with a linear warm-up over 200 steps, then a cosine to 0 over the fraction of
the CPU budget used; gradient norm clipped at 10 (losses in bits/dim); 1 torch thread. normflows dequantizes
uniformly, y = (255 x + u) / 256 (its examples do the same with Scale(255/256) + Jitter(1/256)).
genlab trains with two of its Trainer's options, --train.channels-last and --train.bf16 (autocast: the
coupling and prior networks run in bf16 on a CPU with AVX-512 BF16 or AMX; the bijection, its
log-determinants and the loss stay fp32, see docs/FLOWS.md); normflows runs as its examples do (fp32, NCHW).
Evaluated in fp32 on the first `--eval-n` MNIST test images: uniform dequantization (normflows, and genlab with
uniform) dequantizes once with a fixed seed and takes the exact -log p(y) of the density on [0, 1]^D plus
D log 256, in bits/dim (genlab.eval.likelihood's "continuous" convention); genlab's variational bound draws
the dequantizer's noise with a fixed seed. Both are upper bounds on the 8-bit NLL.
Speed: training steps per CPU-second of each budgeted run, and the median CPU-ms per step of interleaved
blocks of fresh models (alternating, before the runs; steadier on a busy machine): genlab as trained here,
genlab fp32 NCHW and fp32 channels-last, normflows as shipped and channels-last (set by hand), so the
like-for-like ratios (same precision, same memory format) are reported beside the headline one.
Pass --train '{"bf16": false, "channels_last": false}' to train genlab like for like.

Needs normflows (not a genlab dependency):
    pip install --target /tmp/flowdeps --no-deps normflows==1.7.3
    PYTHONPATH=/tmp/flowdeps .venv/bin/python benchmarks/flow_mnist.py           # 3600 CPU-s each, 10k test images
    PYTHONPATH=/tmp/flowdeps .venv/bin/python benchmarks/flow_mnist.py --quick   # 60 CPU-s each, 1000 test images
Writes benchmarks/results/flow_mnist.json (flow_mnist_quick.json with --quick) and, without --quick, sample
grids of genlab's model at temperature 0.7 and 1.0 to docs/images/flow_mnist_t07.png and flow_mnist_t10.png.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _common import ROOT, CpuTimer, load_mnist, median, write_result

MODEL = {"preset": "default", "levels": 2, "steps_per_level": 8, "hidden": 64, "logit_alpha": 0.05,
         "dequantization": "variational"}
TRAIN = {"batch_size": 64, "lr": 1e-3, "warmup_steps": 200, "grad_clip": 10.0, "threads": 1, "channels_last": True,
         "bf16": True}
QUICK = {"train": {"warmup_steps": 20}}
TARGET_BPD, TARGET_SPEED = 1.25, 1.5


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="60 CPU-seconds each, 1000 test images (smoke test)")
    p.add_argument("--budget", type=float, default=None, help="training CPU seconds per library (default 3600)")
    p.add_argument("--eval-n", type=int, default=None, help="test images to evaluate (default 10000; quick 1000)")
    p.add_argument("--model", type=json.loads, default=None, help="JSON dict of flow options (overrides MODEL)")
    p.add_argument("--train", type=json.loads, default=None, help="JSON dict of training options (overrides TRAIN)")
    p.add_argument("--block-rounds", type=int, default=None, help="interleaved speed rounds (default 7; quick 3)")
    p.add_argument("--block", type=int, default=10, help="steps per interleaved block")
    p.add_argument("--no-peer", action="store_true", help="train genlab only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-write", action="store_true", help="print the figures without writing files")
    p.add_argument("--iw-k", type=int, default=16,
                   help="importance samples of the variational dequantizer's test bound, beside k = 1 (default 16)")
    p.add_argument("--name", default="flow_mnist", help="result name: benchmarks/results/NAME.json")
    p.add_argument("--save", type=Path, default=None,
                   help="also save the trained weights here (safetensors), to re-evaluate or sample later")
    return p.parse_args(argv)


def budget_factor(warm: int, budget: float, clock: Callable[[], float]) -> Callable[[int], float]:
    """lr factor: linear warm-up over `warm` steps, then a cosine from 1 to 0 over the fraction of the CPU
    budget used (`clock()` = CPU seconds used so far); as benchmarks/vae_nll.py's budget_cosine."""

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, clock() / budget)))

    return factor


# --- genlab -----------------------------------------------------------------------------------------
def genlab_config(model: dict, train: dict, budget: float, seed: int):
    from genlab.config import DataConfig, RunConfig, TrainConfig

    tc = TrainConfig(steps=10**7, batch_size=train["batch_size"], lr=train["lr"], warmup_steps=train["warmup_steps"],
                     grad_clip=train["grad_clip"], threads=train["threads"], channels_last=train["channels_last"],
                     bf16=train["bf16"],
                     time_budget=budget, budget_clock="cpu", seed=seed, log_every=250, progress=False)
    return RunConfig("flow", dict(model), DataConfig(name="mnist"), tc)


def genlab_trainer(data, model: dict, train: dict, budget: float, seed: int, on_log=None):
    from genlab.training.trainer import Trainer

    trainer = Trainer(genlab_config(model, train, budget, seed), data, on_log=on_log)
    c0 = time.process_time()
    factor = budget_factor(train["warmup_steps"], budget, lambda: time.process_time() - c0)
    for sched in trainer.schedulers.values():
        sched.lr_lambdas = [factor] * len(sched.lr_lambdas)
    return trainer


# --- normflows ----------------------------------------------------------------------------------------
def normflows_glow(shape: tuple[int, int, int], levels: int, steps: int, hidden: int):
    """normflows' multi-scale Glow as its examples build it (class_cond=False)."""
    import normflows as nf

    c, h, w = shape
    flows, merges, q0 = [], [], []
    for i in range(levels):
        level = [nf.flows.GlowBlock(c * 2 ** (levels + 1 - i), hidden, split_mode="channel", scale=True)
                 for _ in range(steps)]
        flows.append(level + [nf.flows.Squeeze()])
        if i > 0:
            merges.append(nf.flows.Merge())
            latent = (c * 2 ** (levels - i), h // 2 ** (levels - i), w // 2 ** (levels - i))
        else:
            latent = (c * 2 ** (levels + 1), h // 2 ** levels, w // 2 ** levels)
        q0.append(nf.distributions.DiagGaussian(latent))
    return nf.MultiscaleFlow(q0, flows, merges, class_cond=False)


def matched_hidden(target: int, shape, levels: int, steps: int, guess: int) -> tuple[int, int]:
    """The normflows hidden width whose Glow has the parameter count closest to `target`, and that count."""
    best = None
    for hidden in range(max(4, guess - 16), guess + 17):
        n = sum(p.numel() for p in normflows_glow(shape, levels, steps, hidden).parameters())
        if best is None or abs(n - target) < abs(best[1] - target):
            best = (hidden, n)
    return best


class NormflowsLoop:
    """normflows' Glow trained by a plain loop: random batch, dequantize, forward_kld in bits/dim, backward,
    clip, Adam step (a non-finite loss skips the step, as normflows' examples do)."""

    def __init__(self, x_train: torch.Tensor, hidden: int, model: dict, train: dict, budget: float, seed: int,
                 channels_last: bool = False):
        from genlab.nn.distributions import LN2

        torch.manual_seed(seed)
        self.model = normflows_glow(tuple(x_train.shape[1:]), model["levels"], model["steps_per_level"], hidden)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.x, self.train, self.g = x_train, train, torch.Generator().manual_seed(seed)
        self.scale = 1.0 / (math.prod(x_train.shape[1:]) * LN2)  # nats -> bits/dim (the density part)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=train["lr"])
        self.cpu = 0.0  # CPU seconds spent in step()
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, budget_factor(train["warmup_steps"], budget,
                                                                                lambda: self.cpu))
        self.steps = self.skipped = 0
        self.last = float("nan")

    def step(self) -> None:
        from genlab.nn.distributions import dequantize

        c0 = time.process_time()
        idx = torch.randint(0, len(self.x), (self.train["batch_size"],), generator=self.g)
        y = dequantize(self.x[idx], self.g).contiguous(memory_format=self.memory_format)
        loss = self.model.forward_kld(y) * self.scale
        self.opt.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            if self.train["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.train["grad_clip"])
            self.opt.step()
            self.last = loss.item() + 8.0
        else:
            self.skipped += 1
        self.sched.step()
        self.steps += 1
        self.cpu += time.process_time() - c0

    def run(self, budget: float, log_every: int = 250) -> None:
        while self.cpu < budget:
            self.step()
            if self.steps % log_every == 0:
                print(f"normflows step {self.steps:6d}  bpd {self.last:6.3f}  lr {self.sched.get_last_lr()[0]:.2e}  "
                      f"CPU {self.cpu:6.0f} s", flush=True)


# --- evaluation ---------------------------------------------------------------------------------------
@torch.no_grad()
def normflows_bpd(model, x: torch.Tensor, seed: int, batch_size: int = 250) -> float:
    """Test bits/dim of a normflows model, with the dequantization noise genlab.eval.likelihood draws for
    the same seed and batch size: (mean -log p(y) + D log 256) / (D ln 2)."""
    from genlab.nn.distributions import bits_per_dim, dequantize, discrete_nats_from_density

    g, dims, total = torch.Generator().manual_seed(seed), math.prod(x.shape[1:]), 0.0
    model.eval()
    for i in range(0, len(x), batch_size):
        y = dequantize(x[i:i + batch_size], g)
        total += float(-model.log_prob(y, None).double().sum())
    return float(bits_per_dim(discrete_nats_from_density(total / len(x), dims), dims))


def genlab_bpd(model, x: torch.Tensor, seed: int, k: int = 1, worst: dict | None = None) -> float:
    """Test bits/dim: exact density of one fixed uniform dequantization (uniform), or the variational
    dequantizer's bound with k importance samples. With `worst` (a dict), also the worst image's bits/dim, its
    index and how many images are above 2 bits/dim: one image can move the mean (docs/FLOWS.md)."""
    from genlab.eval.likelihood import evaluate_likelihood

    out = evaluate_likelihood(model.eval().float(), x, k=k, generator=torch.Generator().manual_seed(seed),
                              batch_size=250 if k == 1 else 100, per_example=worst is not None)
    if worst is not None:
        per = torch.tensor(out["likelihood_nats"], dtype=torch.float64) / (out["likelihood_dims"] * math.log(2))
        worst.update({"worst test image, bits/dim": round(float(per.max()), 3), "worst test image": int(per.argmax()),
                      "test images above 2 bits/dim": int((per > 2).sum())})
    return out["bits_per_dim"]


def interleaved(data, x_train, hidden, model, train, rounds: int, block: int, seed: int) -> dict[str, float]:
    """Median CPU-ms per training step of fresh models, alternating blocks: genlab with the benchmark's
    settings, genlab fp32 (NCHW and channels-last) and normflows as shipped and channels-last."""
    fp32 = {**train, "bf16": False}
    steps = {"genlab": genlab_trainer(data, model, train, 10**9, seed).train_step,
             "genlab fp32": genlab_trainer(data, model, {**fp32, "channels_last": False}, 10**9, seed).train_step,
             "genlab fp32 channels-last": genlab_trainer(data, model, {**fp32, "channels_last": True}, 10**9,
                                                         seed).train_step,
             "normflows": NormflowsLoop(x_train, hidden, model, train, 10**9, seed).step,
             "normflows channels-last": NormflowsLoop(x_train, hidden, model, train, 10**9, seed, True).step}
    for f in steps.values():  # warm-up, and ActNorm's data-dependent initialization
        for _ in range(3):
            f()
    ms: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for name, f in steps.items():
            with CpuTimer() as t:
                for _ in range(block):
                    f()
            ms[name].append(1000 * t.cpu / block)
    return {k: median(v) for k, v in ms.items()}


def save_samples(model, out_dir: Path, seed: int) -> list[str]:
    from genlab.viz.grid import save_grid

    paths = []
    for t, tag in ((0.7, "t07"), (1.0, "t10")):
        x = model.sample(64, generator=torch.Generator().manual_seed(seed), temperature=t).x
        paths.append(str(save_grid(x, out_dir / f"flow_mnist_{tag}.png", nrow=8, scale=2)))
    return paths


def main(argv=None) -> dict:
    args = parse_args(argv)
    budget = args.budget if args.budget is not None else (60.0 if args.quick else 3600.0)
    eval_n = args.eval_n if args.eval_n is not None else (1000 if args.quick else 10000)
    model = {**MODEL, **(args.model or {})}
    train = {**TRAIN, **(QUICK["train"] if args.quick else {}), **(args.train or {})}
    torch.set_num_threads(train["threads"])

    data = load_mnist("train")
    x_train = data.images()  # (60000, 1, 28, 28) in [0, 1], 8-bit levels
    x_test = load_mnist("test").images()[:eval_n]
    from genlab.models import build_model

    params = sum(p.numel() for p in build_model("flow", model, spec=data.spec).parameters())
    figures: dict = {"genlab parameters": params}
    hidden = None
    if not args.no_peer:
        import normflows

        hidden, peer_params = matched_hidden(params, tuple(x_train.shape[1:]), model["levels"],
                                             model["steps_per_level"], model["hidden"])
        figures.update({"normflows parameters": peer_params, "normflows hidden channels": hidden,
                        "normflows version": normflows.__version__})
        print(f"genlab {params} parameters; normflows Glow with hidden {hidden}: {peer_params}", flush=True)
        rounds = args.block_rounds or (3 if args.quick else 7)
        inter = interleaved(data, x_train, hidden, model, train, rounds, args.block, args.seed)
        for k, v in inter.items():
            print(f"interleaved {k:26s} {v:7.1f} CPU-ms per step", flush=True)
        figures["interleaved CPU-ms per step"] = {k: round(v, 1) for k, v in inter.items()}
        figures["speed ratio genlab / normflows, interleaved CPU time"] = round(inter["normflows"] / inter["genlab"], 2)
        figures["speed ratio, both fp32 NCHW"] = round(inter["normflows"] / inter["genlab fp32"], 2)
        figures["speed ratio, both fp32 channels-last"] = round(
            inter["normflows channels-last"] / inter["genlab fp32 channels-last"], 2)
        figures["interleaved rounds x steps per block"] = [rounds, args.block]

    c0 = time.process_time()

    def show(rec):
        print(f"genlab    step {rec['step']:6d}  bpd {rec.get('bpd', float('nan')):6.3f}  lr {rec['lr']:.2e}  "
              f"CPU {time.process_time() - c0:6.0f} s", flush=True)

    with CpuTimer() as t:
        result = genlab_trainer(data, model, train, budget, args.seed, on_log=show).fit()
    worst: dict = {}  # of the reported bound: k = 1 (uniform) or k = args.iw_k (variational)
    with CpuTimer() as te:
        bpd = genlab_bpd(result.model, x_test, seed=1, worst=worst)
    print(f"genlab: {result.step} steps ({result.stopped}) in {t.cpu:.0f} CPU-s; test {bpd:.3f} bits/dim "
          f"on {eval_n} images (eval {te.wall:.0f} wall-s)", flush=True)
    if args.save is not None:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, str(args.save))
    if train.get("bf16"):  # the same bound with the networks in bf16, as trained: a check that fp32 reads the model
        from genlab.training.device import autocast

        with autocast(torch.device("cpu"), True):
            bpd_bf16 = genlab_bpd(result.model, x_test, seed=1)
        print(f"genlab: test {bpd_bf16:.3f} bits/dim evaluated under bf16 autocast, as trained", flush=True)
        figures["genlab test bits/dim under bf16 autocast (the training precision), k = 1"] = round(bpd_bf16, 4)
    if "k" in result.model.likelihood_options and args.iw_k > 1:  # variational: the tighter bound, also an upper one
        with CpuTimer() as tk:
            bpd_k = genlab_bpd(result.model, x_test, seed=1, k=args.iw_k, worst=worst)
        print(f"genlab: test {bpd_k:.3f} bits/dim with {args.iw_k} importance samples (eval {tk.wall:.0f} wall-s)",
              flush=True)
        figures["genlab test bits/dim, one sample of the dequantizer (k = 1)"] = round(bpd, 4)
        figures["importance samples k of the test bound"] = args.iw_k
        bpd = bpd_k
    figures.update({
        "genlab test bits/dim": round(bpd, 4),
        **worst,
        "target bits/dim": TARGET_BPD,
        "genlab meets bits/dim target": bool(bpd <= TARGET_BPD),
        "genlab training steps": result.step,
        "genlab training CPU seconds": round(t.cpu, 1),
        "genlab steps per CPU-second": round(result.step / t.cpu, 3),
        "genlab epochs": round(result.step * train["batch_size"] / len(x_train), 2),
    })
    if not args.no_peer:
        peer = NormflowsLoop(x_train, hidden, model, train, budget, args.seed)
        with CpuTimer() as tp:
            peer.run(budget)
        peer_bpd = normflows_bpd(peer.model, x_test, seed=1)
        print(f"normflows: {peer.steps} steps ({peer.skipped} skipped) in {peer.cpu:.0f} CPU-s; test "
              f"{peer_bpd:.3f} bits/dim", flush=True)
        ratio = (result.step / t.cpu) / (peer.steps / tp.cpu)
        figures.update({
            "normflows test bits/dim": round(peer_bpd, 4),
            "normflows training steps": peer.steps,
            "normflows skipped (non-finite) steps": peer.skipped,
            "normflows training CPU seconds": round(tp.cpu, 1),
            "normflows steps per CPU-second": round(peer.steps / tp.cpu, 3),
            "speed ratio genlab / normflows, steps per CPU-second of the budgeted runs": round(ratio, 2),
            "target speed ratio": TARGET_SPEED,
        })
        figures["genlab meets speed target (interleaved)"] = bool(
            figures["speed ratio genlab / normflows, interleaved CPU time"] >= TARGET_SPEED)
    figures.update({"CPU budget per library, seconds": budget, "test images": eval_n, "model": model,
                    "train": train})
    out_dir = ROOT / "docs" / "images" if not (args.quick or args.no_write) else Path(tempfile.mkdtemp())
    try:
        figures["sample grids"] = save_samples(result.model, out_dir, args.seed)
    except ValueError as e:  # an under-trained flow's samples may overflow: say so, keep the figures
        figures["sample grids"] = f"not written: {e}"
    print(json.dumps(figures, indent=2), flush=True)
    if not args.no_write:
        deq = ("exact density of uniformly dequantized test images (one fixed draw) plus D log 256"
               if model.get("dequantization", "uniform") == "uniform" else
               f"the variational dequantizer's bound with {figures.get('importance samples k of the test bound', 1)} "
               "importance samples plus D log 256")
        notes = (f"Test bits/dim: {deq}, an upper bound on the 8-bit NLL. Equal CPU seconds of training per library, "
                 f"1 thread; genlab with {'bf16 autocast' if train.get('bf16') else 'fp32'}. "
                 "The interleaved ratio compares fresh models step by step; the budgeted ratio includes each "
                 "library's loop (genlab's Trainer: batching, logging, budget checks).")
        headline = None if args.quick else {"figure": "genlab test bits/dim", "met": bool(bpd <= TARGET_BPD),
                                            "target": f"<= {TARGET_BPD} in {budget:.0f} CPU-s"}
        write_result(f"{args.name}_quick" if args.quick else args.name, figures, notes, threads=train["threads"],
                     headline=headline)
    return figures


if __name__ == "__main__":
    main()
