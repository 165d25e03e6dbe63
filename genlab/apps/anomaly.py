"""Anomaly and out-of-distribution detection: a score per image, higher = less like the training data.

Four scores, chosen by what the model can do:

- "recon": the mean squared error of the model's reconstruction (families with `reconstruct`, or with
  encode/decode: ae, vae, pca, ...). Normal images reconstruct well, anomalies do not.
- "nll": the negative log-likelihood in bits/dim (families with a likelihood: flow, pixelcnn, vae (a bound),
  ddpm (a bound), the fitted Gaussian families). The obvious score, and the one that fails on
  Fashion-MNIST -> MNIST: a model trained on clothes gives the simpler digits a HIGHER likelihood
  (Nalisnick et al. 2019, "Do deep generative models know what they don't know?").
- "ratio": nll of the model minus nll of a background model trained on perturbed copies of the same data
  (Ren et al. 2019, "Likelihood ratios for out-of-distribution detection"): the background learns the
  low-level statistics both models share, and the difference keeps what is specific to the data.
  `perturb` makes the background's training images (a fraction of pixels replaced by random levels).
- "complexity": nll minus the image's length as a PNG, both in bits/dim (Serra et al. 2020, "Input
  complexity and out-of-distribution detection with likelihood-based generative models"): a generic
  lossless compressor measures how simple an image is, which is most of what the likelihood measures.

`separation` turns the scores of normal and anomalous images into AUROC and AUPRC (scikit-learn; the
anomalies are the positive class).
"""

from __future__ import annotations

import io
from typing import Any, Literal, get_args

import numpy as np
import torch

from genlab.apps.latents import check_images
from genlab.models.base import Latent, Likelihood, Reconstruct

Score = Literal["recon", "nll", "ratio", "complexity"]
SCORES: tuple[str, ...] = get_args(Score)


def _device(model: torch.nn.Module) -> torch.device:
    return next((t.device for t in [*model.parameters(), *model.buffers()]), torch.device("cpu"))


def _family(model: Any) -> str:
    return getattr(model, "family", type(model).__name__)


def default_score(model: Any) -> str:
    """"nll" for a model with a likelihood, else "recon"."""
    return "nll" if isinstance(model, Likelihood) else "recon"


def check_score(model: Any, score: str, background: Any = None) -> None:
    """ValueError naming what would work when `model` (and `background`) cannot give `score`."""
    from genlab.models import families_with

    family = _family(model)
    if score not in SCORES:
        raise ValueError(f"unknown anomaly score {score!r}; valid: {', '.join(SCORES)}")
    if score == "recon" and not isinstance(model, (Reconstruct, Latent)):
        can = sorted(set(families_with("reconstruct")) | set(families_with("latent")))
        raise ValueError(f"the recon score needs a model that reconstructs; a {family} model does not (families "
                         f"that do: {', '.join(can)}); use --score nll for a likelihood model")
    if score in ("nll", "ratio", "complexity") and not isinstance(model, Likelihood):
        raise ValueError(f"the {score} score needs a likelihood; a {family} model has none (families with one: "
                         f"{', '.join(families_with('likelihood'))}); use --score recon")
    if score == "ratio":
        if background is None:
            raise ValueError("the ratio score needs a background model: train the same family on perturbed data "
                             "(--perturb 0.2) and pass that run as --background")
        if not isinstance(background, Likelihood):
            raise ValueError(f"the background model must have a likelihood; a {_family(background)} model has none")
        if tuple(background.shape) != tuple(model.shape):
            raise ValueError(f"the background model's images are {tuple(background.shape)} but the model's are "
                             f"{tuple(model.shape)}; train the background on the same data")


@torch.no_grad()
def reconstruction_error(model: torch.nn.Module, x: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """(n,) mean squared error per pixel between images x (n, c, h, w) in [0, 1] and their reconstructions."""
    check_score(model, "recon")
    x = check_images(x, tuple(model.shape))
    device, was_training = _device(model), model.training
    model.eval()
    out = []
    try:
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size].to(device)
            xr = model.reconstruct(xb) if isinstance(model, Reconstruct) else model.decode(model.encode(xb))
            out.append((xr.float().reshape(xb.shape) - xb).pow(2).flatten(1).mean(1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0)


@torch.no_grad()
def nll_bits(model: torch.nn.Module, x: torch.Tensor, *, binarized: str = "none",
             generator: torch.Generator | None = None, batch_size: int = 250,
             nll_options: dict[str, Any] | None = None) -> torch.Tensor:
    """(n,) negative log-likelihood of each image in bits/dim, on the model's scale (genlab.eval.likelihood:
    dequantized for densities, binarized when the run was trained binarized; genlab.models.likelihood).
    nll_options: other options of the model's nll (ddpm's t_samples; `likelihood_options` names them)."""
    from genlab.models.likelihood import image_nats

    check_score(model, "nll")
    x = check_images(x, tuple(model.shape))
    was_training = model.training
    model.eval()
    try:
        nats, dims, _ = image_nats(model, x, binarized=binarized, generator=generator, batch_size=batch_size,
                                   nll_options=nll_options)
    finally:
        model.train(was_training)
    return nats / (dims * np.log(2.0))


def png_bits(x: torch.Tensor) -> torch.Tensor:
    """(n,) the length of each 8-bit image as a PNG file (Pillow, compression level 9), in bits/dim, every
    byte of the file counted: the complexity L(x) of Serra et al."""
    from PIL import Image

    x = torch.as_tensor(x)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"png_bits takes (n, 1 or 3, h, w) images, got {tuple(x.shape)}")
    levels = x if x.dtype == torch.uint8 else (x.float().clamp(0, 1) * 255).round().to(torch.uint8)
    arrays = levels.permute(0, 2, 3, 1).cpu().numpy()
    dims = x[0].numel()
    out = []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a).save(buf, format="PNG", compress_level=9)
        out.append(8.0 * buf.tell() / dims)
    return torch.tensor(out, dtype=torch.float64)


