"""The evaluation protocol: what every number was measured under, saved next to it in JSON.

A result file is {"metrics": {...}, "protocol": {...}}; metrics over several seeds are
{"name": {"mean", "std", "n", "values"}} with the sample standard deviation (ddof=1; 0 for one seed).

`evaluate_samples` is the one call that turns generated images into every sample metric under this
protocol (FID, KID, precision/recall, density/coverage with the chosen feature network; Inception Score
and class accuracy with the dataset's genlab classifier).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch


@dataclass
class Protocol:
    """How a set of numbers was measured.

    Args:
        dataset, split: the real reference images.
        n_real, n_fake: sample counts on each side.
        features: the feature network's name, e.g. "genlab-mnist classifier".
        feature_hash: its recipe hash (genlab classifiers) or its file hash (Inception).
        feature_weights_hash: sha256 (16 hex digits) of its weights: two networks trained by one recipe on
            two machines differ here (empty in results written before genlab recorded it).
        feature_dim: its feature dimension.
        resize: how images were resized for it ("none (native resolution)", "299x299 bilinear, antialias").
        real_subset: "all" or "random (seed s)" when the split has more images than n_real.
        seeds: sampling seeds (one result per seed; several give mean and std).
        kid_subset_size, kid_subsets: KID's subsets.
        k_pr, k_dc: neighbours for precision/recall and density/coverage.
        judge: the classifier behind Inception Score and class accuracy (empty when none).
        genlab_version, hardware: software and machine.
        wall_time_s: seconds the whole evaluation took (sampling included when it was part of it).
        date: UTC ISO time.
        extra: anything else (the run, sampling options, training budget).
    """

    dataset: str
    split: str
    n_real: int
    n_fake: int
    features: str
    feature_hash: str
    feature_weights_hash: str = ""
    feature_dim: int = 0
    resize: str = "none (native resolution)"
    real_subset: str = "all"
    seeds: list[int] = field(default_factory=lambda: [0])
    kid_subset_size: int = 0
    kid_subsets: int = 0
    k_pr: int = 3
    k_dc: int = 5
    judge: str = ""
    genlab_version: str = ""
    hardware: dict[str, Any] = field(default_factory=dict)
    wall_time_s: float = 0.0
    date: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Protocol:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"protocol has unknown field(s) {unknown}; valid: {sorted(names)}")
        return cls(**d)


def hardware(device: str | torch.device = "cpu") -> dict[str, Any]:
    """CPU model, cores, torch threads and version, and the GPU when one was used."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    out = {"cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
           "device": str(device), "python": platform.python_version()}
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def base_protocol(**kwargs: Any) -> Protocol:
    """A Protocol stamped with the genlab version, the hardware and the date."""
    from genlab.version import __version__

    device = kwargs.pop("device", "cpu")
    return Protocol(genlab_version=__version__, hardware=hardware(device),
                    date=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(), **kwargs)


# --- several seeds ----------------------------------------------------------------------------------
def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per metric over seeds: {"mean", "std" (ddof=1, 0 for one value), "n", "values"}; non-numbers
    and NaNs are skipped."""
    keys: list[str] = []
    for r in results:
        keys += [k for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in keys]
    out = {}
    for k in keys:
        vals = [float(r[k]) for r in results if isinstance(r.get(k), (int, float)) and not math.isnan(float(r[k]))]
        if not vals:
            continue
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
        out[k] = {"mean": mean, "std": std, "n": len(vals), "values": vals}
    return out


def save_result(path: str | Path, metrics: dict[str, Any], protocol: Protocol) -> Path:
    """Write {"metrics", "protocol"} atomically to `path` (JSON)."""
    from genlab.io import atomic_write_json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"metrics": json.loads(json.dumps(metrics)), "protocol": protocol.to_json()})
    return path


def load_result(path: str | Path) -> tuple[dict[str, Any], Protocol]:
    """(metrics, Protocol) from a file written by save_result."""
    raw = json.loads(Path(path).read_text())
    if "metrics" not in raw or "protocol" not in raw:
        raise ValueError(f"{path} is not a genlab result (needs 'metrics' and 'protocol')")
    return raw["metrics"], Protocol.from_json(raw["protocol"])


# --- one call ---------------------------------------------------------------------------------------
def _judge(dataset: str, extractor: Any, data_dir, device, progress) -> Any:
    """The classifier used for IS and class accuracy: the extractor itself when it is one, else the
    dataset's genlab classifier when the dataset is labelled (None otherwise)."""
    from genlab.eval.classifier import FeatureClassifier, load_classifier

    if isinstance(extractor, FeatureClassifier):
        return extractor
    try:
        return load_classifier(dataset, data_dir=data_dir, device=device, progress=progress)
    except ValueError:
        return None


