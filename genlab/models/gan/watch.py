"""The GAN divergence watchdog: a pure trainer callback f(trainer, record), called after each log line.

It adds `watchdog` to the record (so to the progress bar and metrics.jsonl): "ok", or the name of the
problem it sees. It reads the mode-coverage keys (coverage, diversity, precision, recall; see
genlab/eval/coverage.py) that the training layer's coverage probe, asked for by coverage_every > 0
(genlab/training/callbacks.py), adds to the same record before it; a model never loads the classifier.

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

D_LOSS_FLOOR = 0.05  # "near 0" for D's loss (ns: log 2 + log 2 ~ 1.39 at the equilibrium)
DIVERSITY_FLOOR = 0.3  # samples of a class this much less varied than real ones: collapse inside classes
RECALL_FLOOR = 0.02  # samples that can draw almost none of the real images: a few images, repeated
PRECISION_FLOOR = 0.3  # below this, the samples do not look real yet: too early to call a collapse
MAX_ROLLBACKS = 3
LR_FACTOR = 0.5


class GANWarning(RuntimeWarning):
    """A GAN training problem spotted by the watchdog."""


class GANWatchdog:
    """The trainer callback of the GAN families (see the module docstring)."""

    def __init__(self, config: Any, family: str):
        self.c, self.family = config, family
        self.d_wins = 0
        self.collapse = 0
        self.low_recall = 0  # checks in a row with recall below RECALL_FLOOR
        self.prev_g_loss: float | None = None
        self.snapshot: dict[str, Any] | None = None
        self.rollbacks = 0

    def __call__(self, trainer, record: dict[str, Any]) -> None:
        problem = self.diagnose(record, "coverage" in record, trainer.data.num_classes)
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
