"""Training throughput of the same MLP VAE in genlab and in pythae, side by side in one process.

pythae (https://github.com/clementchadebec/benchmark_VAE) 0.1.2: `pythae.models.VAE(VAEConfig(input_dim=(1, 28, 28),
latent_dim=16, reconstruction_loss="bce"))` with no custom networks gets its default MLPs:
    Encoder_VAE_MLP: Linear(784, 512) ReLU, then two heads Linear(512, 16) for mu and for log-variance
    Decoder_AE_MLP:  Linear(16, 512) ReLU, Linear(512, 784) Sigmoid
and is trained with `pythae.pipelines.TrainingPipeline` (BaseTrainer, Adam). genlab trains
`vae` with arch "mlp", hidden (512,), latent 16, act relu, Bernoulli likelihood: the same layers and the same
829,232 parameters (genlab's encoder head is one Linear(512, 32) = pythae's two Linear(512, 16) stacked;
genlab applies the sigmoid inside binary_cross_entropy_with_logits). Both: batch 64, Adam lr 1e-3
(default betas), the 60k MNIST training images as floats in [0, 1], 2 torch threads, one epoch.

Timed: the training loop only.
- genlab: `TrainResult.seconds`, the wall time of Trainer.fit's loop (batch sampling, forward,
  backward, optimizer, scheduler, logging every 100 steps); the model build is not timed.
- pythae: from its trainer's first `on_train_step_begin` callback (start of the epoch's batch loop) to
  the last `on_train_step_end` (after the last optimizer step), via a callback: DataLoader batching,
  forward, backward, optimizer and its default progress-bar callback. Not timed: the pipeline's data
  checks, the model sanity check, the end-of-epoch deepcopy of the best model and the final save
  (reported separately as the whole `pipeline(...)` call).
Two measurements, both alternating the libraries:
1. whole epochs: genlab fp32, pythae, genlab fp32 with fused Adam (swapped in; now the trainer's default too), genlab
   bf16 autocast (on a fifth of the images), repeated for `--rounds` rounds; medians of images/s (wall)
   and images per CPU-second. Each run lasts 10-60 s, so a busy machine's load swings move these a lot.
2. interleaved steps (the headline): one genlab Trainer and one pythae BaseTrainer (driven batch by batch
   through its own loop body: DataLoader batch, forward, _optimizers_step, loss.item(), callbacks) live
   in the same process and run alternating blocks of `--block` steps for `--block-rounds` rounds;
   medians of CPU-ms and wall-ms per step. The headline is the CPU-time ratio: on a shared machine the
   CPU time a step costs is far steadier than the wall time it takes.

    .venv/bin/python benchmarks/vae_vs_pythae.py            # 3 rounds of one epoch, 9 x 50 interleaved steps
    .venv/bin/python benchmarks/vae_vs_pythae.py --quick    # 1 round of 10k images, 3 x 50 interleaved steps
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time

import torch
from _common import CpuTimer, load_mnist, median, write_result

THREADS, BATCH, LR, LATENT, HIDDEN = 2, 64, 1e-3, 16, 512


def use_fused_adam(trainer) -> None:
    """Swap the trainer's Adam optimizers for torch's fused ones, keeping the lr schedules (what
    Trainer._optimizer now does by default on cpu/cuda)."""
    from genlab.training.trainer import lr_lambda

    tc = trainer.tc
    for name, opt in list(trainer.optimizers.items()):
        options = {k: v for k, v in opt.defaults.items() if k not in ("foreach", "fused", "differentiable")}
        new = type(opt)(trainer.players[name].params, **options, fused=True)
        trainer.optimizers[name] = new
        trainer.schedulers[name] = __import__("torch").optim.lr_scheduler.LambdaLR(
            new, lambda s: lr_lambda(s, tc.warmup_steps, tc.steps, tc.schedule))


def genlab_run(data, n_images: int, bf16: bool, seed: int, fused: bool = False) -> dict[str, float]:
    """Train genlab's MLP VAE for n_images // BATCH steps; loop wall/CPU seconds and images."""
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.training.trainer import Trainer

    steps = n_images // BATCH
    config = RunConfig("vae", {"arch": "mlp", "hidden": [HIDDEN], "latent_dim": LATENT, "act": "relu",
                               "likelihood": "bernoulli"},
                       DataConfig(name="mnist"),
                       TrainConfig(steps=steps, batch_size=BATCH, lr=LR, bf16=bf16, threads=THREADS, seed=seed,
                                   log_every=100, progress=False))
    trainer = Trainer(config, data)
    if fused:
        use_fused_adam(trainer)
    c0 = time.process_time()
    result = trainer.fit()
    cpu = time.process_time() - c0
    return {"seconds": result.seconds, "cpu": cpu, "images": steps * BATCH,
            "loss": result.history[-1]["nelbo"], "params": sum(p.numel() for p in result.model.parameters())}