def evaluate_samples(fake_images: torch.Tensor, dataset: str, *, labels: torch.Tensor | None = None,
                     features: str = "classifier", n_real: int = 10000, split: str = "test",
                     data_dir: str | Path | None = None, device: str | torch.device = "cpu",
                     extractor: Any = None, seed: int = 0, kid_subsets: int = 100, k_pr: int = 3, k_dc: int = 5,
                     is_splits: int = 10, progress: Any = False, cache: bool = True) -> dict[str, Any]:
    """Every sample metric of `fake_images` against real images of `dataset`, with the protocol.

    Args:
        fake_images: (n, c, h, w) generated images in [0, 1].
        dataset: the real dataset ("mnist", ...).
        labels: (n,) the classes the samples were asked for (class-conditional models): adds
            "class_accuracy", the genlab classifier's agreement with them.
        features: "classifier" (the dataset's genlab classifier) or "inception" (FID Inception-v3).
        n_real: real images from `split` (all of them when the split has fewer).
        split: the real reference split ("test" by default: 10k for MNIST).
        extractor: a ready feature network (overrides `features`), e.g. a test stand-in.
        seed: seeds the KID subsets and the real subset.
        kid_subsets, k_pr, k_dc, is_splits: metric settings.
        cache: use the on-disk cache of real features.
        progress: a ProgressHook for the feature extraction ("features", "real features" batches), or a
            bool; when true, a classifier trained on first use shows its training.
    Returns:
        {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage", "inception_score",
         "inception_score_std", ["class_accuracy"], "protocol": {...}}; IS and class accuracy need a
        labelled dataset.
    """
    from genlab.eval import metrics as M
    from genlab.eval.features import batched, describe, get_extractor, real_features

    t0 = time.perf_counter()
    x = torch.as_tensor(fake_images)
    if x.ndim != 4:
        raise ValueError(f"fake_images must be (n, c, h, w), got shape {tuple(x.shape)}")
    if not torch.isfinite(x.float()).all():
        raise ValueError("fake_images contain NaN or inf; the model produced invalid samples")
    if labels is not None and len(labels) != len(x):
        raise ValueError(f"{len(x)} images but {len(labels)} labels")
    hook = progress if callable(progress) else None
    ext = extractor or get_extractor(features, dataset, data_dir=data_dir, device=device, progress=bool(progress))
    real = real_features(ext, dataset, split=split, n=n_real, seed=seed, data_dir=data_dir, cache=cache,
                         progress=hook)
    rf = real["features"]
    judge = _judge(dataset, ext, data_dir, device, bool(progress))
    logits = None
    if judge is ext:
        ff, logits = batched(judge.features_and_logits, x, judge, hook, "features")
    else:
        ff = batched(ext.features, x, ext, hook, "features")
        if judge is not None and tuple(x.shape[1:]) == tuple(judge.shape):
            logits = judge.logits(x)
    out: dict[str, Any] = {"fid": M.fid(rf, ff)}
    m = M.kid_subset_size(len(rf), len(ff))
    out["kid"], out["kid_std"] = M.kid(rf, ff, subset_size=m, subsets=kid_subsets,
                                       generator=torch.Generator().manual_seed(seed))
    out.update(M.manifold_metrics(rf, ff, k_pr=k_pr, k_dc=k_dc))
    if logits is not None:
        splits = max(1, min(is_splits, len(x)))
        out["inception_score"], out["inception_score_std"] = M.inception_score(logits, splits=splits)
        if labels is not None:
            out["class_accuracy"] = M.class_accuracy(logits, labels)
    d = describe(ext)
    n_total, split_size = len(rf), int(real["split_size"][0])
    protocol = base_protocol(dataset=dataset, split=split, n_real=n_total, n_fake=len(x), features=d["name"],
                             feature_hash=d["hash"], feature_weights_hash=d["weights_hash"],
                             feature_dim=int(rf.shape[1]), resize=d["resize"],
                             real_subset="all" if n_total == split_size else
                             f"random {n_total} of {split_size} (seed {seed})",
                             seeds=[seed], kid_subset_size=m, kid_subsets=kid_subsets, k_pr=k_pr, k_dc=k_dc,
                             judge="" if judge is None else
                             f"{judge.name} ({judge.hash}, weights {judge.weights_hash})",
                             device=device,
                             wall_time_s=round(time.perf_counter() - t0, 3))
    check = _fid_check(ext, dataset, split, real, data_dir, n_real, seed)
    out["fid_noise"], out["fid_blurred"] = check["noise_fid"], check["blurred_fid"]
    protocol.extra.update({"fid_reliable": check["reliable"], "fid_check": check["note"]})
    out["protocol"] = protocol.to_json()
    return out


def _fid_check(ext: Any, dataset: str, split: str, real: dict[str, torch.Tensor], data_dir: Any, n_real: int,
               seed: int) -> dict[str, Any]:
    """genlab.eval.references.fid_check on the first images of the protocol's real subset."""
    from genlab.data import load_data
    from genlab.eval.features import network_key
    from genlab.eval.references import CHECK_IMAGES, fid_check

    key = (network_key(ext), dataset, split, n_real, seed, str(data_dir))
    idx = real["index"][:CHECK_IMAGES]
    return fid_check(ext, dataset, lambda: load_data(dataset, split=split, data_dir=data_dir).images(idx), key=key)


METRIC_LABELS = {"fid": "FID", "kid": "KID", "precision": "precision", "recall": "recall", "density": "density",
                 "coverage": "coverage", "inception_score": "IS", "class_accuracy": "class acc."}


__all__ = ["METRIC_LABELS", "Protocol", "base_protocol", "evaluate_samples", "hardware", "load_result",
           "save_result", "summarize"]
