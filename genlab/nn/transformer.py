"""Pre-LayerNorm transformer blocks shared by a causal character GPT and a bidirectional CLIP text encoder
(Vaswani et al. 2017; pre-LN and initialization as in GPT-2, Radford et al. 2019).

Notation: tokens idx (b, T); width d split into H heads of size d / H; mask (b, T) True for real tokens.
    h_0 = E_tok[idx] + E_pos[0..T-1]
    h   = h + Attn(LN(h)),   Attn = W_o softmax(Q K^T / sqrt(d / H) + M) V,   [Q, K, V] = W_qkv LN(h)
    h   = h + W_2 GELU(W_1 LN(h))
    out = LN(h_L)
M is 0 where a query may look and -inf elsewhere: keys after the query (causal), padded keys (mask).
Attention runs through genlab.nn.attention.attention (torch's fused scaled_dot_product_attention, or the
plain product-softmax-product where that is faster: bf16 on a CPU); the weights of one head are only
computed (explicitly, for pictures) when asked for.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from genlab.nn.attention import attention


def attention_mask(T: int, *, causal: bool, mask: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    """Boolean (b, 1, T, T) mask, True where query i may attend to key j, or None when nothing is masked.

    Args:
        T: sequence length.
        causal: mask keys after the query.
        mask: (b, T) True for real tokens, False for padding (or None).
    Every position may attend to itself, so no row is empty (an all-padding sequence or a left-padded
    causal one would otherwise give NaN rows); padded queries' outputs are meaningless and unused.
    """
    if mask is None:
        return None
    allowed = mask[:, None, None, :].bool()  # (b, 1, 1, T): padded keys are never looked at
    if causal:
        allowed = allowed & torch.ones(T, T, dtype=torch.bool, device=device).tril()
    return allowed | torch.eye(T, dtype=torch.bool, device=device)


class SelfAttention(nn.Module):
    """Multi-head self-attention through genlab.nn.attention.attention.

    Args:
        dim: d, the model width.
        heads: H (d must be divisible by H).
        dropout: attention-weight and output dropout while training.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} must be divisible by heads {heads}")
        self.heads, self.head_dim, self.dropout = heads, dim // heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.resid_drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, *, causal: bool = False, mask: torch.Tensor | None = None,
                head: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(b, T, d) -> ((b, T, d), weights): weights (b, T, T) of head `head` (rows sum to 1, before
        dropout), or None when head is None.

        Args:
            x: (b, T, d).
            causal: query i sees keys j <= i only.
            mask: (b, T) True for real tokens: padded keys are never looked at.
            head: the head whose attention weights to return.
        """
        b, T, d = x.shape
        q, k, v = self.split_heads(x)  # (b, H, T, dh) each
        allowed = attention_mask(T, causal=causal, mask=mask, device=x.device)
        p = self.dropout if self.training else 0.0
        out = attention(q, k, v, allowed=allowed, causal=causal, dropout_p=p)  # (b, H, T, dh)
        out = self.resid_drop(self.proj(out.transpose(1, 2).reshape(b, T, d)))
        weights = None
        if head is not None:
            if not 0 <= head < self.heads:
                raise ValueError(f"head must be in [0, {self.heads}), got {head}")
            if allowed is None and causal:
                allowed = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            weights = self.head_weights(q[:, head], k[:, head], allowed)
        return out, weights

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(b, T, d) -> queries, keys and values stacked, (3, b, H, T, dh)."""
        b, T, _ = x.shape
        return self.qkv(x).view(b, T, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)

    def extend(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None
               ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Causal attention of new tokens x (b, T_new, d) that follow the cached ones: (output (b, T_new, d),
        the cache with their keys and values added). cache: (keys, values), each (b, H, t, dh), of the t tokens
        before them, or None (the new tokens start the sequence). Equals forward(causal=True) on the whole
        sequence, restricted to the new tokens; only a first call (cache None) or one new token at a time."""
        b, T, d = x.shape
        q, k, v = self.split_heads(x)  # (b, H, T, dh) each
        if cache is not None:
            if T != 1:
                raise ValueError(f"extend takes one new token at a time after the first call, got {T}")
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        out = attention(q, k, v, allowed=None, causal=cache is None, dropout_p=0.0)  # one query sees every key
        return self.proj(out.transpose(1, 2).reshape(b, T, d)), (k, v)

    def head_weights(self, q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
        """softmax(q k^T / sqrt(dh) masked) of one head, float32, (b, T, T); q, k (b, T, dh)."""
        scores = q.float() @ k.float().transpose(-1, -2) / math.sqrt(self.head_dim)  # (b, T, T)
        if allowed is not None:
            scores = scores.masked_fill(~allowed.reshape(-1, *allowed.shape[-2:]), float("-inf"))
        return scores.softmax(-1)


class Block(nn.Module):
    """Pre-LN transformer block: x + Attn(LN(x)), then + MLP(LN(x)) with a GELU and 4x hidden width."""

    def __init__(self, dim: int, heads: int, *, mlp_ratio: int = 4, dropout: float = 0.0):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, *, causal: bool = False, mask: torch.Tensor | None = None,
                head: int | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(b, T, d) -> ((b, T, d), weights of `head` (b, T, T) or None); see SelfAttention.forward."""
        a, weights = self.attn(self.ln1(x), causal=causal, mask=mask, head=head)
        x = x + a
        return x + self.mlp(self.ln2(x)), weights

    def extend(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None
               ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """forward(causal=True) on new tokens after cached ones; see SelfAttention.extend."""
        a, cache = self.attn.extend(self.ln1(x), cache)
        x = x + a
        return x + self.mlp(self.ln2(x)), cache


class Transformer(nn.Module):
    """Token + learned position embeddings, `depth` pre-LN blocks and a final LayerNorm.

    Args:
        vocab_size: number of token ids.
        max_len: longest sequence (learned positions).
        dim: model width d.
        depth: number of blocks.
        heads: attention heads per block.
        causal: True for a language model (GPT), False for a bidirectional encoder (CLIP text).
        mlp_ratio: MLP hidden width / d.
        dropout: embedding, attention and residual dropout while training.
    """

    def __init__(self, vocab_size: int, max_len: int, dim: int, depth: int, heads: int, *, causal: bool,
                 mlp_ratio: int = 4, dropout: float = 0.0):
        super().__init__()
        self.max_len, self.causal = max_len, causal
        self.tok = nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio=mlp_ratio, dropout=dropout) for _ in range(depth))
        self.ln_f = nn.LayerNorm(dim)
        self.apply(gpt2_init)
        for block in self.blocks:  # residual projections scaled by 1/sqrt(2 depth) (GPT-2)
            for layer in (block.attn.proj, block.mlp[2]):
                nn.init.normal_(layer.weight, mean=0.0, std=0.02 / math.sqrt(2 * depth))

    def forward(self, idx: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states after the final LayerNorm, (b, T, d).

        Args:
            idx: (b, T) int64 token ids, T <= max_len.
            mask: (b, T) True for real tokens, False for padding (None = no padding).
        """
        return self.run(idx, mask)[0]

    @torch.no_grad()
    def attention(self, idx: torch.Tensor, mask: torch.Tensor | None = None, head: int = 0) -> torch.Tensor:
        """Attention weights of head `head` in every block, (depth, b, T, T) float32, rows summing to 1."""
        return torch.stack(self.run(idx, mask, head)[1])

    def run(self, idx: torch.Tensor, mask: torch.Tensor | None = None,
            head: int | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(hidden states (b, T, d), per-block weights of `head`: a list of (b, T, T), empty when head is None)."""
        b, T = idx.shape
        if T > self.max_len:
            raise ValueError(f"sequence of {T} tokens is longer than max_len {self.max_len}")
        if mask is not None and mask.shape != idx.shape:
            raise ValueError(f"mask must have the shape of the tokens {tuple(idx.shape)}, got {tuple(mask.shape)}")
        x = self.drop(self.tok(idx) + self.pos(torch.arange(T, device=idx.device)))  # (b, T, d)
        maps = []
        for block in self.blocks:
            x, w = block(x, causal=self.causal, mask=mask, head=head)
            if w is not None:
                maps.append(w)
        return self.ln_f(x), maps

    @torch.no_grad()
    def extend(self, idx: torch.Tensor, cache: list | None) -> tuple[torch.Tensor, list]:
        """Hidden states (b, T_new, d) of new tokens idx (b, T_new) that follow the tokens of `cache` (a causal
        model; for sampling a token at a time), and the cache with them added: per block the keys and values
        (b, H, t, dh) of every token so far. cache None starts a sequence (idx is then the whole prompt);
        after that, one token per call. The positions go on from the cache's length and must stay below
        max_len. Equals forward on the whole sequence, restricted to the new tokens."""
        if not self.causal:
            raise ValueError("extend is for a causal transformer: a bidirectional one must see every token at once")
        start = 0 if cache is None else cache[0][0].shape[2]
        b, T = idx.shape
        if start + T > self.max_len:
            raise ValueError(f"{start + T} tokens do not fit max_len {self.max_len}")
        x = self.drop(self.tok(idx) + self.pos(torch.arange(start, start + T, device=idx.device)))
        new = []
        for i, block in enumerate(self.blocks):
            x, kv = block.extend(x, None if cache is None else cache[i])
            new.append(kv)
        return self.ln_f(x), new


def gpt2_init(module: nn.Module) -> None:
    """GPT-2 initialization: Linear and Embedding weights N(0, 0.02^2), biases 0, LayerNorm (1, 0)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


__all__ = ["Block", "SelfAttention", "Transformer", "attention_mask", "gpt2_init"]
