"""The denoiser: a network wrapped so that samplers see one thing, (eps_hat, x0_hat) = D(x_t, t).

Notation (Ho et al. 2020; Salimans & Ho 2022): x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps. A network
predicts one of
    "eps": eps;   "x0": x_0;   "v": v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0,
and any one of them gives the other two for a known x_t. Classifier-free guidance (Ho & Salimans 2022)
mixes a conditional and an unconditional prediction with scale w:
    eps_w = eps_uncond + w * (eps_cond - eps_uncond),
so w = 0 is the unconditional model, w = 1 the conditional one, and w > 1 sharpens towards the class.
(Ho & Salimans write (1 + w') eps_cond - w' eps_uncond; their w' is our w - 1.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch

Prediction = Literal["eps", "x0", "v"]
PREDICTIONS: tuple[str, ...] = get_args(Prediction)


def split_prediction(out: torch.Tensor, x_t: torch.Tensor, abar: torch.Tensor,
                     prediction: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(eps_hat, x0_hat) from a network output of kind `prediction`.

    Args:
        out, x_t: (b, ...) float32.
        abar: alpha_bar_t, a scalar or (b, 1, ..., 1) tensor broadcastable against x_t.
    """
    a, s = abar.sqrt(), (1.0 - abar).sqrt()
    if prediction == "eps":
        return out, (x_t - s * out) / a
    if prediction == "x0":
        return (x_t - a * out) / s, out
    if prediction == "v":
        return s * x_t + a * out, a * x_t - s * out
    raise ValueError(f"unknown prediction {prediction!r}; valid: {list(PREDICTIONS)}")


def training_target(x0: torch.Tensor, eps: torch.Tensor, abar: torch.Tensor, prediction: str) -> torch.Tensor:
    """What a network of kind `prediction` should output for x_t = sqrt(abar) x0 + sqrt(1-abar) eps."""
    if prediction == "eps":
        return eps
    if prediction == "x0":
        return x0
    if prediction == "v":
        return abar.sqrt() * eps - (1.0 - abar).sqrt() * x0
    raise ValueError(f"unknown prediction {prediction!r}; valid: {list(PREDICTIONS)}")


class Denoiser:
    """(eps_hat, x0_hat) = D(x_t, t) for a network net(x_t, t, y) -> prediction (b, c, h, w).

    Args:
        net: the network; called under torch.no_grad by samplers.
        alpha_bar: (T,) the schedule the network was trained with.
        prediction: what the network outputs: "eps", "x0" or "v".
        labels: (b,) class labels for a conditional network, or None.
        guidance: classifier-free guidance scale w (0 = unconditional, 1 = conditional); needs a
            network that knows the null label (`null_label`), used when labels is not None and w != 1.
        null_label: the label index meaning "no class" (num_classes of the network); for condition
            vectors (b, d) labels, the value of every entry of the null vector (0: the zero vector).
        clip: clamp x0_hat to [-clip, clip] (and make eps_hat consistent with it); 0 = off.
        autocast: run the network under bf16 autocast.
    """

    def __init__(self, net: Callable[..., torch.Tensor], alpha_bar: torch.Tensor, *, prediction: Prediction = "eps",
                 labels: torch.Tensor | None = None, guidance: float = 1.0, null_label: int | None = None,
                 clip: float = 1.0, autocast: bool = False):
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}; valid: {list(PREDICTIONS)}")
        if labels is not None and guidance != 1.0 and null_label is None:
            raise ValueError("classifier-free guidance needs a network trained with a null label")
        self.net, self.alpha_bar, self.prediction = net, alpha_bar, prediction
        self.labels, self.guidance, self.null_label = labels, float(guidance), null_label
        self.clip, self.autocast = float(clip), autocast
        self.calls = 0  # network evaluations (a guided step with 0 < w != 1 costs a double batch)

    @property
    def num_timesteps(self) -> int:
        return int(self.alpha_bar.shape[0])

    def _net(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        self.calls += 1
        with torch.autocast(x_t.device.type, torch.bfloat16, enabled=self.autocast):
            return self.net(x_t, t, y).float()

    def raw(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The guided network output (b, ...), before conversion to eps/x0."""
        y, w = self.labels, self.guidance
        if y is None or w == 1.0:
            return self._net(x_t, t, y)
        null = torch.full_like(y, self.null_label)
        if w == 0.0:
            return self._net(x_t, t, null)
        both = self._net(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = both.chunk(2)
        return uncond + w * (cond - uncond)  # linear in the output, so the same in eps, x0 or v space

    def __call__(self, x_t: torch.Tensor, t: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(eps_hat, x0_hat), each like x_t (float32), at integer timestep(s) t (scalar or (b,))."""
        b = x_t.shape[0]
        t = torch.as_tensor(t, device=x_t.device).long().expand(b) if torch.as_tensor(t).ndim == 0 else \
            torch.as_tensor(t, device=x_t.device).long()
        abar = self.alpha_bar.to(x_t.device)[t].float().view(b, *([1] * (x_t.ndim - 1)))
        eps, x0 = split_prediction(self.raw(x_t, t), x_t, abar, self.prediction)
        if self.clip > 0:
            x0 = x0.clamp(-self.clip, self.clip)
            eps = (x_t - abar.sqrt() * x0) / (1.0 - abar).sqrt()
        return eps, x0


__all__ = ["PREDICTIONS", "Denoiser", "Prediction", "split_prediction", "training_target"]