class _LoopTimer:
    """pythae callback: wall/CPU time from the first batch's start to the last optimizer step's end."""

    def __new__(cls):
        from pythae.trainers.training_callbacks import TrainingCallback

        class Timer(TrainingCallback):
            def __init__(self):
                self.start = self.end = self.cstart = self.cend = None
                self.steps = 0

            def on_train_step_begin(self, training_config, **kwargs):
                if self.start is None:
                    self.start, self.cstart = time.perf_counter(), time.process_time()

            def on_train_step_end(self, training_config, **kwargs):
                self.steps += 1
                self.end, self.cend = time.perf_counter(), time.process_time()

        return Timer()


def pythae_run(x: torch.Tensor, seed: int) -> dict[str, float]:
    """Train pythae's default VAE for one epoch over x; loop wall/CPU seconds and images."""
    from pythae.models import VAE, VAEConfig
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce"))
    with tempfile.TemporaryDirectory() as out:
        tc = BaseTrainerConfig(output_dir=out, num_epochs=1, learning_rate=LR, per_device_train_batch_size=BATCH,
                               per_device_eval_batch_size=BATCH, steps_saving=None, no_cuda=True, seed=seed)
        pipeline = TrainingPipeline(training_config=tc, model=model)
        timer = _LoopTimer()
        with CpuTimer() as whole:
            pipeline(train_data=x, eval_data=None, callbacks=[timer])
    return {"seconds": timer.end - timer.start, "cpu": timer.cend - timer.cstart, "images": len(x),
            "steps": timer.steps, "pipeline_seconds": whole.wall,
            "params": sum(p.numel() for p in model.parameters())}


class _PythaeSteps:
    """pythae's BaseTrainer driven one batch at a time: the body of BaseTrainer.train_step's batch loop
    (DataLoader batch, forward with its kwargs, _optimizers_step, loss.item(), step-end callbacks)."""

    def __init__(self, x: torch.Tensor, seed: int, out_dir: str):
        from pythae.data.preprocessors import DataProcessor
        from pythae.models import VAE, VAEConfig
        from pythae.trainers import BaseTrainer, BaseTrainerConfig

        model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce"))
        tc = BaseTrainerConfig(output_dir=out_dir, num_epochs=1, learning_rate=LR, per_device_train_batch_size=BATCH,
                               steps_saving=None, no_cuda=True, seed=seed)
        dataset = DataProcessor.to_dataset(DataProcessor().process_data(x))
        self.trainer = BaseTrainer(model=model, train_dataset=dataset, training_config=tc)
        self.trainer.prepare_training()
        self.trainer.model.train()
        self.epoch, self.batches = 0, iter(())

    def step(self) -> None:
        t = self.trainer
        inputs = next(self.batches, None)
        if inputs is None:
            self.epoch += 1
            t.callback_handler.on_train_step_begin(training_config=t.training_config, train_loader=t.train_loader,
                                                   epoch=self.epoch, rank=t.rank)
            self.batches = iter(t.train_loader)
            inputs = next(self.batches)
        inputs = t._set_inputs_to_device(inputs)
        with t.amp_context:
            out = t.model(inputs, epoch=self.epoch, dataset_size=len(t.train_loader.dataset), uses_ddp=t.distributed)
        t._optimizers_step(out)
        if out.loss.item() != out.loss.item():
            raise ArithmeticError("NaN detected in train loss")
        t.callback_handler.on_train_step_end(training_config=t.training_config)


