"""The one contract every model family implements (shared ARCHITECTURE.md; docs/ARCHITECTURE.md).

A model is an `nn.Module` built as `Family(config, spec)` for data described by a `DataSpec`. The
trainer knows it only through:
- `training_losses(batch, *, generator=None, player=None) -> dict[str, Tensor]`: named finite scalars;
  the trainer minimizes `losses["loss"]` and logs the rest.
- `players() -> list[Player]`: who owns which parameters, with their optimizer settings and how often
  each steps. One player by default; with several (a GAN), the trainer calls
  `training_losses(batch, player=name)` once per player per step, each with its own optimizer.
- or, for families fitted in closed form or by EM, `fit(data, ...)` (the `Fitted` capability).
Everything else is a capability, declared as a `typing.Protocol` below and detected by isinstance:
`Sampler`, `Latent`, `Reconstruct`, `Likelihood`, `Inpaint`, `Denoise`, `Embed`, `Fitted`.
Applications and evaluation are written against these, never per family.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import torch
from torch import nn

from genlab.data.base import Batch, DataSpec

LikelihoodKind = Literal["binary", "discrete", "continuous"]
# A progress hook, progress(stage, done, total): a model's long loop (a sample's "batch"es, a sampler's
# denoising "step"s, a pixelcnn's "pixel"s) calls it with done 0 when the stage starts and done 1..total
# after each unit. Models only call it; genlab.viz.progress.Bars draws it (models never print).
ProgressHook = Callable[[str, int, int], None]


@dataclass
class Player:
    """One optimizer's share of a model.

    Args:
        name: e.g. "model", or a GAN's "d" and "g".
        params: the parameters this player's optimizer updates.
        options: optimizer settings that replace the TrainConfig's (lr, betas, weight_decay).
        every: the player steps on trainer steps where step % every == 0 (a WGAN's generator: n_critic).
    """

    name: str
    params: list[nn.Parameter]
    options: dict[str, Any] = field(default_factory=dict)
    every: int = 1

    def active(self, step: int) -> bool:
        return step % self.every == 0


@dataclass
class Samples:
    """What `sample` returns.

    Args:
        x: images (n, c, h, w) in [0, 1], or token ids (n, T).
        y: (n,) the class labels the samples were drawn for (class-conditional models), else None.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None


# --- capabilities ----------------------------------------------------------------------------------
@runtime_checkable
class Sampler(Protocol):
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None) -> Samples:
        """n samples; `cond` is labels, prompt tokens, text or source images, per family."""


