"""Evaluate a trained run under the protocol (`genlab eval RUN`) and print results as tables.

`evaluate_run` samples from the run (per seed), computes every sample metric (genlab/eval/protocol.py),
plus reconstruction metrics for models that reconstruct and the likelihood for models that have one,
and writes RUN/metrics.json = {"metrics": {name: {"mean", "std", "n", "values"}}, "protocol": {...}}.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch

# Display name, scale factor, digits, higher-is-better (None: neither).
COLUMNS: dict[str, tuple[str, float, int, bool | None]] = {
    "fid": ("FID", 1.0, 2, False),
    "kid": ("KID", 1.0, 4, False),
    "precision": ("precision", 1.0, 3, True),
    "recall": ("recall", 1.0, 3, True),
    "density": ("density", 1.0, 3, True),
    "coverage": ("coverage", 1.0, 3, True),
    "inception_score": ("IS", 1.0, 2, True),
    "class_accuracy": ("class acc.", 1.0, 3, True),
    "mse": ("recon. MSE", 1.0, 4, False),
    "psnr": ("PSNR dB", 1.0, 2, True),
    "ssim": ("SSIM", 1.0, 3, True),
    "nll_nats": ("NLL nats", 1.0, 2, False),
    "bits_per_dim": ("bits/dim", 1.0, 3, False),
    "sample_seconds_per_1k": ("s / 1k samples", 1.0, 2, None),
}


def draw_samples(model: Any, n: int, *, seed: int, batch_size: int = 500, options: dict[str, Any] | None = None,
                 progress: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples (n, c, h, w) in [0, 1] and the labels they were drawn for (classes in turn for a
    conditional model, else None), drawn in batches from one generator seeded by `seed`.

    `progress`: a ProgressHook (genlab/models/base.py), called ("sample", done, batches) and, for a model
    that samples in a loop, with its inner stages ("step", "pixel")."""
    import inspect

    from genlab.models import require
    from genlab.models.base import check_sampling_options

    require(model, "sample", "sample")
    g = torch.Generator(device=model.device).manual_seed(seed)
    labels = model.labels_for(n)  # every class in turn across all the batches (None: unconditional)
    options = dict(options or {})
    check_sampling_options(model, options)
    if progress and "progress" in inspect.signature(model.sample).parameters:  # its own batches are ours
        options["progress"] = lambda stage, done, total: stage != "batch" and progress(stage, done, total)
    xs, ys, batches = [], [], -(-n // batch_size)
    if progress:
        progress("sample", 0, batches)
    with torch.no_grad():
        for i in range(0, n, batch_size):
            cond = None if labels is None else labels[i:i + batch_size]
            out = model.sample(min(batch_size, n - i), cond=cond, generator=g, **options)
            xs.append(out.x.float().cpu())
            ys.append(None if out.y is None else out.y.cpu())
            if progress:
                progress("sample", len(xs), batches)
    return torch.cat(xs).clamp(0, 1), (None if ys[0] is None else torch.cat(ys))


@torch.no_grad()
def reconstruction_on(model: Any, data: Any, n: int, batch_size: int = 500) -> dict[str, float]:
    """MSE, PSNR and SSIM of the model's reconstructions of the first n images of `data`."""
    from genlab.eval.metrics import mse, psnr, ssim

    m = min(n, len(data))
    x, y = data.images(slice(0, m)), data.labels(slice(0, m))
    parts = {"mse": [], "psnr": [], "ssim": []}
    for i in range(0, m, batch_size):
        xb = x[i:i + batch_size].to(model.device)
        yb = None if y is None else y[i:i + batch_size].to(model.device)
        x_hat = model.reconstruct(xb, yb).float().cpu().clamp(0, 1)
        xb = xb.cpu()
        parts["mse"].append(mse(x_hat, xb))
        parts["psnr"].append(psnr(x_hat, xb))
        parts["ssim"].append(ssim(x_hat, xb))
    return {k: float(torch.cat(v).mean()) for k, v in parts.items()}


def evaluate_model(model: Any, dataset: str, *, data_dir: str | None = None, binarized: str = "none",
                   features: str = "classifier", n: int = 10000, n_real: int = 10000, split: str = "test",
                   seeds: Sequence[int] = (0,), n_recon: int = 1000, n_likelihood: int = 1000, iw_k: int = 1,
                   sample_options: dict[str, Any] | None = None, extractor: Any = None,
                   progress: bool = False, likelihood_per_example: bool = False
                   ) -> tuple[dict[str, dict[str, Any]], Any]:
    """All metrics of a model (per seed, then mean/std) and the Protocol.

    Args:
        model: a GenerativeModel in eval mode.
        dataset, data_dir: the data it was trained on.
        binarized: the run's binarization (for the likelihood).
        features: "classifier" or "inception".
        n: generated samples per seed; n_real: real reference images from `split` (which reconstruction
            and likelihood use too: "train" evaluates data without a test split, on images it trained on).
        seeds: sampling seeds.
        n_recon, n_likelihood: images of `split` for reconstruction and likelihood (0 = skip).
        iw_k: importance samples for the likelihood bound (1 = ELBO).
        sample_options: passed to model.sample (e.g. a sampler's steps).
        extractor: a ready feature network (overrides `features`).
        progress: bars of the sampling and feature extraction on a terminal (True), or a ProgressHook.
        likelihood_per_example: keep every test image's nats in protocol.extra["likelihood_nats"] (the
            bench's likelihood table averages all families over the same images).
    """
    from genlab.eval.protocol import Protocol, evaluate_samples, summarize

    if n < 2:
        raise ValueError(f"n (generated samples) must be >= 2, got {n}")
    if not seeds:
        raise ValueError("give at least one seed")
    t0 = time.perf_counter()
    per_seed: list[dict[str, Any]] = []
    protocol = None
    from genlab.viz.progress import Bars

    for seed in seeds:
        ts = time.perf_counter()
        with Bars(f"eval {model.family} seed {seed}", progress) as bars:
            x, labels = draw_samples(model, n, seed=seed, options=sample_options, progress=bars)
            sample_s = time.perf_counter() - ts
            res = evaluate_samples(x, dataset, labels=labels, features=features, n_real=n_real, split=split,
                                   data_dir=data_dir, extractor=extractor, seed=seed, progress=bars)
        protocol = res.pop("protocol")
        res["sample_seconds_per_1k"] = sample_s * 1000.0 / n
        per_seed.append(res)
    extra: dict[str, Any] = {}
    from genlab.models.base import capabilities

    caps = capabilities(model)
    test = None
    if ("reconstruct" in caps and n_recon > 0) or ("likelihood" in caps and n_likelihood > 0):
        from genlab.data import load_data

        test = load_data(dataset, split=split, data_dir=data_dir)  # the protocol's split, for every figure
    extra_labels: dict[str, Any] = {}
    if "reconstruct" in caps and n_recon > 0 and test is not None:
        from genlab.eval.metrics import ssim_note

        extra.update(reconstruction_on(model, test, n_recon))
        extra_labels["ssim_window"] = ssim_note(*test.shape[1:])
    if "likelihood" in caps and n_likelihood > 0 and test is not None:
        from genlab.eval.likelihood import evaluate_likelihood

        m = min(n_likelihood, len(test))
        # no labels: a conditional model scores the marginal -log p(x), the scale every family shares
        lik = evaluate_likelihood(model, test.images(slice(0, m)), None, k=iw_k,
                                  binarized=binarized, generator=torch.Generator().manual_seed(0),
                                  per_example=likelihood_per_example)
        extra.update({k: v for k, v in lik.items() if isinstance(v, float)})
        extra_labels.update({k: v for k, v in lik.items() if not isinstance(v, float)})
    metrics = summarize([{**r, **extra} for r in per_seed])
    proto = Protocol.from_json(protocol)
    proto.seeds = list(seeds)
    proto.wall_time_s = round(time.perf_counter() - t0, 2)
    proto.extra.update({"sample_options": sample_options or {}, "n_recon": min(n_recon, len(test)) if test else 0,
                        **extra_labels})
    return metrics, proto


def fmt(stat: dict[str, Any] | float | None, key: str, with_std: bool = True) -> str:
    """'12.34 ± 0.56' in the column's scale, '-' for missing."""
    if stat is None:
        return "-"
    _, scale, digits, _ = COLUMNS.get(key, (key, 1.0, 3, None))
    if isinstance(stat, dict):
        mean, std, n = stat["mean"] * scale, stat["std"] * scale, stat.get("n", 1)
        varies = n > 1 and len(set(stat.get("values", [0, 1]))) > 1  # seed-independent metrics show no ±
        return f"{mean:.{digits}f} ± {std:.{digits}f}" if with_std and varies else f"{mean:.{digits}f}"
    return f"{float(stat) * scale:.{digits}f}"


def heading(key: str, protocol: Any) -> str:
    """A column heading naming the feature network where it matters, e.g. 'FID (genlab-mnist classifier)'."""
    name = COLUMNS.get(key, (key,))[0]
    if key in ("fid", "kid", "precision", "recall", "density", "coverage"):
        return f"{name} ({protocol.features})"
    if key in ("inception_score", "class_accuracy") and protocol.judge:
        return f"{name} ({protocol.judge.split(' (')[0]})"
    return name


def network_id(protocol: Any) -> str:
    """'recipe HASH, weights HASH' for a protocol (or its JSON dict), just the hash when they are one."""
    get = protocol.get if isinstance(protocol, dict) else lambda k, d=None: getattr(protocol, k, d)
    h, w = get("feature_hash", ""), get("feature_weights_hash", "")
    return h if not w or w == h else f"recipe {h}, weights {w}"


WITHHELD = ("fid", "kid")  # what a failed feature check (genlab/eval/references.py) withholds


def fid_withheld(protocol: Any) -> bool:
    """True when the protocol's feature check found that its features cannot tell noise from the data."""
    extra = protocol.get("extra", {}) if isinstance(protocol, dict) else getattr(protocol, "extra", {})
    return extra.get("fid_reliable") is False


def cell(metrics: dict[str, Any], key: str, protocol: Any, with_std: bool = True) -> str:
    """fmt of one metric, or 'withheld' for FID and KID where the features failed the noise check."""
    if key in WITHHELD and key in metrics and fid_withheld(protocol):
        return "withheld"
    return fmt(metrics.get(key), key, with_std)


def fid_check_line(protocol: Any) -> str | None:
    """'(FID check: ...)' from the protocol, or None when it has none (older results)."""
    extra = protocol.get("extra", {}) if isinstance(protocol, dict) else getattr(protocol, "extra", {})
    note = extra.get("fid_check")
    return f"(FID check: {note})" if note else None


def metrics_table(metrics: dict[str, Any], protocol: Any) -> str:
    """A two-column text table of one result, then the protocol in one paragraph."""
    rows = [(heading(k, protocol), cell(metrics, k, protocol)) for k in COLUMNS if k in metrics]
    w = max(len(a) for a, _ in rows) if rows else 10
    lines = [f"{a:<{w}}  {b}" for a, b in rows]
    check = fid_check_line(protocol)
    if check:
        lines.append(check)
    if "likelihood_label" in protocol.extra:
        lines.append(f"(likelihood: {protocol.extra['likelihood_label']})")
    if "ssim" in metrics and "ssim_window" in protocol.extra:
        lines.append(f"(SSIM: {protocol.extra['ssim_window']})")
    seeds = ", ".join(map(str, protocol.seeds))
    lines.append(f"protocol: {protocol.n_fake} generated vs {protocol.n_real} real {protocol.dataset}/{protocol.split} "
                 f"images ({protocol.real_subset}); features {protocol.features} [{network_id(protocol)}], resize "
                 f"{protocol.resize}; seeds {seeds} (mean ± std over seeds); KID subsets {protocol.kid_subsets} x "
                 f"{protocol.kid_subset_size}; k = {protocol.k_pr} (P/R), {protocol.k_dc} (D/C); genlab "
                 f"{protocol.genlab_version}; {protocol.hardware.get('cpu', '')}; {protocol.wall_time_s:.1f} s")
    return "\n".join(lines)


__all__ = ["COLUMNS", "WITHHELD", "cell", "draw_samples", "evaluate_model", "fid_check_line", "fid_withheld", "fmt",
           "heading", "metrics_table", "network_id",
           "reconstruction_on"]