def interleaved(data, x: torch.Tensor, rounds: int, block: int) -> dict[str, dict[str, float]]:
    """Per-step cost of genlab (as is, and with fused Adam) and pythae, both alive in this process and
    run in alternating blocks of `block` steps: medians over rounds of CPU-ms and wall-ms per step."""
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.training.trainer import Trainer

    config = RunConfig("vae", {"arch": "mlp", "hidden": [HIDDEN], "latent_dim": LATENT, "act": "relu",
                               "likelihood": "bernoulli"}, DataConfig(name="mnist"),
                       TrainConfig(steps=10**7, batch_size=BATCH, lr=LR, threads=THREADS, log_every=100,
                                   progress=False))
    plain, fused = Trainer(config, data), Trainer(config, data)
    use_fused_adam(fused)
    with tempfile.TemporaryDirectory() as out:
        py = _PythaeSteps(x, 0, out)
        steps = {"genlab_fp32": plain.train_step, "pythae": py.step, "genlab_fp32_fused_adam": fused.train_step}
        for f in steps.values():  # warm-up
            for _ in range(10):
                f()
        cpu_ms: dict[str, list[float]] = {k: [] for k in steps}
        wall_ms: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(rounds):
            for name, f in steps.items():
                with CpuTimer() as t:
                    for _ in range(block):
                        f()
                cpu_ms[name].append(1000 * t.cpu / block)
                wall_ms[name].append(1000 * t.wall / block)
    return {k: {"cpu_ms": median(cpu_ms[k]), "wall_ms": median(wall_ms[k])} for k in steps}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="one round over 10k images")
    p.add_argument("--rounds", type=int, default=None, help="alternating rounds (default 3; quick 1)")
    p.add_argument("--images", type=int, default=None, help="images per run (default 60000; quick 10000)")
    p.add_argument("--no-bf16", action="store_true", help="skip genlab with bf16 autocast")
    p.add_argument("--bf16-fraction", type=float, default=0.2,
                   help="the bf16 variant trains on this fraction of the images (it is slow on CPUs without bf16)")
    p.add_argument("--block-rounds", type=int, default=None, help="interleaved rounds (default 9; quick 3)")
    p.add_argument("--block", type=int, default=50, help="steps per interleaved block")
    args = p.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    n = args.images or (10_000 if args.quick else 60_000)

    torch.set_num_threads(THREADS)
    data = load_mnist("train").subset(n)
    x = data.images()  # (n, 1, 28, 28) float32 in [0, 1], what pythae gets
    variants = ["genlab_fp32", "pythae", "genlab_fp32_fused_adam"] + ([] if args.no_bf16 else ["genlab_bf16"])
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for r in range(rounds):
        for v in variants:
            if v == "pythae":
                out = pythae_run(x, seed=r)
            elif v == "genlab_bf16":
                out = genlab_run(data, max(BATCH, int(n * args.bf16_fraction)), True, seed=r)
            else:
                out = genlab_run(data, n, False, seed=r, fused=v.endswith("fused_adam"))
            out["img_per_s"] = out["images"] / out["seconds"]
            out["img_per_cpu_s"] = out["images"] / out["cpu"]
            runs[v].append(out)
            print(f"round {r + 1}/{rounds} {v:12s} {out['img_per_s']:8.0f} img/s  "
                  f"{out['img_per_cpu_s']:8.0f} img/CPU-s  ({out['seconds']:.1f} s, {out['images']} images)",
                  flush=True)
    block_rounds = args.block_rounds or (3 if args.quick else 9)
    inter = interleaved(data, x, block_rounds, args.block)
    for k, v in inter.items():
        print(f"interleaved {k:24s} {v['cpu_ms']:.2f} CPU-ms/step  {v['wall_ms']:.2f} wall-ms/step", flush=True)
    med = {v: median([o["img_per_s"] for o in runs[v]]) for v in variants}
    med_cpu = {v: median([o["img_per_cpu_s"] for o in runs[v]]) for v in variants}
    ratios = [g["img_per_s"] / q["img_per_s"] for g, q in zip(runs["genlab_fp32"], runs["pythae"])]
    cpu_ratio = inter["pythae"]["cpu_ms"] / inter["genlab_fp32"]["cpu_ms"]
    figures = {
        "ratio genlab / pythae, interleaved steps, CPU time (headline)": round(cpu_ratio, 2),
        "ratio genlab / pythae, interleaved steps, wall time": round(
            inter["pythae"]["wall_ms"] / inter["genlab_fp32"]["wall_ms"], 2),
        "ratio genlab + fused Adam / pythae, interleaved steps, CPU time": round(
            inter["pythae"]["cpu_ms"] / inter["genlab_fp32_fused_adam"]["cpu_ms"], 2),
        "interleaved CPU-ms per step (genlab, pythae, genlab + fused Adam)": [
            round(inter[k]["cpu_ms"], 2) for k in ("genlab_fp32", "pythae", "genlab_fp32_fused_adam")],
        "interleaved images per CPU-second (genlab, pythae, genlab + fused Adam)": [
            round(1000 * BATCH / inter[k]["cpu_ms"]) for k in ("genlab_fp32", "pythae", "genlab_fp32_fused_adam")],
        "interleaved images/s wall (genlab, pythae, genlab + fused Adam)": [
            round(1000 * BATCH / inter[k]["wall_ms"]) for k in ("genlab_fp32", "pythae", "genlab_fp32_fused_adam")],
        "interleaved rounds x steps per block": [block_rounds, args.block],
        "genlab fp32, images/s": round(med["genlab_fp32"]),
        "pythae, images/s": round(med["pythae"]),
        "ratio genlab fp32 / pythae, whole epochs, wall": round(med["genlab_fp32"] / med["pythae"], 2),
        "ratio per round, whole epochs, wall (fp32)": [round(r, 2) for r in ratios],
        "genlab fp32, images per CPU-second": round(med_cpu["genlab_fp32"]),
        "pythae, images per CPU-second": round(med_cpu["pythae"]),
        "ratio genlab fp32 / pythae, whole epochs, per CPU-second": round(
            med_cpu["genlab_fp32"] / med_cpu["pythae"], 2),
        "pythae whole pipeline(...) call, images/s": round(median(
            [o["images"] / o["pipeline_seconds"] for o in runs["pythae"]])),
        "images per run": n,
        "rounds": rounds,
        "per-run images/s": {v: [round(o["img_per_s"]) for o in runs[v]] for v in variants},
        "parameters (genlab, pythae)": [runs["genlab_fp32"][0]["params"], runs["pythae"][0]["params"]],
        "load average at end (1, 5, 15 min)": [round(v, 2) for v in os.getloadavg()],
    }
    figures["genlab fp32 + fused Adam (proposed), whole epochs, images/s"] = round(med["genlab_fp32_fused_adam"])
    figures["genlab fp32 + fused Adam (proposed), whole epochs, images per CPU-second"] = round(
        med_cpu["genlab_fp32_fused_adam"])
    figures["ratio genlab + fused Adam / pythae, whole epochs, per CPU-second"] = round(
        med_cpu["genlab_fp32_fused_adam"] / med_cpu["pythae"], 2)
    if "genlab_bf16" in runs:
        figures["genlab bf16 autocast, whole epochs, images/s"] = round(med["genlab_bf16"])
        figures["genlab bf16 autocast, whole epochs, images per CPU-second"] = round(med_cpu["genlab_bf16"])
        figures["ratio genlab bf16 / pythae, per CPU-second"] = round(med_cpu["genlab_bf16"] / med_cpu["pythae"], 2)
    import pythae

    notes = (f"pythae {getattr(pythae, '__version__', '0.1.2')}, default MLP VAE (784-512-16 / 16-512-784), "
             "reconstruction_loss='bce'; genlab vae arch=mlp hidden=(512,) act=relu; batch 64, Adam lr 1e-3, "
             f"{THREADS} threads. The headline ratio is fp32 against fp32 (pythae's amp option is CUDA-only and is "
             "switched off for its bce loss), from interleaved step blocks, CPU time. 'fused Adam' is genlab with "
             "torch.optim.Adam(fused=True) swapped in at run time; the trainer has used fused Adam by default since "
             "this comparison was first run, so the two genlab columns now measure the same thing. Other jobs "
             "shared the machine (see the load average): whole-epoch wall "
             "figures swing by 2-4x between rounds; compare ratios, not absolute figures.")
    write_result("vae_vs_pythae", figures, notes, threads=THREADS)
    return figures


if __name__ == "__main__":
    main()
