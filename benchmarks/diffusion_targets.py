"""Schedule x prediction target x sampler for genlab's ddpm on MNIST (issue 21: grey backgrounds), on a small
U-Net (channels 16/32/32) trained for a few hundred steps, the same seeds, data order and samples for every
combination. Each combination is one process (1 thread), so several can run side by side:

    .venv/bin/python benchmarks/diffusion_targets.py run cos-eps '{"schedule": "cosine", "prediction": "eps"}'
    .venv/bin/python benchmarks/diffusion_targets.py run cos-v '{"schedule": "cosine", "prediction": "v"}'
    .venv/bin/python benchmarks/diffusion_targets.py run lin-eps '{"schedule": "linear", "prediction": "eps"}'
    .venv/bin/python benchmarks/diffusion_targets.py run lin-v '{"schedule": "linear", "prediction": "v"}'
    .venv/bin/python benchmarks/diffusion_targets.py report

Per combination: 500 samples from each of DPM-Solver++(2M) 20 steps, DDIM 50 and ancestral DDPM 100 (seed 1):
classifier-FID against 5,000 MNIST test images (genlab's shipped MNIST classifier), classes covered (>= 5 of
500), the mean intensity of the 4-pixel border (black in MNIST) and the share of samples whose border mean
exceeds 0.1 ("grey background"). Runs go to runs/bench/targets/NAME, figures to runs/bench/targets/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import ROOT, write_result

OUT = ROOT / "runs" / "bench" / "targets"
STEPS, SAMPLERS = 500, (("dpmpp_2m", 20), ("ddim", 50), ("ddpm", 100))


def run(name: str, options: dict, steps: int) -> None:
    import torch

    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.data import load_data
    from genlab.eval.classifier import load_classifier
    from genlab.eval.metrics import fid
    from genlab.runs import load_run, train
    from genlab.viz.grid import save_grid

    torch.set_num_threads(1)
    folder = OUT / name
    tc = TrainConfig(steps=steps, batch_size=64, lr=1e-3, optimizer="adamw", weight_decay=0.01, warmup_steps=100,
                     ema_decay=0.995, seed=0, device="cpu", channels_last=True, threads=1, log_every=100,
                     progress=False)
    if not (folder / "checkpoints").exists():
        t0 = time.process_time()
        train(RunConfig("ddpm", {"channels": [16, 32, 32], **options}, DataConfig("mnist"), tc), folder,
              resume=False, overwrite=False)
        print(f"{name}: trained in {time.process_time() - t0:.0f} CPU-s", flush=True)
    model = load_run(folder).model
    clf = load_classifier("mnist")
    real = clf.features(load_data("mnist", split="test").images()[:5000])
    border = torch.ones(28, 28, dtype=torch.bool)
    border[4:-4, 4:-4] = False
    res: dict = {"name": name, "options": options, "steps": steps}
    for sampler, n_steps in SAMPLERS:
        x = model.sample(500, generator=torch.Generator().manual_seed(1), sampler=sampler, steps=n_steps).x
        b = x[:, 0][:, border].mean(1)
        feats, logits = clf.features_and_logits(x)
        res[f"{sampler}{n_steps}"] = {
            "fid": round(float(fid(real, feats)), 2), "border_mean": round(float(b.mean()), 4),
            "grey_share": round(float((b > 0.1).float().mean()), 3),
            "classes": int((torch.bincount(logits.argmax(1), minlength=10) >= 5).sum())}
        save_grid(x[:64], folder / f"{sampler}{n_steps}.png", nrow=8, scale=2)
    print(json.dumps(res), flush=True)
    with open(OUT / "results.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")


def report() -> None:
    rows = [json.loads(ln) for ln in (OUT / "results.jsonl").read_text().splitlines() if ln.strip()]
    figures = {r["name"]: {k: v for k, v in r.items() if k != "name"} for r in rows}
    write_result("diffusion_targets", figures,
                 "genlab ddpm, U-Net channels 16/32/32, 500 steps at batch 64, AdamW 1e-3, EMA 0.995, 1 thread; "
                 "500 samples per sampler (seed 1); classifier-FID against 5,000 MNIST test images. Rows are "
                 "added by `run` (one per combination); the x0 target has not been run.", threads=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["run", "report"])
    ap.add_argument("name", nargs="?")
    ap.add_argument("options", nargs="?", default="{}")
    ap.add_argument("--steps", type=int, default=STEPS)
    args = ap.parse_args()
    if args.stage == "run":
        run(args.name, json.loads(args.options), args.steps)
    else:
        report()


if __name__ == "__main__":
    main()
