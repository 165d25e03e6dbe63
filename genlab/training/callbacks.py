"""Trainer callbacks f(trainer, record), called after each log line, that the training layer attaches.

A model never imports evaluation code (its layer is below this one), so it only declares what it
wants: `callbacks_for(model)` gives the probes its config asks for (today: the mode-coverage probe, for
a config with `coverage_every > 0` and `coverage_samples`), then the model's own pure callbacks
(`model.train_callbacks()`, e.g. the GAN watchdog, which reads the probe's keys from the same record).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from genlab.eval import coverage

COVERAGE_SEED = 2024


class CoverageProbe:
    """Every `every` trainer steps (and at the last one), adds the mode coverage (genlab/eval/coverage.py)
    of a fixed batch of `samples` samples (fixed seed, so checks are comparable) from the sampling model
    (EMA weights when kept) to the record, judged by the dataset's genlab classifier (shipped with genlab
    for mnist, fashion-mnist and digits). Without one (another dataset whose classifier was never built,
    or unlabelled data) it warns once (CoverageWarning) and adds nothing: training goes on."""

    def __init__(self, every: int, samples: int):
        self.every, self.samples = every, samples
        self.next = every
        self.classifier: Any = None
        self.classifier_error: str | None = None
        self.real: tuple[torch.Tensor, torch.Tensor] | None = None  # classifier features and labels of real images

    def __call__(self, trainer, record: dict[str, Any]) -> None:
        step = record["step"]
        if step >= self.next or step >= trainer.tc.steps:
            record.update(self.coverage(trainer))
            self.next = step + self.every

    def state_dict(self) -> dict[str, int]:
        """Saved in checkpoints, so a resumed run checks coverage at the steps an uninterrupted one does."""
        return {"next": self.next}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.next = int(state["next"])

    def get_classifier(self, trainer) -> Any:
        if self.classifier is None and self.classifier_error is None:
            name = trainer.config.data.name
            if trainer.data.y is None:  # nothing to judge classes against: say so, never try to build one
                self.classifier_error = "unlabelled data"
                warnings.warn(f"mode coverage is off: dataset {name!r} has no labels, so no genlab classifier can "
                              "judge which classes the samples cover (set --coverage-every 0 to silence this)",
                              coverage.CoverageWarning, stacklevel=2)
                return None
            try:  # shipped weights (mnist, fashion-mnist, digits) or one built before: never trains here
                self.classifier = coverage.load_classifier(name)
            except Exception as e:  # noqa: BLE001 - whatever fails, training goes on without coverage
                self.classifier_error = f"{type(e).__name__}: {e}"
                reason = str(e) if isinstance(e, LookupError) else self.classifier_error
                warnings.warn(f"mode coverage is off for dataset {name!r}: {reason}", coverage.CoverageWarning,
                              stacklevel=2)
        return self.classifier

    @torch.no_grad()
    def coverage(self, trainer) -> dict[str, float]:
        clf = self.get_classifier(trainer)
        if clf is None:
            return {}
        model = trainer.sampling_model()
        was_training = model.training
        model.eval()
        n = self.samples
        g = torch.Generator(device=model.device).manual_seed(COVERAGE_SEED)
        try:
            out = model.sample(n, generator=g)  # a conditional model draws every class in turn
            x, labels = out.x, out.y
        finally:
            model.train(was_training)
        real = self.real_features(trainer, clf) if hasattr(clf, "features_and_logits") else None
        return coverage.coverage_of(x, clf, trainer.data.num_classes or model.num_classes, labels, real)

    def real_features(self, trainer, clf) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Classifier features and labels of a fixed subset of the training images (computed once)."""
        if self.real is None and trainer.data.y is not None:
            n = min(self.samples, len(trainer.data))
            idx = torch.randperm(len(trainer.data), generator=torch.Generator().manual_seed(COVERAGE_SEED))[:n]
            self.real = (clf.features(trainer.data.images(idx)).cpu(), trainer.data.y[idx].cpu())
        return self.real


def classifier_features(clf: Any, blocks: int = 2) -> Any:
    """phi(x): the activations of the first `blocks` conv blocks (conv-BN-ReLU, 2x2 max-pool between them) of a
    genlab classifier, in eval mode and frozen: (b, c, h, w) in [0, 1] -> (b, channels[blocks - 1], h / 2, w / 2)
    for blocks = 2. RGB images meet a greyscale classifier as their luma. The perceptual loss of SRGAN uses VGG's
    conv features (Ledig et al. 2017); these are genlab's nearest equivalent."""
    from torch import nn

    net = clf.net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    convs = [i for i, m in enumerate(net.body) if isinstance(m, nn.ReLU)]
    body = net.body[:convs[blocks - 1] + 1]
    c_in = net.body[0].in_channels
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)

    def phi(x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 3 and c_in == 1:
            x = (x * luma.to(x.device, x.dtype)).sum(1, keepdim=True)
        return body(x - 0.5)  # the classifier centres its inputs at 0.5 (ClassifierNet.features)

    return phi


def attach_feature_net(model) -> None:
    """Give a model whose config asks for a feature loss (`feature_weight > 0`, `feature_net` a dataset) the
    conv features of that dataset's genlab classifier (shipped for mnist, fashion-mnist, digits; never trained
    here): ValueError naming the datasets that have one otherwise."""
    if getattr(model.config, "feature_weight", 0) <= 0 or not hasattr(model, "use_features"):
        return
    from genlab.eval.classifier import available_classifier, shipped_datasets

    name = model.config.feature_net
    clf = available_classifier(name, device=model.device)
    if clf is None:
        raise ValueError(f"feature_net {name!r} has no genlab classifier on this machine; use one of "
                         f"{', '.join(shipped_datasets())}, or feature_weight 0")
    model.use_features(classifier_features(clf))


def callbacks_for(model) -> list:
    """The callbacks the trainer runs for `model`: the probes its config asks for, then its own."""
    out: list = []
    every = getattr(model.config, "coverage_every", 0)
    if every > 0:
        out.append(CoverageProbe(every, model.config.coverage_samples))
    return out + list(model.train_callbacks())


__all__ = ["CoverageProbe", "attach_feature_net", "callbacks_for", "classifier_features"]
