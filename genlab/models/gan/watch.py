"""GAN training diagnostics: mode coverage with the genlab classifier and a divergence watchdog.

`GANMonitor` is a trainer callback f(trainer, record), called after each log line. It adds to the
record (so to the progress bar and metrics.jsonl):

- coverage, coverage_kl, coverage_ratio (every `coverage_every` steps): the classifier's class histogram
  over a fixed batch of samples (fixed z, so checks are comparable): classes covered (those holding at
  least a tenth of their uniform share), KL(histogram || uniform) in nats, and max/min class frequency;
  for a conditional model also cond_acc, the fraction classified as the requested class; and (with the
  genlab classifier's features) diversity, the within-class spread of the samples relative to real
  images of the same class (about 1 when healthy, near 0 when G draws nearly one image per class), and
  precision and recall (k-NN manifolds in those features, Kynkaanniemi et al. 2019) against real images:
  precision is the fraction of samples that look real, recall the fraction of real images G can draw;
- watchdog: "ok", or the name of the problem it sees.

Problems (each must persist for `patience` checks in a row):
- "d_wins": D's loss pinned near 0 while G's loss climbs (ns, minimax, hinge): G's gradients vanish;
- "collapse": samples cover at most half of the classes, or their within-class diversity is below 0.3,
  or their recall stays below 0.02 for twice `patience` checks (G draws a few images per class, each
  varied enough to pass the diversity check, but almost none of the real images; a conditional G
  starts out that way, drawing one prototype per class, and on MNIST took up to 5 checks to spread
  out, hence the longer wait): mode collapse. It is only called once the samples look real (precision
  >= 0.3): early in training an unfinished G draws blobs that the classifier puts in one class, which
  is not a collapse yet.
With watchdog="warn" it emits a GANWarning naming the likely cause and the remedies; with "rollback" it
also restores the last healthy weights, EMA and optimizer states (kept in memory) and halves every
player's learning rate (the halving is stored in the schedulers, so checkpoints and resumes keep it).
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch

from genlab.eval.metrics import precision_recall

D_LOSS_FLOOR = 0.05  # "near 0" for D's loss (ns: log 2 + log 2 ~ 1.39 at the equilibrium)
DIVERSITY_FLOOR = 0.3  # samples of a class this much less varied than real ones: collapse inside classes
RECALL_FLOOR = 0.02  # samples that can draw almost none of the real images: a few images, repeated
PRECISION_FLOOR = 0.3  # below this, the samples do not look real yet: too early to call a collapse
MAX_ROLLBACKS = 3
LR_FACTOR = 0.5
COVERAGE_SEED = 2024


class GANWarning(RuntimeWarning):
    """A GAN training problem spotted by the watchdog."""


def load_classifier(dataset: str):
    """The cached genlab classifier of `dataset`. Raises LookupError when it is not built yet: building
    takes CPU-minutes, which must not come out of a GAN's training budget (or block on another process
    that is building it)."""
    from genlab.data import ALIASES
    from genlab.eval.classifier import classifier_dir, recipe_for, recipe_hash
    from genlab.eval.classifier import load_classifier as load

    name = ALIASES.get(dataset.lower(), dataset.lower())
    if not (classifier_dir(name, recipe_hash(name, recipe_for(name))) / "meta.json").exists():
        raise LookupError(f"the genlab classifier of {name!r} is not built yet; build it once with "
                          f"`genlab eval features {name}` (a few CPU-minutes) to get coverage checks")
    return load(name, progress=False)


def class_histogram(pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Class frequencies (num_classes,) summing to 1 from predicted labels (n,)."""
    counts = torch.bincount(pred.long().flatten().cpu(), minlength=num_classes).double()
    return counts / counts.sum().clamp_min(1)


def kl_to_uniform(p: torch.Tensor) -> float:
    """KL(p || uniform) in nats for a probability vector p (num_classes,) summing to 1."""
    nz = p[p > 0]
    return float((nz * (nz * p.numel()).log()).sum())


