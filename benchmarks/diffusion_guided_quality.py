"""Sample quality of the class-conditional MNIST diffusion models trained by benchmarks/diffusion_train.py
(30 CPU-minutes each): classifier-FID and the share of samples the genlab classifier labels as the
requested class, genlab vs diffusers, and genlab's FID against the number of sampler steps.

Samples are cached as .npz under --samples (one file per job), so the expensive jobs can run in several
processes or be resumed; `report` computes the figures from whatever is cached.

    .venv/bin/python benchmarks/diffusion_guided_quality.py sample --jobs all
    .venv/bin/python benchmarks/diffusion_guided_quality.py report

Jobs (labels cycle 0..9; guidance w = 2 everywhere, a double batch per step):
    quality-genlab      genlab, DPM-Solver++(2M) 20 steps, N_QUALITY images
    quality-diffusers   diffusers' DPMSolverMultistepScheduler 20 steps on the diffusers run, N_QUALITY
    curve-{ddim,dpmpp_2m}-{5,10,20,50}, curve-ddpm-1000   genlab, N_CURVE images each
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import ROOT, write_result

GENLAB_RUN = "runs/bench/ddpm-mnist-30cpumin"
DIFFUSERS_RUN = "runs/bench/diffusers-mnist-30cpumin"
SAMPLES = "runs/bench/samples"
N_QUALITY, N_CURVE, GUIDANCE, BATCH = 1000, 300, 2.0, 250
CURVE = [("ddim", s) for s in (5, 10, 20, 50)] + [("dpmpp_2m", s) for s in (5, 10, 20, 50)] + [("ddpm", 1000)]


def jobs() -> dict[str, dict]:
    out = {"quality-genlab": {"who": "genlab", "sampler": "dpmpp_2m", "steps": 20, "n": N_QUALITY},
           "quality-diffusers": {"who": "diffusers", "sampler": "dpmpp_2m", "steps": 20, "n": N_QUALITY}}
    for sampler, steps in CURVE:
        out[f"curve-{sampler}-{steps}"] = {"who": "genlab", "sampler": sampler, "steps": steps, "n": N_CURVE}
    return out


def run_job(name: str, spec: dict, args) -> None:
    import numpy as np
    import torch

    path = Path(args.samples) / f"{name}.npz"
    if path.exists():
        print(f"{name}: cached", flush=True)
        return
    torch.set_num_threads(args.threads)
    labels = torch.arange(spec["n"]) % 10
    g = torch.Generator().manual_seed(1234)
    t0, c0 = time.perf_counter(), time.process_time()
    chunks = []
    if spec["who"] == "genlab":
        from genlab.runs import load_run

        model = load_run(args.genlab_run).model.to(memory_format=torch.channels_last)
        for i in range(0, spec["n"], BATCH):
            chunks.append(model.sample(len(labels[i:i + BATCH]), cond=labels[i:i + BATCH], generator=g,
                                       sampler=spec["sampler"], steps=spec["steps"], guidance=GUIDANCE).x)
            print(f"{name}: {i + BATCH}/{spec['n']} in {time.perf_counter() - t0:.0f}s", flush=True)
    else:
        from diffusion_sampling import diffusers_sample, load_diffusers

        unet = load_diffusers(args.diffusers_run)
        for i in range(0, spec["n"], BATCH):
            chunks.append(diffusers_sample(unet, labels[i:i + BATCH], g, spec["steps"], GUIDANCE))
            print(f"{name}: {i + BATCH}/{spec['n']} in {time.perf_counter() - t0:.0f}s", flush=True)
    x = torch.cat(chunks)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x=(x * 255).round().to(torch.uint8).numpy(), y=labels.numpy(),
             wall=time.perf_counter() - t0, cpu=time.process_time() - c0, spec=json.dumps(spec))
    tmp.rename(path)
    print(f"{name}: done in {time.perf_counter() - t0:.0f}s wall, {time.process_time() - c0:.0f} CPU-s", flush=True)


def evaluate(x_u8, y, clf, real_feats) -> dict:
    import torch

    from genlab.eval.metrics import fid

    x = torch.from_numpy(x_u8).float() / 255.0
    feats, logits = clf.features_and_logits(x)
    acc = (logits.argmax(1) == torch.from_numpy(y)).float().mean().item()
    return {"fid": round(float(fid(real_feats, feats)), 4), "accuracy": round(acc, 4), "n": len(y)}


def report(args) -> None:
    import numpy as np
    import torch

    from genlab.data import load_data
    from genlab.eval.classifier import load_classifier

    torch.set_num_threads(args.threads)
    clf = load_classifier("mnist")
    test = load_data("mnist", split="test")
    real = clf.features(test.images())
    figures: dict = {"guidance": GUIDANCE, "real_n": len(test), "features": "genlab mnist classifier (penultimate)"}
    curve: dict = {}
    for name, spec in jobs().items():
        path = Path(args.samples) / f"{name}.npz"
        if not path.exists():
            print(f"{name}: not sampled yet")
            continue
        d = np.load(path)
        res = evaluate(d["x"], d["y"], clf, real)
        res.update({"sampling_wall_s": round(float(d["wall"]), 1), "sampling_cpu_s": round(float(d["cpu"]), 1)})
        figures[name] = res
        print(name, res, flush=True)
        if name.startswith("curve-"):
            curve.setdefault(spec["sampler"], {})[spec["steps"]] = res["fid"]
        if name == "quality-genlab":  # the same samples, first N_CURVE: the curve's DPM++ 20-step point at N_CURVE
            pass
    if "quality-genlab" in figures and "quality-diffusers" in figures:
        figures["fid_ratio_genlab_over_diffusers"] = round(figures["quality-genlab"]["fid"]
                                                           / figures["quality-diffusers"]["fid"], 4)
    if "curve-dpmpp_2m-20" in figures and "curve-ddpm-1000" in figures:
        figures["fid_dpmpp20_over_ddpm1000"] = round(figures["curve-dpmpp_2m-20"]["fid"]
                                                     / figures["curve-ddpm-1000"]["fid"], 4)
    for run, key in ((args.genlab_run, "genlab_train"), (args.diffusers_run, "diffusers_train")):
        figures[key] = train_summary(Path(run))
    if curve:
        plot_curve(curve, ROOT / "docs" / "images" / "diffusion_fid_vs_steps.png")
        figures["curve_plot"] = "docs/images/diffusion_fid_vs_steps.png"
    if "quality-genlab" in figures:
        save_grids(args.samples)
    print(json.dumps(figures, indent=1))
    if not args.no_write:
        write_result("diffusion_guided_quality", figures,
                     f"Class-conditional MNIST, 30 CPU-minutes of training each (benchmarks/diffusion_train.py), "
                     f"guidance {GUIDANCE}. FID on the genlab classifier's features against the 10k test images; "
                     f"quality jobs use {N_QUALITY} samples, the steps curve {N_CURVE} (FID depends on the sample "
                     "count: compare only numbers with the same n).", threads=args.threads)


def train_summary(run: Path) -> dict:
    """Steps and CPU seconds reached by a training run (genlab run folder or the diffusers loop's)."""
    out: dict = {}
    metrics = run / "metrics.jsonl"
    if metrics.exists():
        lines = [json.loads(ln) for ln in metrics.read_text().splitlines() if ln.strip()]
        if lines:
            out["steps"] = lines[-1]["step"]
            out["final_loss"] = lines[-1].get("loss")
    cfg = run / "config.json"
    if cfg.exists():
        c = json.loads(cfg.read_text())
        if "cpu_seconds" in c:
            out["cpu_seconds"] = round(c["cpu_seconds"], 1)
        if "train" in c:
            out["budget_cpu_seconds"] = c["train"]["time_budget"]
    return out


def plot_curve(curve: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    names = {"ddim": "DDIM (eta=0)", "dpmpp_2m": "DPM-Solver++(2M)", "ddpm": "ancestral DDPM"}
    for sampler, pts in sorted(curve.items()):
        steps = sorted(pts)
        style = "o-" if len(steps) > 1 else "s"
        ax.plot(steps, [pts[s] for s in steps], style, label=names.get(sampler, sampler))
        if sampler == "ddpm":
            ax.axhline(pts[steps[-1]], color="gray", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("network evaluations (sampler steps)")
    ax.set_ylabel(f"classifier-FID (n={N_CURVE})")
    ax.set_title("genlab ddpm on MNIST, guidance 2")
    ax.grid(alpha=0.3)
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def save_grids(samples: str) -> None:
    import numpy as np
    import torch

    from genlab.viz.grid import save_grid

    for name in ("quality-genlab", "quality-diffusers", "curve-ddpm-1000"):
        path = Path(samples) / f"{name}.npz"
        if path.exists():
            x = torch.from_numpy(np.load(path)["x"][:100]).float() / 255.0
            save_grid(x, ROOT / "docs" / "images" / f"diffusion_{name}.png", nrow=10, scale=2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["sample", "report"])
    ap.add_argument("--jobs", nargs="+", default=["all"], help="job names (see above) or 'all'")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", default=SAMPLES)
    ap.add_argument("--genlab-run", default=GENLAB_RUN)
    ap.add_argument("--diffusers-run", default=DIFFUSERS_RUN)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.stage == "report":
        report(args)
        return
    todo = jobs()
    names = list(todo) if args.jobs == ["all"] else args.jobs
    unknown = sorted(set(names) - set(todo))
    if unknown:
        raise SystemExit(f"unknown job(s) {unknown}; valid: {list(todo)}")
    for name in names:
        run_job(name, todo[name], args)


if __name__ == "__main__":
    main()