def perturb(x: torch.Tensor, rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 images with each pixel (all its channels) replaced, with probability `rate`, by uniformly random
    levels: the background model's training data of the likelihood-ratio score (Ren et al. 2019 use
    rate 0.1-0.3)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"the perturbation rate must be in [0, 1], got {rate}")
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise ValueError(f"perturb takes (n, c, h, w) uint8 images, got {x.dtype} {tuple(x.shape)}")
    n, c, h, w = x.shape
    hit = torch.rand(n, 1, h, w, generator=generator) < rate
    noise = torch.randint(0, 256, (n, c, h, w), generator=generator, dtype=torch.uint8)
    return torch.where(hit.to(x.device), noise.to(x.device), x)


def anomaly_scores(model: torch.nn.Module, x: torch.Tensor, score: str | None = None, *,
                   background: torch.nn.Module | None = None, binarized: str = "none",
                   generator: torch.Generator | None = None,
                   nll_options: dict[str, Any] | None = None) -> torch.Tensor:
    """(n,) float64 scores of images x (n, c, h, w; uint8 or [0, 1]), higher = more anomalous.

    Args:
        score: "recon", "nll", "ratio" or "complexity" (default: `default_score(model)`).
        background: the background model of the "ratio" score.
        binarized: how the run binarized its training data (likelihoods are then of binary images).
        generator: for dequantization, binarization and a bound's sampling.
        nll_options: other options of the model's nll, e.g. {"t_samples": 25} for ddpm's bound (fewer timesteps
            per image: faster, noisier); the background model gets the same.
    """
    score = score or default_score(model)
    check_score(model, score, background)
    if score == "recon":
        if nll_options:
            raise ValueError(f"the recon score uses no likelihood, so {', '.join(nll_options)} does nothing; leave "
                             "it out or use --score nll")
        return reconstruction_error(model, x).double()
    seed = None if generator is None else int(torch.randint(0, 2**62, (1,), generator=generator))
    g = lambda: None if seed is None else torch.Generator().manual_seed(seed)  # noqa: E731  same noise per model
    bits = nll_bits(model, x, binarized=binarized, generator=g(), nll_options=nll_options)
    if score == "nll":
        return bits
    if score == "ratio":
        return bits - nll_bits(background, x, binarized=binarized, generator=g(), nll_options=nll_options)
    return bits - png_bits(x)


def separation(normal: torch.Tensor, anomalous: torch.Tensor) -> dict[str, float]:
    """{"auroc", "auprc"} of telling anomalous from normal images by their scores (anomalies positive).
    0.5 AUROC is chance; below 0.5 the score ranks the anomalies as MORE normal."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    a, b = torch.as_tensor(normal).double().cpu().numpy(), torch.as_tensor(anomalous).double().cpu().numpy()
    if len(a) == 0 or len(b) == 0:
        raise ValueError("separation needs at least one normal and one anomalous image")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("some anomaly scores are not finite (NaN or inf); check the model's outputs")
    s, t = np.concatenate([a, b]), np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    return {"auroc": float(roc_auc_score(t, s)), "auprc": float(average_precision_score(t, s))}


def score_histogram(normal: torch.Tensor, anomalous: torch.Tensor, *, label: str,
                    names: tuple[str, str] = ("normal", "anomalous"), title: str = "") -> bytes:
    """A PNG: the two score distributions as overlaid histograms, with the AUROC in the title."""
    from genlab.viz.plots import histograms

    auroc = separation(normal, anomalous)["auroc"]
    return histograms({names[0]: normal, names[1]: anomalous}, xlabel=label,
                      title=f"{title + ': ' if title else ''}AUROC {auroc:.3f}")


__all__ = ["SCORES", "anomaly_scores", "check_score", "default_score", "nll_bits", "perturb", "png_bits",
           "reconstruction_error", "score_histogram", "separation"]
