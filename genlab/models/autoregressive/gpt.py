"""`gpt`: a decoder-only transformer language model in the style of GPT-2 / nanoGPT (Radford et al. 2019;
Karpathy's nanoGPT), on characters or any token stream.

Notation: tokens x_1..x_{T+1}; h = Transformer(x_1..x_T) (token + learned position embeddings, pre-LN
blocks, causal softmax(Q K^T / sqrt(d_k)) V through scaled_dot_product_attention, an MLP; genlab.nn.transformer);
logits_t = h_t E^T with E the token embedding (weight tying, Press & Wolf 2017); the loss is the mean
-log p(x_{t+1} | x_1..x_t) in nats per token. Presets: `baby` (4 layers, 4 heads, 128 wide, context 64:
nanoGPT's CPU suggestion) and `small` (6, 6, 384, context 256: nanoGPT's Shakespeare-char GPU config).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec
from genlab.models.autoregressive.sampling import check_options, draw
from genlab.models.base import GenerativeModel, Samples
from genlab.nn.transformer import Transformer

PRESETS: dict[str, dict[str, int]] = {
    "baby": {"layers": 4, "heads": 4, "dim": 128, "context": 64},
    "small": {"layers": 6, "heads": 6, "dim": 384, "context": 256},
}


@dataclass(frozen=True)
class GPTConfig:
    """Options of `gpt`.

    Args:
        preset: sizes: "baby" (4 layers, 4 heads, width 128, context 64) or "small" (6, 6, 384, 256).
        layers, heads, dim, context: override the preset's (0 = the preset's).
        dropout: embedding, attention and residual dropout while training (nanoGPT's small uses 0.2).
    """

    preset: Literal["baby", "small"] = "baby"
    layers: int = bounded(0, ge=0)
    heads: int = bounded(0, ge=0)
    dim: int = bounded(0, ge=0)
    context: int = bounded(0, ge=0)
    dropout: float = bounded(0.0, ge=0.0, lt=1.0)

    def sizes(self) -> dict[str, int]:
        """layers, heads, dim and context: the preset's, with the options that are set."""
        return {k: getattr(self, k) or v for k, v in PRESETS[self.preset].items()}


class GPT(GenerativeModel):
    """Next-token prediction with a causal transformer; `sample` continues a prompt token by token."""

    family: ClassVar[str] = "gpt"
    Config: ClassVar[type] = GPTConfig
    data_kinds: ClassVar[frozenset[str]] = frozenset({"tokens"})
    likelihood_kind: ClassVar[str] = "discrete"
    likelihood_exact: ClassVar[bool] = True

    def __init__(self, config: GPTConfig, spec: DataSpec):
        super().__init__(config, spec)
        s = config.sizes()
        self.context = s["context"]
        self.net = Transformer(spec.vocab_size, s["context"], s["dim"], s["layers"], s["heads"], causal=True,
                               dropout=config.dropout)

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        """(b, T) token ids, T <= context -> (b, T, vocab) next-token logits."""
        return self.head(self.net(idx))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """(..., d) hidden states -> (..., vocab) next-token logits (the head is the tied embedding)."""
        return F.linear(h, self.net.tok.weight)

    def training_losses(self, batch: Batch, *, generator=None, player=None) -> dict[str, torch.Tensor]:
        x = batch.x  # (b, T + 1)
        loss = F.cross_entropy(self.logits(x[:, :-1]).flatten(0, 1).float(), x[:, 1:].flatten())
        return {"loss": loss}

    def nll(self, x: torch.Tensor, y=None, *, generator=None) -> torch.Tensor:
        """(b,) nats of the T next-token predictions of blocks x (b, T + 1), T <= context."""
        if x.ndim != 2 or x.shape[1] - 1 > self.context:
            raise ValueError(f"nll takes blocks (b, T + 1) with T <= context {self.context}, got {tuple(x.shape)}")
        logp = self.logits(x[:, :-1]).float().log_softmax(-1)
        return -logp.gather(-1, x[:, 1:, None]).squeeze(-1).sum(1)

    @torch.no_grad()
    def attention(self, idx: torch.Tensor, head: int = 0) -> torch.Tensor:
        """Attention weights of head `head` in every layer, (layers, b, T, T), rows summing to 1."""
        return self.net.attention(idx[:, -self.context:], head=head)

    # --- sampling -----------------------------------------------------------------------------
    def prompt_ids(self, n: int, cond: Any = None) -> torch.Tensor:
        """(n, L) prompt ids from `cond`: None (one newline token, as nanoGPT starts), a string (encoded with
        the vocabulary; unknown characters become its unknown token, if it has one), or ids (L,) or (n, L)."""
        vocab = self.spec.vocab
        if cond is None or (isinstance(cond, str) and not cond):
            start = vocab.index.get("\n", 0) if vocab is not None else 0
            ids = torch.tensor([[start]])
        elif isinstance(cond, str):
            ids = torch.tensor([vocab.encode(cond)])
        else:
            ids = torch.as_tensor(cond).long()
            ids = ids[None] if ids.ndim == 1 else ids
        if ids.ndim != 2 or ids.shape[1] == 0 or ids.shape[0] not in (1, n):
            raise ValueError(f"a gpt prompt is a string or token ids (L,) or ({n}, L), got shape {tuple(ids.shape)}")
        if ids.min() < 0 or ids.max() >= self.spec.vocab_size:
            raise ValueError(f"prompt ids must be in [0, {self.spec.vocab_size}), "
                             f"got [{int(ids.min())}, {int(ids.max())}]")
        return ids.expand(n, -1).to(self.device)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_tokens: int, *, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
        """Yield the (n,) ids drawn at each of max_tokens steps after the prompt idx (n, L), as they are
        drawn (streaming); the model sees the last `context` tokens. Until the sequence fills the context, the
        keys and values of the tokens so far are cached (Transformer.extend), so a step runs the network on
        one position; after that the window slides and each step runs it on the whole window."""
        check_options(temperature, top_k, top_p)
        cache, cached = None, 0  # keys and values of the first `cached` tokens, while they fit the context
        for _ in range(max_tokens):
            if idx.shape[1] <= self.context:  # each new token attends to the cached ones: one position per step
                h, cache = self.net.extend(idx[:, cached:], cache)
                cached = idx.shape[1]
                logits = self.head(h[:, -1])
            else:  # the window slides: every position changes, so the last `context` tokens are run again
                logits = self.logits(idx[:, -self.context:])[:, -1]
            nxt = draw(logits, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
            idx = torch.cat([idx, nxt[:, None]], dim=1)
            yield nxt

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None, max_tokens: int = 256,
               temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
               on_token: Callable[[torch.Tensor], None] | None = None) -> Samples:
        """n continuations of the prompt `cond` (see prompt_ids): token ids (n, L + max_tokens), the prompt first.

        Args:
            max_tokens: tokens drawn after the prompt.
            temperature: softmax temperature (0 = greedy: the most likely token every time).
            top_k: keep only the k most likely tokens (0 = all).
            top_p: keep the smallest set of most likely tokens with probability >= top_p (1 = all).
            on_token: called with the (n,) ids of each step as they are drawn (to stream text to a terminal).
        """
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
            raise ValueError(f"max_tokens must be an integer >= 0, got {max_tokens!r}")
        check_options(temperature, top_k, top_p)
        idx = self.prompt_ids(n, cond)
        drawn = []
        for nxt in self.generate(idx, max_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                                 generator=generator):
            drawn.append(nxt)
            if on_token is not None:
                on_token(nxt)
        return Samples(torch.cat([idx, *(t[:, None] for t in drawn)], dim=1))


__all__ = ["GPT", "GPTConfig", "PRESETS"]
