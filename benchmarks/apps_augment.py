"""Data augmentation with generated images (issue 17): the low-data gain on Fashion-MNIST and the
Classification Accuracy Score of each conditional family (genlab.apps.augment).

For each size (10 and 100 real labelled images per class) and seed (0, 1, 2): the real images are a seeded
pick of the training set (`ImageData.per_class`, seed = the seed); each conditional family is trained on
exactly those images; it generates --generated images per class; genlab's classifier network (the feature
CNN, trained from scratch for --steps steps of batch 64, random 2-pixel shifts and flips) is trained on

    real         the real images alone (the same for every family of that size and seed)
    real+gen     the real images (repeated to --real-share of the set, half by default) and the family's
                 generated images
    gen (CAS)    the generated images alone

and scored on the 10,000 real test images. The figures are mean and sample std over the seeds; the gain is
real+gen minus real, per seed, then averaged. The issue's target: a gain >= 2 points on Fashion-MNIST with the
best family; the losing families are reported too.

Families (conditional): gmm (a per-class Gaussian mixture in 32 principal components, fitted), vae (a
conditional conv VAE), cgan (a class-conditional DCGAN with a projection discriminator, the config's defaults),
cgan-cpu (the cgan with the cpu preset, as `genlab train cgan` trains it), cgan-diffaug (the same with
DiffAugment), ddpm (class-conditional, the cpu preset, sampled with 10 DPM-Solver++(2M) steps at guidance 2),
ddpm-g1 (the same at guidance 1, no guidance) and flow (the cpu preset with a class-conditional prior).
Each neural family trains for --budget CPU-seconds at most.

    .venv/bin/python benchmarks/apps_augment.py                        # about 35 CPU-minutes, 1 thread
    .venv/bin/python benchmarks/apps_augment.py --jobs 2               # the (size, seed) runs two at a time
    .venv/bin/python benchmarks/apps_augment.py --smoke --out /tmp/augment.json --images /tmp
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on CPU time

import argparse
import functools
import multiprocessing
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from _common import ROOT, CpuTimer, write_result

from genlab.models.recipes import recipe

_CGAN_CPU = recipe("cgan", "cpu")  # what `genlab train cgan` trains with (genlab/models/recipes.py)
_DDPM_CPU = recipe("ddpm", "cpu")
_FLOW_CPU = recipe("flow", "cpu")
FAMILIES = {  # name: (model options, train options)
    "gmm": ({"components": 2, "pca_components": 32, "conditional": True}, {"steps": 1}),
    "vae": ({"arch": "conv", "channels": (32, 64), "hidden": (256,), "latent_dim": 16, "conditional": True},
            {"steps": 3000, "batch_size": 64, "lr": 1e-3}),
    "cgan": ({}, {"steps": 3000, "batch_size": 64}),
    # the cgan as `genlab train cgan` trains it (the cpu preset, genlab/models/recipes.py), and the same with
    # DiffAugment on D's inputs, the usual remedy for a GAN on few images (Zhao et al. 2020)
    "cgan-cpu": (_CGAN_CPU.model, {**_CGAN_CPU.train, "steps": 10**6}),
    "cgan-diffaug": ({**_CGAN_CPU.model, "diffaug": "color,translation,cutout"}, {**_CGAN_CPU.train, "steps": 10**6}),
    # class-conditional ddpm with its cpu preset (classifier-free guidance 2); 10 DPM-Solver++(2M) steps instead of
    # 20 halve the cost of generating (about 9 CPU-ms per image and network call on 1 thread)
    "ddpm": ({**_DDPM_CPU.model, "conditional": True, "sample_steps": 10}, {**_DDPM_CPU.train, "steps": 10**6}),
    # the same sampled without guidance (w = 1, the conditional model itself): more varied images, half the cost
    "ddpm-g1": ({**_DDPM_CPU.model, "conditional": True, "sample_steps": 10, "guidance": 1.0},
                {**_DDPM_CPU.train, "steps": 10**6}),
    # the flow with its cpu preset and a class-conditional top prior (docs/FLOWS.md, "Class-conditional"), sampled at
    # the preset's temperature 0.7
    "flow": ({**_FLOW_CPU.model, "conditional": True}, {**_FLOW_CPU.train, "steps": 10**6}),
}
# the genlab family of a name that is not one
FAMILY_OF = {"cgan-cpu": "cgan", "cgan-diffaug": "cgan", "ddpm-g1": "ddpm"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 100], help="real images per class")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--families", nargs="+", default=["gmm", "vae", "cgan"], choices=list(FAMILIES))
    p.add_argument("--generated", type=int, default=500, help="generated images per class")
    p.add_argument("--steps", type=int, default=400, help="classifier optimizer steps")
    p.add_argument("--budget", type=float, default=120.0, help="CPU-seconds at most per neural model")
    p.add_argument("--smoke", action="store_true", help="one size (10), one seed, 50-step classifiers, 20 s models")
    p.add_argument("--name", default="apps_augment", help="result name (default file benchmarks/results/NAME.json)")
    p.add_argument("--out", type=Path, default=None, help="result JSON somewhere else")
    p.add_argument("--images", type=Path, default=ROOT / "docs" / "images" / "apps", help="picture folder")
    p.add_argument("--real-share", type=float, default=None,
                   help="the real images' share of the mixed set (default: genlab.eval.cas.REAL_SHARE, 0.5)")
    p.add_argument("--jobs", type=int, default=1,
                   help="(size, seed) runs at once, each in its own 1-thread process (budgets are CPU time)")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be >= 1, got {args.jobs}")
    return args


def trained(family: str, data, seed: int, budget: float):
    from genlab.config import DataConfig, RunConfig, TrainConfig
    from genlab.runs import train

    options, train_options = FAMILIES[family]
    config = RunConfig(FAMILY_OF.get(family, family), dict(options), DataConfig(name=data.name),
                       TrainConfig(**{"batch_size": 64, "lr": 2e-4, "threads": 1, "progress": False, "log_every": 1000,
                                      "seed": seed, "time_budget": budget, "budget_clock": "cpu", **train_options}))
    with CpuTimer() as t:
        result = train(config, None, data=data)
    return result.model.eval(), round(t.cpu, 1), result.step


def mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.mean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "values": [round(v, 4) for v in values]}


@functools.lru_cache(maxsize=1)
def fashion():
    """(train, test) Fashion-MNIST, loaded once per process."""
    from genlab.data import load_data

    return load_data("fashion-mnist", split="train"), load_data("fashion-mnist", split="test")


def one_seed(size: int, seed: int, args: argparse.Namespace, picture: bool) -> dict:
    """Everything of one (size, seed): the real-only accuracy, each family's scores and costs, and (when
    `picture`) each family's picture of real and generated images. Runs in a worker process under --jobs."""
    from genlab.apps.augment import generated_images
    from genlab.eval.cas import train_and_score
    from genlab.viz.grid import save_grid

    torch.set_num_threads(1)
    train, test = fashion()
    k = train.num_classes
    real = train.per_class(size, torch.Generator().manual_seed(seed))
    with CpuTimer() as t:
        real_acc = train_and_score(real.x, real.y, test.x, test.y, num_classes=k, seed=seed, steps=args.steps,
                                   hflip=True)
    print(f"{size}/class seed {seed}: real only {real_acc:.4f} ({t.cpu:.0f} CPU-s)", flush=True)
    out: dict = {"real": real_acc, "scores": {}, "cost": {}, "pictures": []}
    for family in args.families:
        model, cpu, steps = trained(family, real, seed, args.budget)
        with CpuTimer() as g:
            gx, gy = generated_images(model, args.generated, generator=torch.Generator().manual_seed(seed))
        both = train_and_score(*_balanced(real, gx, gy, args.real_share), test.x, test.y, num_classes=k, seed=seed,
                               steps=args.steps, hflip=True)
        cas = train_and_score(gx, gy, test.x, test.y, num_classes=k, seed=seed, steps=args.steps, hflip=True)
        out["scores"][family] = {"real+gen": both, "gen (CAS)": cas, "gain": both - real_acc}
        out["cost"][family] = {"training CPU-s": cpu, "steps": steps, "generating CPU-s": round(g.cpu, 1)}
        print(f"{size}/class seed {seed} {family}: real+gen {both:.4f} (gain {100 * (both - real_acc):+.2f}), "
              f"CAS {cas:.4f}", flush=True)
        if picture:
            rows = []
            for c in range(k):
                rows += [real.x[real.y == c][:8], gx[gy == c][:8]]
            path = args.images / f"augment_{family}_{size}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_grid(torch.cat(rows).float() / 255, path, nrow=8, scale=2)
            out["pictures"].append(str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path))
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.real_share is None:
        from genlab.eval.cas import REAL_SHARE

        args.real_share = REAL_SHARE
    if args.smoke:
        args.sizes, args.seeds, args.steps, args.budget, args.generated = [10], [0], 50, 20.0, 50
    torch.set_num_threads(1)
    # one task per (size, seed); the pictures come from the first seed of the largest size, whichever process runs it
    tasks = [(size, seed, seed == args.seeds[0] and size == args.sizes[-1]) for size in args.sizes
             for seed in args.seeds]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(one_seed, *zip(*[(size, seed, args, pic) for size, seed, pic in tasks])))
    else:
        done = [one_seed(size, seed, args, pic) for size, seed, pic in tasks]
    results = {(size, seed): r for (size, seed, _), r in zip(tasks, done)}
    figures: dict = {}
    pictures = [p for r in done for p in r["pictures"]]
    for size in args.sizes:
        runs = [results[size, seed] for seed in args.seeds]
        block = {"real only": mean_std([r["real"] for r in runs])}
        for family in args.families:
            block[family] = {key: mean_std([r["scores"][family][key] for r in runs])
                             for key in ("real+gen", "gen (CAS)", "gain")}
            block[family]["training"] = [r["cost"][family] for r in runs]
        gains = {f: block[f]["gain"]["mean"] for f in args.families}
        block["best family"] = max(gains, key=gains.get)
        block["best gain, points"] = round(100 * gains[block["best family"]], 2)
        figures[f"{size} real images per class"] = block
    best = max((figures[f"{s} real images per class"]["best gain, points"], s) for s in args.sizes)
    figures["best gain, points (size)"] = {"points": best[0], "per class": best[1]}
    figures["target (gain >= 2 points with the best family) met"] = best[0] >= 2.0
    figures["pictures"] = pictures
    figures["settings"] = {"generated per class": args.generated, "classifier steps": args.steps,
                           "real share of the mixed set": args.real_share,
                           "classifier batch": 64, "model budget CPU-s": args.budget, "seeds": args.seeds,
                           "jobs": args.jobs, "families": {f: FAMILIES[f] for f in args.families},
                           "cpu capability": torch.backends.cpu.get_cpu_capability()}
    write_result(args.name, figures, threads=1, path=args.out,
                 headline={"figure": "best gain, points (size)", "target": "gain >= 2 points on Fashion-MNIST",
                           "met": bool(best[0] >= 2.0)},
                 notes="Fashion-MNIST; accuracies are fractions of the 10,000 real test images; each family is "
                       "trained on exactly the real images of its size and seed")


def _balanced(real, gx, gy, real_share: float):
    from genlab.eval.cas import balanced

    return balanced(real.x, real.y, gx, gy, real_share)


if __name__ == "__main__":
    main()
