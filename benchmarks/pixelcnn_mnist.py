"""Gated PixelCNN on MNIST: exact test likelihood after a CPU-time budget, 8-bit and dynamically binarized.

Two parts, each trained by genlab's trainer (`genlab.runs.train`, a run folder under --runs-dir) for at most
`--budget` CPU seconds (TrainConfig.time_budget, budget_clock="cpu": process CPU time of all threads, which a
busy machine does not eat into):
- 8bit:   `pixelcnn` (likelihood "categorical": a 256-way softmax per pixel) on 8-bit MNIST; reports the
          exact test NLL in bits/dim = nats / (784 ln 2) on the 10k test images (or --eval-n of them).
- binary: `pixelcnn` (likelihood "bernoulli") on dynamically binarized MNIST (a fresh Bernoulli draw per
          batch); reports the exact test NLL in nats on the test images binarized once with seed 0 (as
          benchmarks/vae_nll.py does, by genlab.eval.likelihood.evaluate_likelihood).
Each part also times sampling (a batch of 100 images: 784 sequential pixel steps), saves a 10 x 10 sample
grid and a grid of completions of the test images' lower halves (the inpaint capability) to
docs/images/pixelcnn/, and merges its figures into benchmarks/results/pixelcnn_mnist.json. `--part report`
evaluates the two saved runs again (no training) and rewrites the result and the pictures.

The learning rate warms up linearly, then follows a cosine (or, with --train '{"schedule": "linear"}', a
straight line) to 0 over the steps that a short calibration predicts the budget holds (as
benchmarks/text_shakespeare.py does); the budget stops the run if the machine gets slower.
Evaluation is in fp32 on the EMA weights.

    .venv/bin/python benchmarks/pixelcnn_mnist.py --part 8bit     # 3600 CPU-s of training + evaluation
    .venv/bin/python benchmarks/pixelcnn_mnist.py --part binary   # the same on binarized MNIST
    .venv/bin/python benchmarks/pixelcnn_mnist.py --part report   # re-evaluate both saved runs
    .venv/bin/python benchmarks/pixelcnn_mnist.py --quick         # a ~60 CPU-second smoke run (tiny model)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (first: it sets OMP_WAIT_POLICY=PASSIVE before torch loads its OpenMP runtime)
import torch
from _common import RESULTS, ROOT, CpuTimer, command_line, load_mnist, write_result

TARGETS = {"8bit": 1.0, "binary": 88.0}  # test bits/dim (8-bit), test nats (binarized), in 60 CPU-minutes each
MODEL = {"preset": "base"}  # 8 gated layers, 48 channels, first kernel 7, then 3
TRAIN = {"batch_size": 32, "lr": 1e-3, "warmup_steps": 200, "grad_clip": 1.0, "ema_decay": 0.999, "threads": 1,
         "bf16": False, "channels_last": False, "compile": False, "schedule": "cosine"}
QUICK = {"model": {"preset": "tiny", "layers": 3, "channels": 16}, "train": {"warmup_steps": 10, "ema_decay": 0.0}}
PARTS = {"8bit": ("categorical", "none"), "binary": ("bernoulli", "dynamic")}  # likelihood, binarization
IMAGES = ROOT / "docs" / "images" / "pixelcnn"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=["8bit", "binary", "report", "all"], default="all",
                   help="train and evaluate one part, both (all), or re-evaluate the saved runs (report)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny model, ~25 CPU-s per part, 500 test images")
    p.add_argument("--budget", type=float, default=None, help="training CPU seconds per part (default 3600)")
    p.add_argument("--eval-n", type=int, default=None, help="test images to evaluate (default 10000; quick 500)")
    p.add_argument("--model", type=json.loads, default=None, help="JSON dict of pixelcnn options (overrides MODEL)")
    p.add_argument("--train", type=json.loads, default=None, help="JSON dict of training options (overrides TRAIN)")
    p.add_argument("--runs-dir", default=None,
                   help="where the run folders go (bench-pixelcnn-mnist-PART); default runs, or with --no-write a "
                        "new temporary folder, so a probe never replaces the recorded runs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default=None,
                   help="result name (default pixelcnn_mnist): benchmarks/results/NAME.json, its pictures in "
                        "docs/images/pixelcnn/NAME/ and its runs named after it, so another machine's run or a "
                        "variant of the recipe is kept beside the record")
    p.add_argument("--no-write", action="store_true", help="print the figures without writing results or images")
    p.add_argument("--no-samples", action="store_true",
                   help="skip the samples and completions (a likelihood probe of a model that samples slowly)")
    return p.parse_args(argv)


def calibrate(config, data, steps: int = 12) -> float:
    """Training steps per CPU-second of the trainer this config builds (same model, batch, precision and layout;
    the first 2 steps are not timed)."""
    import dataclasses

    from genlab.training.trainer import Trainer

    trainer = Trainer(dataclasses.replace(config, train=dataclasses.replace(config.train, time_budget=None)), data)
    for i in range(steps + 2):
        if i == 2:
            c0 = time.process_time()
        trainer.train_step()
    return steps / (time.process_time() - c0)


def check_train(train: dict) -> None:
    """Bad training options (an unknown key, a schedule that does not exist) stop the run before the calibration,
    in one line."""
    from genlab.config import TrainConfig, validate

    try:
        validate(TrainConfig(**train))
    except (TypeError, ValueError) as e:  # ConfigError is a ValueError; an unknown key a TypeError
        raise SystemExit(f"pixelcnn_mnist: bad --train options: {e}") from None


def train_part(part: str, model: dict, train: dict, budget: float, seed: int, run_dir: Path, data) -> dict:
    """Train one part under the CPU budget in `run_dir`; returns the training figures."""
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import train as run_train

    likelihood, binarize = PARTS[part]
    config = RunConfig("pixelcnn", {"likelihood": likelihood, **model}, DataConfig("mnist", binarize=binarize),
                       TrainConfig(steps=10**6, batch_size=train["batch_size"], bf16=train["bf16"],
                                   channels_last=train.get("channels_last", False), compile=train.get("compile", False),
                                   threads=train["threads"], seed=seed, progress=False, device="cpu"))
    rate = calibrate(config, data)
    steps = max(train["warmup_steps"] + 10, int(0.95 * budget * rate))
    log(f"{part}: calibration {rate:.3f} steps per CPU-s; planning {steps} steps for {budget:g} CPU-s")
    tc = TrainConfig(steps=steps, batch_size=train["batch_size"], lr=train["lr"], warmup_steps=train["warmup_steps"],
                     schedule=train["schedule"], grad_clip=train["grad_clip"], ema_decay=train["ema_decay"],
                     bf16=train["bf16"], channels_last=train.get("channels_last", False),
                     compile=train.get("compile", False), threads=train["threads"], time_budget=budget,
                     budget_clock="cpu",
                     seed=seed, log_every=max(10, steps // 50), sample_every=0, checkpoint_every=max(100, steps // 10),
                     progress=False, device="cpu")
    config = RunConfig("pixelcnn", {"likelihood": likelihood, **model}, DataConfig("mnist", binarize=binarize), tc)
    c0 = time.process_time()

    def on_log(rec):
        log(f"{part} step {rec['step']:6d}/{steps}  train {rec.get('bits_per_dim', float('nan')):.4f} bits/dim  "
            f"lr {rec['lr']:.2e}  CPU {time.process_time() - c0:6.0f} s")

    with CpuTimer() as t:
        result = run_train(config, run_dir, data=data, overwrite=True, runs_dir=run_dir.parent, on_log=on_log)
    images = result.step * train["batch_size"]
    log(f"{part}: trained {result.step} steps ({result.stopped}) in {t.cpu:.0f} CPU-s, {t.wall:.0f} wall-s")
    return {"training steps": result.step, "planned steps": steps, "stopped by": result.stopped,
            "epochs": round(images / len(data), 2), "training CPU seconds": round(t.cpu, 1),
            "training wall seconds": round(t.wall, 1), "CPU budget, seconds": budget,
            "compiler subprocess CPU seconds (outside the budget)": round(t.children, 1),
            "training images per CPU-second": round(images / max(t.cpu, 1e-9), 1),
            "last logged train bits/dim (raw weights)": (result.history or [{}])[-1].get("bits_per_dim"),
            "model": {**model, "likelihood": likelihood}, "train": train, "trained by": command_line()}




def evaluate_part(part: str, run_dir: Path, eval_n: int, write_images: bool, quick: bool,
                  images: Path = IMAGES, samples: bool = True) -> dict:
    """Exact test NLL, sampling speed and pictures of one part's saved run."""
    from genlab.eval.likelihood import evaluate_likelihood
    from genlab.nn.distributions import binarize
    from genlab.runs import load_run
    from genlab.viz.grid import save_grid

    r = load_run(run_dir)
    model = r.model.eval()
    test = load_mnist("test")
    x, y = test.images()[:eval_n], test.y[:eval_n]  # (n, 1, 28, 28) grey levels k / 255
    binarized = PARTS[part][1]
    with CpuTimer() as te:  # the binary part: each test batch binarized by Bernoulli draws from one seeded generator
        ev = evaluate_likelihood(model, x, y, binarized=binarized, batch_size=100,
                                 generator=torch.Generator().manual_seed(0))
    log(f"{part}: test {ev['nll_nats']:.2f} nats = {ev['bits_per_dim']:.4f} bits/dim on {eval_n} images "
        f"({ev['likelihood_label']}; {te.wall:.0f} wall-s)")
    figures = {
        "test NLL, nats": round(ev["nll_nats"], 3), "test bits/dim": round(ev["bits_per_dim"], 4),
        "likelihood": ev["likelihood_label"], "test images": eval_n,
        "evaluation wall seconds": round(te.wall, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if not samples:
        return figures
    g = torch.Generator().manual_seed(0)
    with CpuTimer() as ts:
        samples = model.sample(100, generator=g).x
    log(f"{part}: 100 samples (784 sequential pixel steps) in {ts.wall:.1f} wall-s, {ts.cpu:.1f} CPU-s")
    mask = torch.zeros(1, 1, 28, 28)
    mask[..., 14:, :] = 1  # the lower half
    shown = binarize(x[:8], binarized, torch.Generator().manual_seed(0))
    filled = [model.inpaint(shown, mask, generator=g) for _ in range(3)]
    figures |= {
        "sampling: wall seconds per batch of 100 (784 sequential steps)": round(ts.wall, 2),
        "sampling: CPU seconds per batch of 100": round(ts.cpu, 2),
    }
    if write_images:
        where = images if not quick else run_dir
        grid = save_grid(samples, where / f"mnist_{part}_samples.png", nrow=10, scale=2)
        hidden = torch.where(mask.bool(), torch.full_like(shown, 0.5), shown)
        fills = save_grid(torch.cat([hidden, *filled, shown]), where / f"mnist_{part}_inpaint.png", nrow=8, scale=2)
        figures["pictures"] = [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in (grid, fills)]
        log(f"{part}: wrote {grid} and {fills}")
    return figures


def merge(name: str, part: str, figures: dict, quick: bool, threads: int) -> None:
    """Put one part's figures into results/<name>.json (keeping the other part's) and set the summary."""
    path = RESULTS / f"{name}.json"
    old = json.loads(path.read_text())["figures"] if path.exists() else {}
    parts = {k: old[k] for k in PARTS if isinstance(old.get(k), dict)}
    parts[part] = figures
    bpd = parts.get("8bit", {}).get("test bits/dim")
    nats = parts.get("binary", {}).get("test NLL, nats")
    t8, tb = TARGETS["8bit"], TARGETS["binary"]
    summary = {"test bits/dim (8-bit MNIST)": bpd, "test nats (binarized MNIST)": nats,
               f"8-bit target <= {t8} bits/dim met": None if quick or bpd is None else bpd <= t8,
               f"binarized target <= {tb:g} nats met": None if quick or nats is None else nats <= tb}
    met = None if quick or bpd is None or nats is None else (bpd <= TARGETS["8bit"] and nats <= TARGETS["binary"])
    notes = ("Gated PixelCNN (van den Oord et al. 2016), exact likelihoods. 8bit: 256-way softmax per pixel, "
             "bits/dim = nats / (784 ln 2) on 8-bit test images. binary: Bernoulli pixels, trained on dynamically "
             "binarized MNIST (a fresh draw per batch), test images binarized once by evaluate_likelihood with "
             "torch.Generator seed 0. "
             "Training budget counted in process CPU seconds per part; Adam, linear warm-up then a cosine to 0 over "
             "the calibrated step count, EMA weights evaluated in fp32. Sampling: one batch of 100 images drawn "
             "pixel by pixel (784 sequential steps on cached layer inputs: one row of each vertical convolution per "
             "row, a few matrix products per layer per pixel; one thread)."
             + (" QUICK smoke run (tiny model, tiny budget): not a measurement of the targets." if quick else ""))
    write_result(name, {**summary, **parts}, notes, threads=threads,
                 headline={"figure": "test bits/dim (8-bit MNIST)", "met": met,
                           "target": f"<= {TARGETS['8bit']} bits/dim (8-bit) and <= {TARGETS['binary']:g} nats "
                                     "(binarized) in 60 CPU-minutes each"})


def main(argv=None) -> None:
    args = parse_args(argv)
    q = args.quick
    budget = args.budget if args.budget is not None else (25.0 if q else 3600.0)
    eval_n = args.eval_n if args.eval_n is not None else (500 if q else 10000)
    model = {**MODEL, **(QUICK["model"] if q else {}), **(args.model or {})}
    train = {**TRAIN, **(QUICK["train"] if q else {}), **(args.train or {})}
    check_train(train)
    torch.set_num_threads(train["threads"])
    name = args.name or "pixelcnn_mnist" + ("_quick" if q else "")
    images = IMAGES if args.name is None else IMAGES / args.name
    parts = list(PARTS) if args.part in ("all", "report") else [args.part]
    data = None if args.part == "report" else load_mnist("train")
    runs_dir = args.runs_dir or ("runs" if not args.no_write or args.part == "report"
                                 else tempfile.mkdtemp(prefix="genlab-pixelcnn-probe-"))
    run_of = {part: Path(runs_dir) / f"bench-{name.replace('_', '-')}-{part}" for part in parts}
    if args.part == "report":  # the parts whose run is here; the others keep their recorded figures
        missing = [part for part in parts if not (run_of[part] / "config.json").exists()]
        if len(missing) == len(parts):
            raise SystemExit(f"--part report: no run in {runs_dir}; train one first with --part 8bit or binary")
        for part in missing:
            log(f"--part report: no run {run_of[part]}; its recorded figures are kept")
        parts = [part for part in parts if part not in missing]
    for part in parts:
        run_dir = run_of[part]
        trained = {}
        if args.part != "report":
            trained = train_part(part, model, train, budget, args.seed, run_dir, data)
        figures = {**evaluate_part(part, run_dir, eval_n, not args.no_write, q, images,
                                     not args.no_samples), **trained, "run": str(run_dir)}
        print(json.dumps(figures, indent=1), flush=True)
        if not args.no_write:
            if args.part == "report":  # keep the training figures of the earlier run
                path = RESULTS / f"{name}.json"
                old = json.loads(path.read_text())["figures"].get(part, {}) if path.exists() else {}
                figures = {**old, **figures}
            merge(name, part, figures, q, train["threads"])
    if q:
        log("quick run: figures are from a tiny model and budget, not the targets "
            f"(<= {TARGETS['8bit']} bits/dim, <= {TARGETS['binary']:g} nats)")


if __name__ == "__main__":
    main()
