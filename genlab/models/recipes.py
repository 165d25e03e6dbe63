"""Presets: the settings a family trains with when the user names none.

- "cpu" (what `genlab train` and `genlab bench` use unless told otherwise): the recipe that made each family
  good on a laptop CPU in about ten minutes on MNIST, found by the benchmarks named beside each recipe.
- "paper": the family's config defaults, which follow its paper, and TrainConfig's defaults.

A recipe is two dicts: model options (replacing the family config's defaults) and TrainConfig fields
(replacing TrainConfig's). On labelled data (a named dataset with classes, not cut to one class) the cpu preset
also sets the model options in CPU_LABELLED. Options the user gives always win over either preset. A family without a
recipe below trains with its defaults under both presets: they already are what works on a CPU.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

Preset = Literal["cpu", "paper"]
PRESETS: tuple[str, ...] = ("cpu", "paper")

_GAN_TRAIN = {"batch_size": 64, "ema_decay": 0.999}
_DIFFUSION_TRAIN = {"batch_size": 64, "lr": 1e-3, "warmup_steps": 100, "ema_decay": 0.995}

# family -> (model options, TrainConfig fields): the "cpu" preset
CPU: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # benchmarks/gan_mnist.py (docs/GANS.md): at 600 CPU-s FID 2.5-7 with all ten classes, where the
    # papers' settings give FID 18-32 and one class up to 9.5x as frequent as another
    "dcgan": ({"channels": (32, 64), "loss": "hinge", "spectral_norm": True, "d_norm": "none", "betas": (0.0, 0.9),
               "clusters": 50, "mode_seeking": 0.35}, _GAN_TRAIN),
    "wgan-gp": ({"channels": (32, 64), "n_critic": 1, "reg_every": 4, "lr_d": 3e-4, "lr_g": 3e-4,
                 "betas": (0.0, 0.9), "clusters": 50}, _GAN_TRAIN),
    "cgan": ({"channels": (32, 64), "mode_seeking": 0.35}, _GAN_TRAIN),
    # 300 CPU-s probes on MNIST (docs/TRAINING.md, "Presets"): with the papers' settings stylegan drew grainy
    # blobs and the MLP gan salt-and-pepper strokes with D winning (D(fake) 2e-5); these drew digits
    # stylegan's R1 every 4th D step (lazy regularization, StyleGAN2 uses 16): 6,188 steps in 600 CPU-s against
    # 4,938, classifier-FID 15.0 on 2,000 samples against 19.6 on 10,000 (docs/GANS.md, "The CPU recipes")
    # and it samples without its per-pixel noise (training keeps it): the leaderboard's own stylegan run of
    # 2026-12-05, 10,000 samples each, classifier-FID 12.96 against 15.96, coverage 0.43 against 0.31, clean
    # backgrounds instead of grain (docs/GANS.md, "The CPU recipes")
    "stylegan": ({"lr_d": 1e-3, "lr_g": 1e-3, "betas": (0.0, 0.99), "reg_every": 4, "clusters": 50,
                  "mode_seeking": 0.35, "sample_noise": False}, _GAN_TRAIN),
    # the MLP gan: wider G (256-512-1024) and D (512-256) and sampling at truncation 0.7, one 600 CPU-s
    # `genlab bench --families gan` probe on MNIST (docs/GANS.md, "The CPU recipes"): classifier-FID 5.8 at
    # psi 1 and 2.1 at psi 0.7 on 2,000 samples, against 14.4 (10,000 samples) for the 128-256 MLP; 1.9% of
    # samples were white-background blobs at psi 0.7 against 6.4% at psi 1
    "gan": ({"g_hidden": (256, 512, 1024), "d_hidden": (512, 256), "truncation": 0.7, "loss": "hinge",
             "spectral_norm": True, "d_norm": "none", "betas": (0.0, 0.9), "clusters": 50, "mode_seeking": 0.35},
            _GAN_TRAIN),
    # the Gaussian families draw the noise-free part of x (their density is unchanged): 2,000 samples on MNIST,
    # classifier-FID pca 67.9 -> 53.9, fa -> 55.7; gmm with 100 components 18.3 against 43.1 for 10 with noise
    # (a 208-358 CPU-s fit; docs/CLASSICAL.md, "Samples")
    "pca": ({"sample_noise": False}, {}),
    "fa": ({"sample_noise": False}, {}),
    "gmm": ({"components": 100, "sample_noise": False}, {}),
    # nb: 200 latent classes per class (a mixture of naive Bayes models per class, EM) with smoothing 0.05, the
    # best held-out likelihood of benchmarks/nb_latent_classes.py's option sets (fitted on 50k training images,
    # scored on the other 10k; docs/CLASSICAL.md, "Latent classes"); one `genlab bench --families nb --budget 10m`
    # probe: classifier-FID 29.0 against the leaderboard's 111.4 for naive Bayes itself, class agreement 0.81,
    # about 15 legible digits in 16 against none (speckled strokes against blobs), a 71 CPU-s fit
    "nb": ({"components": 200, "alpha": 0.05}, {}),
    # benchmarks/diffusion_quality.py (docs/DIFFUSION.md)
    "ddpm": ({}, _DIFFUSION_TRAIN),
    "ldm": ({}, _DIFFUSION_TRAIN),
    # benchmarks/apps_compress.py (docs/APPLICATIONS.md): with the config defaults a 10-minute run stayed at black
    # frames (the decoder's sigmoid saturated, the rate term winning); these reach 21 dB
    "cae": ({"channels": (16, 24, 32), "latent_channels": 16, "quantizer": "mixed"}, {"batch_size": 64, "lr": 2e-3}),
    # benchmarks/flow_mnist.py (docs/FLOWS.md) and benchmarks/pixelcnn_mnist.py (docs/PIXELCNN.md); the flow samples
    # at Glow's temperature 0.7: after 600 CPU-s FID 26.4 against 27.0 at T = 1, precision 0.52 against 0.40,
    # fewer broken strokes (docs/FLOWS.md, "Samples"); batch 32 against 64, one `genlab bench --families flow
    # --budget 10m` each: test 1.387 against 1.506 bits/dim (twice the steps), classifier-FID 25.6 against 27.0
    "flow": ({"temperature": 0.7}, {"batch_size": 32, "lr": 1e-3, "warmup_steps": 200, "grad_clip": 10.0}),
    # pixelcnn: lr 6e-3 against 1e-3, one `genlab bench --families pixelcnn --budget 10m` each (docs/PIXELCNN.md):
    # test 1.079 against 1.113 bits/dim, classifier-FID 29.7 against 32.1, precision 0.17 against 0.12; then batch 16
    # at lr 4e-3 against batch 32 at 6e-3 (the 600 CPU-s probes and the 8-bit hour, docs/PIXELCNN.md "Smaller
    # batches"), the same bench: 1.068 bits/dim, classifier-FID 23.9, recall 0.81 against 0.61
    "pixelcnn": ({}, {"batch_size": 16, "lr": 4e-3, "warmup_steps": 200, "grad_clip": 1.0, "ema_decay": 0.999}),
}


# family -> model options the cpu preset adds when the training data is labelled (`labelled` below)
CPU_LABELLED: dict[str, dict[str, Any]] = {
    # Glow's class-conditional prior: one `genlab bench --families flow --budget 10m` each, side by side (docs/FLOWS.md,
    # "Class-conditional"): classifier-FID 9.65 against 25.99, coverage 0.438 against 0.118, about 65 legible
    # digits in 100 against 40; the likelihood reported is the marginal one, on the same scale
    "flow": {"conditional": True},
    # class-conditional with classifier-free guidance 2 (the family's defaults): one `genlab bench --families ddpm
    # --budget 10m` each, side by side on one machine (docs/DIFFUSION.md, "The cpu preset on labelled data"):
    # 1,105 steps each, classifier-FID 2.46 against 11.46, precision 0.77 against 0.56, 16 legible digits in 16
    # against about 9; sampling costs twice as much (a conditional and an unconditional pass per step)
    "ddpm": {"conditional": True},
    # the class embedding in every gated layer, the same probe side by side (docs/PIXELCNN.md, "The cpu preset on
    # labelled data"): 2,211 against 2,197 steps, classifier-FID 15.3 against 27.1, coverage 0.20 against 0.08, about
    # 8 legible digits in 16 against 4; the same 1.073 bits/dim (the marginal over the labels against -log p(x)).
    # Then classifier-free guidance (docs/PIXELCNN.md, "Guidance"): trained with cond_drop 0.1 and sampled at w 1.5,
    # 2,000 samples each: classifier-FID 13.2 against 15.3 for the conditional model without it (18.0 for the same
    # run at w 1), class agreement 0.70 against 0.62, the same 1.074 bits/dim; sampling costs twice as much
    "pixelcnn": {"conditional": True, "cond_drop": 0.1, "guidance": 1.5},
    # a Gaussian prior on the codes per class (classical/class_prior.py), the same components and codes:
    # benchmarks/classical_conditional.py, 10,000 samples of each (docs/CLASSICAL.md, "Class-conditional priors"):
    # classifier-FID pca 26.0 against 54.0, fa 34.5 against 55.7, svd 24.7 against 53.3; blurry but mostly legible
    # digits against blobs, and a slightly better likelihood (pca 7.006 against 7.042 bits/dim, the marginal)
    "pca": {"conditional": True},
    "fa": {"conditional": True},
    "svd": {"conditional": True},
    # one mixture per class, 30 components each: one `genlab bench --families gmm --budget 10m` probe
    # (docs/CLASSICAL.md, "gmm on labelled data"): classifier-FID 15.8 against 17.7 for the 100 components of all
    # the data, 6.957 against 6.970 bits/dim, class agreement 0.97, about 15 legible digits in 16 against 12, an
    # 80 CPU-s fit against 204; 100 per class drew sharper digits (FID 14.3) but scored 7.132 bits/dim (1,000 full
    # covariances overfit)
    "gmm": {"conditional": True, "components": 30},
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """What a preset gives one family: model options and TrainConfig fields (both may be empty)."""

    family: str
    preset: str
    model: dict[str, Any]
    train: dict[str, Any]


def labelled(data: Any) -> bool:
    """True when `data` (a dataset name or a DataConfig) is a named dataset with at least two classes and is not
    cut to one class (`classes`, the one-class anomaly detector, where a label says nothing): the data the cpu
    preset's CPU_LABELLED options are for. Path forms (npz:, folder:) count as unlabelled, as their labels are
    known only once their files are read."""
    from genlab.config import DataConfig
    from genlab.data import named_classes

    if data is None:
        return False
    name, keep = (data.name, data.classes) if isinstance(data, DataConfig) else (str(data), ())
    return named_classes(name) >= 2 and len(set(keep)) != 1


def recipe(family: str, preset: str = "cpu", data: Any = None) -> Recipe:
    """The preset's settings for `family`, trained on `data` (a dataset name or DataConfig; None: unknown, taken
    as unlabelled); unknown presets or families raise a one-line ValueError."""
    from genlab.models import family_class

    family_class(family)  # unknown family -> its error
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)} (cpu: the recipes that work on a "
                         "CPU in minutes, paper: the papers' settings)")
    model, train = CPU.get(family, ({}, {})) if preset == "cpu" else ({}, {})
    extra = CPU_LABELLED.get(family, {}) if preset == "cpu" and labelled(data) else {}
    return Recipe(family, preset, {**model, **extra}, dict(train))


def train_config(family: str, preset: str = "cpu", base: Any = None, **changes: Any) -> Any:
    """A TrainConfig: `base` (TrainConfig() by default) with the preset's fields, then `changes`."""
    from genlab.config import TrainConfig

    fields = {**recipe(family, preset).train, **changes}
    return dataclasses.replace(base if base is not None else TrainConfig(), **fields)


def run_config(family: str, data: Any = "mnist", preset: str = "cpu", model: dict[str, Any] | None = None,
               **train_changes: Any) -> Any:
    """A RunConfig for `family` on `data` (a name or a DataConfig) with the preset's options, then `model`'s
    and the TrainConfig fields in `train_changes`:

        run_config("dcgan", "mnist", time_budget=600, budget_clock="cpu")  # the CPU recipe, 10 CPU-minutes
        run_config("dcgan", "mnist", preset="paper")                         # DCGAN as published
        run_config("flow", "mnist")  # on labelled data the cpu preset's flow is class-conditional (CPU_LABELLED)
    """
    from genlab.config import DataConfig, RunConfig

    data = data if isinstance(data, DataConfig) else DataConfig(data)
    r = recipe(family, preset, data)
    return RunConfig(family, {**r.model, **(model or {})}, data,
                     train_config(family, preset, **train_changes))


__all__ = ["CPU", "CPU_LABELLED", "PRESETS", "Preset", "Recipe", "labelled", "recipe", "run_config", "train_config"]