def coverage_stats(pred: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Classes covered (frequency >= 0.1 / K), KL(freq || uniform) in nats, and max/min frequency."""
    p = class_histogram(pred, num_classes)
    out = {"coverage": int((p >= 0.1 / num_classes).sum()), "coverage_kl": round(kl_to_uniform(p), 5)}
    if p.min() > 0:
        out["coverage_ratio"] = round(float(p.max() / p.min()), 4)
    return out


def mean_pairwise_distance(f: torch.Tensor) -> float:
    return float(torch.pdist(f.float()).mean())


def class_diversity(f_fake: torch.Tensor, pred: torch.Tensor, f_real: torch.Tensor, y_real: torch.Tensor,
                    num_classes: int) -> float | None:
    """Mean over classes of (mean pairwise feature distance of the samples classified as the class) /
    (the same for real images of the class): about 1 for a healthy generator, near 0 when it draws nearly
    the same image for a class (collapse inside classes, which the class histogram cannot see).
    Classes with fewer than 2 samples on either side are skipped; None when none is left."""
    ratios = []
    for k in range(num_classes):
        a, b = f_fake[pred == k], f_real[y_real == k]
        if len(a) >= 2 and len(b) >= 2:
            ratios.append(mean_pairwise_distance(a) / max(mean_pairwise_distance(b), 1e-12))
    return sum(ratios) / len(ratios) if ratios else None


class GANMonitor:
    """The trainer callback of the GAN families (see the module docstring)."""

    def __init__(self, config: Any, family: str):
        self.c, self.family = config, family
        self.classifier: Any = None
        self.classifier_error: str | None = None
        self.next_coverage = config.coverage_every
        self.d_wins = 0
        self.collapse = 0
        self.low_recall = 0  # checks in a row with recall below RECALL_FLOOR
        self.prev_g_loss: float | None = None
        self.snapshot: dict[str, Any] | None = None
        self.rollbacks = 0
        self.real: tuple[torch.Tensor, torch.Tensor] | None = None  # classifier features and labels of real images

    # --- mode coverage ---------------------------------------------------------------------------
    def get_classifier(self, trainer) -> Any:
        if self.classifier is None and self.classifier_error is None:
            name = trainer.config.data.name
            try:
                self.classifier = load_classifier(name)
            except Exception as e:  # noqa: BLE001 - whatever fails, training goes on without coverage
                self.classifier_error = f"{type(e).__name__}: {e}"
                warnings.warn(f"GAN mode coverage is off: no genlab classifier for dataset {name!r} "
                              f"({self.classifier_error})", GANWarning, stacklevel=2)
        return self.classifier

    @torch.no_grad()
    def coverage(self, trainer) -> dict[str, float]:
        """Coverage of a fixed batch of samples from the sampling model (EMA weights when kept)."""
        clf = self.get_classifier(trainer)
        if clf is None:
            return {}
        model = trainer.sampling_model()
        was_training = model.training
        model.eval()
        n, k = self.c.coverage_samples, trainer.data.num_classes or model.num_classes
        g = torch.Generator(device=model.device).manual_seed(COVERAGE_SEED)
        try:
            out = model.sample(n, generator=g)
            x, labels = out.x, out.y
        finally:
            model.train(was_training)
        if hasattr(clf, "features_and_logits"):
            feats, logits = clf.features_and_logits(x)
            pred = logits.argmax(1).to(x.device)
        else:
            feats, pred = None, torch.as_tensor(clf.predict(x)).to(x.device).long()
        k = max(k, int(pred.max()) + 1)
        out = coverage_stats(pred, k)
        if labels is not None:
            out["cond_acc"] = round(float((pred == labels).float().mean()), 4)
        real = self.real_features(trainer, clf) if feats is not None else None
        if real is not None:
            div = class_diversity(feats.cpu(), pred.cpu(), real[0], real[1], k)
            if div is not None:
                out["diversity"] = round(div, 4)
            precision, recall = precision_recall(real[0], feats.cpu(), k=3)
            out["precision"], out["recall"] = round(precision, 4), round(recall, 4)
        return out

    def real_features(self, trainer, clf) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Classifier features and labels of a fixed subset of the training images (computed once)."""
        if self.real is None and trainer.data.y is not None:
            n = min(self.c.coverage_samples, len(trainer.data))
            idx = torch.randperm(len(trainer.data), generator=torch.Generator().manual_seed(COVERAGE_SEED))[:n]
            self.real = (clf.features(trainer.data.images(idx)).cpu(), trainer.data.y[idx].cpu())
        return self.real

    # --- the watchdog ----------------------------------------------------------------------------
    def __call__(self, trainer, record: dict[str, Any]) -> None:
        step = record["step"]
        checked = False
        if self.c.coverage_every and (step >= self.next_coverage or step >= trainer.tc.steps):
            record.update(self.coverage(trainer))
            self.next_coverage = step + self.c.coverage_every
            checked = "coverage" in record
        problem = self.diagnose(record, checked, trainer.data.num_classes)
        record["watchdog"] = problem or "ok"
        if self.c.watchdog == "off":
            return
        if problem is None:
            if self.c.watchdog == "rollback" and self.d_wins == 0 and self.collapse == 0 and self.low_recall == 0:
                self.take_snapshot(trainer)
            return
        warnings.warn(self.message(problem, record), GANWarning, stacklevel=2)
        if self.c.watchdog == "rollback":
            record["watchdog"] = "rollback" if self.rollback(trainer) else problem
        self.d_wins = self.collapse = self.low_recall = 0

    def diagnose(self, record: dict[str, Any], coverage_checked: bool, num_classes: int) -> str | None:
        """The problem that has now persisted for `patience` checks, else None (updates the streaks)."""
        d, g = record.get("d/loss"), record.get("g/loss")
        if self.c.loss != "wgan" and d is not None and g is not None:
            climbing = self.prev_g_loss is not None and g >= self.prev_g_loss
            self.d_wins = self.d_wins + 1 if (d < D_LOSS_FLOOR and climbing) else 0
        if g is not None:
            self.prev_g_loss = g
        if coverage_checked and num_classes >= 2:
            looks_real = record.get("precision", 1.0) >= PRECISION_FLOOR  # else: not learned yet
            collapsed = record["coverage"] <= num_classes // 2 or record.get("diversity", 1.0) < DIVERSITY_FLOOR
            self.collapse = self.collapse + 1 if collapsed and looks_real else 0
            low = record.get("recall", 1.0) < RECALL_FLOOR
            self.low_recall = self.low_recall + 1 if low and looks_real else 0
        if self.d_wins >= self.c.patience:
            return "d_wins"
        if self.collapse >= self.c.patience or self.low_recall >= 2 * self.c.patience:
            return "collapse"
        return None

    def message(self, problem: str, r: dict[str, Any]) -> str:
        head = f"GAN watchdog ({self.family}, step {r['step']}): "
        if problem == "d_wins":
            return head + (
                f"the discriminator wins: D loss {r.get('d/loss')} is pinned near 0 (D(real) {r.get('d/d_real')}, "
                f"D(fake) {r.get('d/d_fake')}) while the G loss climbs to {r.get('g/loss')} for {self.c.patience} "
                "checks, so G's gradients vanish. Likely cause: D learns much faster than G. Remedies: lower "
                "--lr-d, add --spectral-norm or --r1 1 (with --d-norm none), --diffaug color,translation,cutout "
                "on small data, or --watchdog rollback.")
        return head + (
            f"mode collapse: the samples cover {r.get('coverage')} classes (KL to uniform {r.get('coverage_kl')} "
            f"nats; within-class diversity {r.get('diversity', 'n/a')} of the real images; recall "
            f"{r.get('recall', 'n/a')}) for {self.c.patience} checks. Likely cause: G settled on a few modes "
            "that fool D. Remedies: --mode-seeking 0.35 (conditional or --clusters models: punishes a G that "
            "ignores z), --mbstd 4 (lets D see a batch's lack of variety), lower --lr-g and --lr-d, --loss "
            "hinge with --spectral-norm, try the wgan-gp family, or --watchdog rollback.")

    def take_snapshot(self, trainer) -> None:
        """Copy the weights, EMA and optimizer states (in memory) as the last healthy state."""
        clone = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        ema = None if trainer.ema is None else {k: v.detach().clone() for k, v in trainer.ema.state_dict().items()}
        opts = {k: copy.deepcopy(o.state_dict()) for k, o in trainer.optimizers.items()}
        self.snapshot = {"step": trainer.step, "model": clone, "ema": ema, "optimizers": opts}

    def rollback(self, trainer) -> bool:
        """Restore the last healthy state and halve the learning rates; False when nothing to restore."""
        if self.rollbacks >= MAX_ROLLBACKS:
            warnings.warn(f"GAN watchdog: {MAX_ROLLBACKS} rollbacks done already; only warning from now on",
                          GANWarning, stacklevel=3)
            return False
        s = self.snapshot
        if s is not None:
            trainer.model.load_state_dict(s["model"])
            if trainer.ema is not None and s["ema"] is not None:
                trainer.ema.load_state_dict(s["ema"])
            for name, opt in trainer.optimizers.items():
                opt.load_state_dict(copy.deepcopy(s["optimizers"][name]))
        for name, opt in trainer.optimizers.items():
            for group in opt.param_groups:
                group["lr"] *= LR_FACTOR
            sched = trainer.schedulers[name]
            sched.base_lrs = [lr * LR_FACTOR for lr in sched.base_lrs]
        self.rollbacks += 1
        where = f"the weights of step {s['step']}" if s is not None else "nothing (no healthy state seen yet)"
        warnings.warn(f"GAN watchdog: rolled back to {where} and halved the learning rates "
                      f"(rollback {self.rollbacks} of at most {MAX_ROLLBACKS})", GANWarning, stacklevel=3)
        self.prev_g_loss = None
        return True
