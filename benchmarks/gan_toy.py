"""Toy GANs on a 1-D Gaussian mixture and the 2-D ring of 8 Gaussians: modes covered, and a plot.

Each configuration trains small MLP players (genlab/models/gan/toy.py, the image GANs' losses and
penalties) and draws 2500 samples from the generator; a mode counts as covered when it holds at least
a tenth of its uniform share of the samples within 3 standard deviations of its mean, and "near any
mode" is the fraction of samples within 3 standard deviations of some mode. The plot
(docs/images/gans/toy.png) shows the 1-D sample histograms against the true density and the 2-D
samples against the 8 means.

    .venv/bin/python benchmarks/gan_toy.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import time

import torch
from _common import ROOT, write_result

IMAGES = ROOT / "docs" / "images" / "gans"


def configs():
    from genlab.models.gan.toy import ToyConfig

    small = {"hidden": 64, "layers": 2, "steps": 2000}
    one_d = {
        "ns": ToyConfig(loss="ns", **small),
        "ns + R1 (gamma 1)": ToyConfig(loss="ns", r1=1.0, **small),
        "hinge + spectral norm": ToyConfig(loss="hinge", spectral_norm=True, **small),
        "wgan-gp (lambda 1)": ToyConfig(loss="wgan", gp=1.0, n_critic=5, betas=(0.5, 0.9), **small),
    }
    ring = {"steps": 16000, "batch_size": 512}
    two_d = {
        "ns": ToyConfig(loss="ns", lr=2e-4, **ring),
        "ns + R1 (gamma 1)": ToyConfig(loss="ns", r1=1.0, lr=2e-4, **ring),
        "hinge + spectral norm": ToyConfig(loss="hinge", spectral_norm=True, lr=1e-3, **ring),
        "wgan-gp (lambda 0.1)": ToyConfig(loss="wgan", gp=0.1, n_critic=5, lr=1e-3, betas=(0.5, 0.9), **ring),
    }
    return one_d, two_d


def run(mix, configs, seed: int) -> tuple[dict, dict]:
    from genlab.models.gan.toy import mode_counts, modes_covered, toy_samples, train_toy_gan

    figures, samples = {}, {}
    for name, cfg in configs.items():
        t = time.process_time()
        G, _ = train_toy_gan(mix, cfg, seed=seed)
        x = toy_samples(G, 2500, cfg.z_dim)
        counts, near = mode_counts(x, mix)
        figures[name] = {"modes covered": f"{modes_covered(x, mix)} / {mix.means.shape[0]}",
                         "samples per mode (within 3 std)": counts.tolist(), "near any mode": round(near, 3),
                         "steps": cfg.steps, "CPU s": round(time.process_time() - t, 1),
                         "options": {k: v for k, v in cfg.__dict__.items() if k != "betas"}}
        samples[name] = x
        print(name, figures[name], flush=True)
    return figures, samples


def plot(mix1, s1, mix2, s2, path) -> None:
    from genlab.viz.plots import _figure, figure_png

    pairs = list(zip(s1, s2))  # the two panels of a column: the same loss, each with its own settings
    fig = _figure(3.2 * len(pairs), 6.0)
    axes = fig.subplots(2, len(pairs))
    grid = torch.linspace(float(mix1.means.min()) - 2, float(mix1.means.max()) + 2, 600)
    density = torch.exp(-0.5 * ((grid[:, None] - mix1.means[:, 0]) / mix1.std) ** 2).mean(1) / (
        mix1.std * (2 * torch.pi) ** 0.5)
    for j, (name, name2) in enumerate(pairs):
        ax = axes[0, j]
        ax.hist(s1[name][:, 0].numpy(), bins=120, range=(float(grid[0]), float(grid[-1])), density=True,
                color="tab:blue", alpha=0.7, label="samples")
        ax.plot(grid.numpy(), density.numpy(), color="k", lw=1, label="data")
        ax.set_title(f"1-D: {name}", fontsize=9)
        ax.set_yticks([])
        ax = axes[1, j]
        x = s2[name2].numpy()
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, color="tab:blue")
        ax.scatter(mix2.means[:, 0].numpy(), mix2.means[:, 1].numpy(), s=30, marker="x", color="red")
        ax.set_xlim(-2.8, 2.8)
        ax.set_ylim(-2.8, 2.8)
        ax.set_aspect("equal")
        ax.set_title(f"ring of 8: {name2}", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(figure_png(fig))
    print(f"wrote {path}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    from genlab.models.gan.toy import mixture_1d, ring_2d

    one_d, two_d = configs()
    mix1, mix2 = mixture_1d(4, spacing=3.0, std=0.25), ring_2d(8, radius=2.0, std=0.02)
    f1, s1 = run(mix1, one_d, a.seed)
    f2, s2 = run(mix2, two_d, a.seed)
    plot(mix1, s1, mix2, s2, IMAGES / "toy.png")
    if not a.no_write:
        write_result("gan_toy", {"1-D mixture of 4 (spacing 3, std 0.25)": f1,
                                 "2-D ring of 8 (radius 2, std 0.02)": f2},
                     threads=1, notes="a mode is covered when it holds >= 1/10 of its uniform share of 2500 samples "
                                      "within 3 std; plot: docs/images/gans/toy.png")


if __name__ == "__main__":
    main()