@runtime_checkable
class Latent(Protocol):
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(b, ...) images -> (b, d) latent codes (a VAE's posterior mean)."""

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(b, d) latent codes -> (b, c, h, w) images in [0, 1]."""


@runtime_checkable
class Reconstruct(Protocol):
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x -> x_hat, same shape."""


@runtime_checkable
class Likelihood(Protocol):
    """Per-example negative log-likelihood in nats. Families also set `likelihood_kind` (the data the
    likelihood is of: binary pixels, 8-bit discrete values, or continuous), `likelihood_exact`
    (an exact value, or a bound) and, when nll scores a summary of the image rather than its pixels,
    `likelihood_shape` (the summary's shape: the table's binary cells)."""

    def nll(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
            generator: torch.Generator | None = None) -> torch.Tensor:
        """(b,) nats per example."""


@runtime_checkable
class Inpaint(Protocol):
    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, *, cond: Any = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill in x where mask is 1, keep the rest exactly."""


@runtime_checkable
class Denoise(Protocol):
    def denoise(self, x: torch.Tensor, *, noise_std: float | None = None, strength: float | None = None,
                cond: Any = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """A clean version of the noisy images x: `noise_std` the Gaussian noise's std when known,
        `strength` how far to re-noise (SDEdit-style families; others refuse it), `cond` labels."""


@runtime_checkable
class Embed(Protocol):
    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        """(b, c, h, w) -> (b, d) unit-norm embeddings."""

    def embed_text(self, text: torch.Tensor) -> torch.Tensor:
        """(b, L) token ids -> (b, d) unit-norm embeddings in the same space."""


@runtime_checkable
class Compressible(Protocol):
    """Integer latents with a factorized entropy model: what a learned codec (genlab.apps.compress) needs."""

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """(b, c, h, w) images -> (b, C, h', w') int64 symbols."""

    def decode_symbols(self, symbols: torch.Tensor) -> torch.Tensor:
        """(b, C, h', w') symbols -> (b, c, h, w) images in [0, 1]."""

    def coding_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(integer frequencies (C, K), lo (C,)): row k gives the frequency of symbol lo_k + j of channel k."""

    def estimated_bits(self, symbols: torch.Tensor) -> torch.Tensor:
        """(b,) bits of each image's symbols under the model's (unrounded) prior."""


@runtime_checkable
class Fitted(Protocol):
    def fit(self, data: Any, *, generator: torch.Generator | None = None, time_budget: float = 0.0) -> dict:
        """Fit in closed form or by EM (scikit-learn behind it); returns figures to log. A fit that takes long may
        also take `progress` (a ProgressHook, or None), which the trainer then passes (a bar per stage)."""


PROTOCOLS: dict[str, type] = {"sample": Sampler, "latent": Latent, "reconstruct": Reconstruct,
                              "likelihood": Likelihood, "inpaint": Inpaint, "denoise": Denoise,
                              "embed": Embed, "fit": Fitted, "compress": Compressible}
CAPABILITIES = frozenset([*PROTOCOLS, "conditional"])


def capabilities(model: Any) -> frozenset[str]:
    """The capability names of a model or a family class (`conditional` when it can take labels)."""
    cls = model if isinstance(model, type) else type(model)
    names = {name for name, proto in PROTOCOLS.items() if issubclass(cls, proto)}
    if isinstance(model, type):
        config = getattr(cls, "Config", None)
        if dataclasses.is_dataclass(config) and "conditional" in {f.name for f in dataclasses.fields(config)}:
            names.add("conditional")
    elif getattr(model, "conditional", False):
        names.add("conditional")
    return frozenset(names)


# --- the base class --------------------------------------------------------------------------------
class GenerativeModel(nn.Module):
    """Base class: stores the config and data spec, and gives defaults for the optional parts."""

    family: ClassVar[str] = ""
    Config: ClassVar[type] = object
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image"})
    likelihood_kind: ClassVar[LikelihoodKind | None] = None
    likelihood_exact: ClassVar[bool] = False
    likelihood_options: ClassVar[tuple[str, ...]] = ()  # keyword options its nll takes (a VAE's k)
    # how a "continuous" likelihood dequantizes 8-bit pixels: "uniform" (u ~ U[0, 1)) or "variational" (the
    # model's own learned q(u|x), whose log q the bound includes)
    likelihood_dequantization: ClassVar[str] = "uniform"
    # What nll is a likelihood of, when it is not the input images themselves: a model that scores its own
    # summary of each image (the table: the (c, k, k) binary cells it pools an image to) gives its shape,
    # and evaluation divides by its size for bits/dim and labels the number as a likelihood of that summary.
    likelihood_shape: ClassVar[tuple[int, ...] | None] = None
    # state_dict prefixes added after runs of the family were first saved: a checkpoint without them loads, and
    # those modules keep their defaults (an autoencoder's code prior: unfitted)
    optional_state: ClassVar[tuple[str, ...]] = ()
    pretrained: ClassVar[dict[str, str]] = {}  # option naming another run -> the submodule it fills (ldm)
    # encode/decode ignore the label even when the model is conditional (a class prior on shared codes: pca, fa,
    # svd), so search and latent arithmetic work on it as on an unconditional model
    label_free_codes: ClassVar[bool] = False
    context: int = 0  # tokens families: the block length T their batches hold (T + 1 tokens)

    def __init__(self, config: Any, spec: DataSpec):
        super().__init__()
        if not isinstance(spec, DataSpec):
            raise TypeError(f"{type(self).__name__} is built for a DataSpec, got {type(spec).__name__}")
        if spec.kind not in self.data_kinds:
            raise ValueError(f"a {self.family} model trains on {' or '.join(sorted(self.data_kinds))} data, "
                             f"not {spec.kind}; choose a dataset of that kind or another family")
        self.config = config
        self.spec = spec
        self.shape = tuple(int(s) for s in spec.shape)
        self.num_classes = int(spec.num_classes)
        self.kept_classes = spec.kept_classes  # trained on these labels only (--classes), or None: all
        self.step = 0  # set by the trainer through on_train_step (KL warm-up and the like)

    # --- the contract -------------------------------------------------------------------------
    def training_losses(self, batch: Batch, *, generator: torch.Generator | None = None,
                        player: str | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def players(self) -> list[Player]:
        """One optimizer over every trainable parameter by default."""
        return [Player("model", [p for p in self.parameters() if p.requires_grad])]

    def progress_keys(self) -> list[str]:
        """Record keys to show in the progress bar (empty = the first few losses)."""
        return []

    def train_callbacks(self) -> list:
        """Functions f(trainer, record) the trainer calls after each log line (diagnostics, watchdogs).
        They may add keys to `record` before it is printed, or act on the trainer (e.g. roll back)."""
        return []

    def prepare(self, data) -> None:
        """Data-dependent set-up, called by the trainer once before the first step of a fresh run (not on
        resume: what it sets up is saved with the weights), e.g. a GAN's clusters of the training images."""

    def finish(self, data) -> dict:
        """Data-dependent fitting once training ends, called by the trainer on the weights it saves before the
        last checkpoint (not when a run is interrupted), e.g. the Gaussian mixture an autoencoder samples its
        codes from; returns figures for the log (empty: nothing done)."""
        return {}

    def compile_obstacle(self) -> str | None:
        """Why `torch.compile` cannot train this model as configured (None: it can). The trainer refuses
        --train.compile with this reason before any work, instead of failing inside the compiler."""
        return None

    def on_train_step(self, step: int, total_steps: int) -> None:
        """Called by the trainer before each step; models with schedules (KL warm-up) read it."""
        self.step = step

    # --- helpers for subclasses ---------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.config, "conditional", False))

    def labels_for(self, n: int, cond: Any = None) -> torch.Tensor | None:
        """The labels to sample n images for: None for an unconditional model; `cond` checked; or, when
        cond is None, every class in turn (arange(n) % K; those it was trained on, when the data was cut to some
        with --classes), the one place that picks balanced labels."""
        if not self.conditional:
            return None
        if cond is None:
            if self.kept_classes:
                kept = torch.tensor(self.kept_classes, device=self.device)
                return kept[torch.arange(n, device=self.device) % len(kept)]
            return torch.arange(n, device=self.device) % self.num_classes
        labels = torch.as_tensor(cond, device=self.device).long().reshape(-1)
        if labels.numel() == 1 and n > 1:
            labels = labels.expand(n).clone()
        if labels.shape[0] != n or labels.min() < 0 or labels.max() >= self.num_classes:
            raise ValueError(f"labels must be {n} class indices in [0, {self.num_classes}), got "
                             f"{labels.shape[0]} in [{int(labels.min())}, {int(labels.max())}]")
        return labels

    def check_labels(self, labels: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """Validate labels for a conditional model (None for an unconditional one)."""
        if not self.conditional:
            return None
        if labels is None:
            raise ValueError(f"this {self.family} model is conditional: pass labels=(n,) class indices "
                             f"in [0, {self.num_classes})")
        return self.labels_for(n, labels)

    def one_hot(self, y: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        if y is None or not self.conditional:
            return None
        return nn.functional.one_hot(y, self.num_classes).to(dtype)

    def describe(self) -> dict[str, Any]:
        """Family, options, parameter count and capabilities, for `genlab info` and reports."""
        return {"family": self.family, "config": dataclasses.asdict(self.config),
                "parameters": sum(p.numel() for p in self.parameters()),
                "buffers": sum(b.numel() for b in self.buffers()),  # what a fitted family learned lives here
                "capabilities": sorted(capabilities(self)), "data": self.spec.to_json()}


def family_of(name: str) -> type[GenerativeModel]:
    """The loaded family class called `name`, found among GenerativeModel's subclasses; for a model that
    embeds another (an ldm's autoencoder) without importing the registry above it (models/__init__.py)."""
    stack, seen = list(GenerativeModel.__subclasses__()), set()
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if cls.family == name:
            return cls
        stack += cls.__subclasses__()
    raise ValueError(f"unknown model family {name!r}")


def sampling_options(model: Any) -> list[str]:
    """The keyword options a model's `sample` takes beyond n, cond, generator and progress (for CLI messages)."""
    return [k for k, p in inspect.signature(model.sample).parameters.items()
            if k not in ("n", "cond", "generator", "progress") and p.kind == p.KEYWORD_ONLY]


def check_sampling_options(model: Any, options: dict[str, Any] | None) -> None:
    """One-line ValueError naming the valid ones when `options` has a key the model's `sample` does not take."""
    accepted = sampling_options(model)
    unknown = sorted(set(options or {}) - set(accepted))
    if unknown:
        raise ValueError(f"a {getattr(model, 'family', type(model).__name__)} model has no sampling option(s) "
                         f"{unknown}; valid: {accepted or 'none'}")
