"""Drawing the next token from logits: temperature, top-k and nucleus (top-p) filtering.

Notation: logits l (b, V); temperature tau: p = softmax(l / tau), tau = 0 is greedy (argmax);
top-k keeps the k largest logits (Fan et al. 2018); top-p keeps the smallest set of most probable tokens
whose total probability reaches p (Holtzman et al. 2020, "The curious case of neural text degeneration").
Filters apply in that order (temperature, top-k, top-p), as in Hugging Face transformers' generate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def check_options(temperature: float, top_k: int, top_p: float) -> None:
    """ValueError naming the option when one is out of range."""
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(f"top_k must be an integer >= 0 (0 = off), got {top_k!r}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (1 = off), got {top_p}")


def top_k_mask(logits: torch.Tensor, k: int) -> torch.Tensor:
    """(b, V) bool, True for exactly the k largest logits of each row (all of them when k = 0 or k >= V)."""
    if k <= 0 or k >= logits.shape[-1]:
        return torch.ones_like(logits, dtype=torch.bool)
    keep = torch.zeros_like(logits, dtype=torch.bool)
    return keep.scatter_(-1, logits.topk(k, dim=-1).indices, True)


def top_p_mask(logits: torch.Tensor, p: float) -> torch.Tensor:
    """(b, V) bool, True for the smallest set of most probable tokens whose probability sums to >= p
    (the most probable token always stays)."""
    if p >= 1.0:
        return torch.ones_like(logits, dtype=torch.bool)
    probs, order = logits.float().softmax(-1).sort(-1, descending=True)
    before = probs.cumsum(-1) - probs  # probability of the tokens ranked above each one
    keep_sorted = before < p
    keep_sorted[..., 0] = True
    return torch.zeros_like(keep_sorted).scatter_(-1, order, keep_sorted)


def filter_logits(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> torch.Tensor:
    """logits / temperature with -inf outside the top-k and top-p sets, (b, V) float32 (temperature > 0)."""
    out = logits.float() / temperature
    out = out.masked_fill(~top_k_mask(out, top_k), float("-inf"))
    return out.masked_fill(~top_p_mask(out, top_p), float("-inf"))


def draw(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """(b,) token ids drawn from the filtered softmax of logits (b, V); argmax when temperature is 0."""
    check_options(temperature, top_k, top_p)
    if temperature == 0:
        return logits.argmax(-1)
    probs = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@contextlib.contextmanager
def one_thread(device: torch.device) -> Iterator[None]:
    """torch's intra-op threads set to 1 on a CPU for the block, and put back after it (also on errors).

    For sampling loops of many small operations (a token or a pixel at a time): sharing each one between
    threads costs more than it saves, and with OMP_WAIT_POLICY=PASSIVE (which the CLI sets) every operation
    would wait for a sleeping thread to wake."""
    before = torch.get_num_threads()
    if device.type == "cpu" and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


__all__ = ["check_options", "draw", "filter_logits", "one_thread", "top_k_mask", "top_p_mask"]
