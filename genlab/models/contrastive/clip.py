"""The `clip` family: an image encoder and a text encoder trained into one embedding space with the
symmetric InfoNCE loss and a learned temperature (CLIP, Radford et al. 2021), small enough to train on
a CPU from scratch.

Notation: image x (b, c, h, w) -> f(x) (b, d_img) -> u = W_i f / |W_i f| (b, D); caption tokens
(b, L) -> g(t) (b, d_txt) -> v = W_t g / |W_t g| (b, D); logit scale s = exp(log_s), learned, clamped
to at most `max_scale` (CLIP: 100), initialised to 1 / init_temperature. f is a small CNN (stride-2
convolutions, GroupNorm, GELU, global average pool); g is the shared bidirectional transformer
(genlab.nn.transformer) over hashed words (the default) or characters, mean-pooled over real tokens,
or, as a baseline, a bag of words (hashed words, mean of their embeddings: no order). Zero-shot classification: the
class whose prompts' mean embedding is nearest (CLIP's prompt ensembling). It cannot sample.
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import bounded
from genlab.data.base import Batch, DataError, DataSpec
from genlab.models.base import GenerativeModel
from genlab.models.contrastive.losses import info_nce
from genlab.nn.transformer import Transformer

TextEncoderName = Literal["words", "transformer", "bow"]


@dataclass(frozen=True)
class CLIPConfig:
    """Options of `clip`.

    Args:
        embed_dim: D, the shared embedding size.
        channels: widths of the image CNN's stride-2 levels.
        text_encoder: "words" (the shared transformer block over hashed words), "transformer" (the same over
            characters) or "bow" (a bag of hashed words, no order: the baseline).
        text_dim, text_depth, text_heads: the transformer's width, blocks and heads (text_dim is also
            the bag of words' embedding size).
        context: the longest caption in characters (longer ones are cut).
        max_words: the longest caption in words for "words" (longer ones are cut).
        buckets: hash buckets of the word encoders.
        init_temperature: tau at initialisation.
        max_scale: the largest logit scale 1 / tau (CLIP: 100).
    """

    embed_dim: int = bounded(64, ge=2)
    channels: tuple[int, ...] = (32, 64, 128)
    text_encoder: TextEncoderName = "words"
    text_dim: int = bounded(64, ge=2)
    text_depth: int = bounded(2, ge=1)
    text_heads: int = bounded(2, ge=1)
    context: int = bounded(64, ge=1)
    max_words: int = bounded(24, ge=1)
    buckets: int = bounded(4096, ge=2)
    init_temperature: float = bounded(0.07, gt=0)
    max_scale: float = bounded(100.0, gt=0)


class ImageEncoder(nn.Module):
    """conv3x3 -> per level: conv3x3 stride 2, GroupNorm, GELU -> global average pool.
    (b, c, h, w) -> (b, channels[-1])."""

    def __init__(self, in_channels: int, channels: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels[0], 3, padding=1), nn.GELU()]
        c = channels[0]
        for width in channels:
            layers += [nn.Conv2d(c, width, 3, stride=2, padding=1), nn.GroupNorm(min(8, width), width), nn.GELU()]
            c = width
        self.net = nn.Sequential(*layers)
        self.out_dim = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean((2, 3))


class TransformerText(nn.Module):
    """The shared bidirectional transformer over characters, mean-pooled over real (non-padding) tokens."""

    def __init__(self, vocab_size: int, context: int, dim: int, depth: int, heads: int):
        super().__init__()
        self.net = Transformer(vocab_size, context, dim, depth, heads, causal=False)
        self.out_dim = dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = ids != 0  # (b, L)
        h = self.net(ids, mask)  # (b, L, d)
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


def hashed_words(ids: torch.Tensor, vocab, buckets: int, max_words: int = 0) -> torch.Tensor:
    """(b, L) character ids -> (b, W) word ids in [1, buckets] (CRC-32 of each word), 0-padded; words are
    runs of characters between spaces and punctuation; at most max_words (0 = all) are kept."""
    rows = []
    for row in ids.tolist():
        words = re.findall(r"[^\s,.:;!/()]+", vocab.decode(row)) or [""]
        rows.append([1 + zlib.crc32(w.encode()) % buckets for w in words][:max_words or None])
    out = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r)
    return out.to(ids.device)


class BagOfWords(nn.Module):
    """The mean embedding of a caption's words, each hashed (CRC-32) into `buckets` rows; no word order."""

    def __init__(self, spec: DataSpec, buckets: int, dim: int):
        super().__init__()
        self.vocab, self.buckets = spec.vocab, buckets
        self.emb = nn.EmbeddingBag(buckets + 1, dim, mode="mean", padding_idx=0)
        self.out_dim = dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.emb(hashed_words(ids, self.vocab, self.buckets))


class WordTransformer(nn.Module):
    """The shared bidirectional transformer over hashed words (a caption of 30 characters is ~6 words:
    a far shorter sequence than its characters), mean-pooled over real words."""

    def __init__(self, spec: DataSpec, buckets: int, max_words: int, dim: int, depth: int, heads: int):
        super().__init__()
        self.vocab, self.buckets, self.max_words = spec.vocab, buckets, max_words
        self.net = TransformerText(buckets + 1, max_words, dim, depth, heads)
        self.out_dim = dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.net(hashed_words(ids, self.vocab, self.buckets, self.max_words))


class CLIP(GenerativeModel):
    """Contrastive image-text embeddings (Radford et al. 2021): embed images, embed text, zero-shot
    classification from prompts and retrieval both ways; no sampling."""

    family: ClassVar[str] = "clip"
    Config: ClassVar[type] = CLIPConfig
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image-text"})

    def __init__(self, config: CLIPConfig, spec: DataSpec):
        super().__init__(config, spec)
        if spec.vocab is None or not spec.vocab.pad:
            raise ValueError("clip needs image-text data with a padded caption vocabulary")
        if not config.channels or min(config.channels) < 1:
            raise ValueError(f"clip: channels must be positive widths, got {config.channels}")
        self.image = ImageEncoder(self.shape[0], tuple(config.channels))
        if config.text_encoder == "bow":
            self.text = BagOfWords(spec, config.buckets, config.text_dim)
        elif config.text_encoder == "words":
            self.text = WordTransformer(spec, config.buckets, config.max_words, config.text_dim, config.text_depth,
                                        config.text_heads)
        else:
            self.text = TransformerText(spec.vocab_size, config.context, config.text_dim, config.text_depth,
                                        config.text_heads)
        self.image_proj = nn.Linear(self.image.out_dim, config.embed_dim, bias=False)
        self.text_proj = nn.Linear(self.text.out_dim, config.embed_dim, bias=False)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.init_temperature)))

    @property
    def scale(self) -> torch.Tensor:
        """s = 1 / tau, clamped to max_scale."""
        return self.log_scale.exp().clamp(max=self.config.max_scale)

    # --- the embed capability ---------------------------------------------------------------------
    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        """(b, c, h, w) in [0, 1] -> (b, D) unit-norm embeddings."""
        return F.normalize(self.image_proj(self.image(x.float() * 2.0 - 1.0)).float(), dim=-1)

    def embed_text(self, text: torch.Tensor) -> torch.Tensor:
        """(b, L) token ids (0 = padding) -> (b, D) unit-norm embeddings; L is cut to `context`."""
        text = text[:, :self.config.context].to(self.device)
        longest = int((text != 0).sum(1).max()) if text.numel() else 0
        text = text[:, :max(1, longest)]  # padding past the longest caption changes nothing: cut it
        return F.normalize(self.text_proj(self.text(text)).float(), dim=-1)

    def tokenize(self, texts: list[str] | str) -> torch.Tensor:
        """Captions -> (n, context) ids, 0-padded; lower case, white space collapsed, unknown characters
        as the vocabulary's unknown token. Raises DataError for an empty or non-text caption."""
        from genlab.data.captions import normalize_caption

        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, (list, tuple)) or not texts:
            raise DataError("give at least one caption (a list of str)")
        out = torch.zeros(len(texts), self.config.context, dtype=torch.long)
        for i, t in enumerate(texts):
            ids = self.spec.vocab.encode(normalize_caption(t))[:self.config.context]
            out[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out.to(self.device)

    @torch.no_grad()
    def embed_prompts(self, texts: list[str] | str) -> torch.Tensor:
        """(n, D) unit-norm embeddings of captions given as strings."""
        return self.embed_text(self.tokenize(texts))

    @torch.no_grad()
    def class_embeddings(self, prompts: list[list[str]]) -> torch.Tensor:
        """(K, D): per class, the normalised mean embedding of its prompts (prompt ensembling)."""
        return F.normalize(torch.stack([self.embed_prompts(p).mean(0) for p in prompts]), dim=-1)

    @torch.no_grad()
    def zero_shot(self, x: torch.Tensor, prompts: list[list[str]], batch_size: int = 1000) -> torch.Tensor:
        """(b, K) cosine similarities of images x to each class's prompts; argmax is the zero-shot class."""
        c = self.class_embeddings(prompts)
        return torch.cat([self.embed_images(x[i:i + batch_size].to(self.device)) @ c.T
                          for i in range(0, x.shape[0], batch_size)])

    # --- training ---------------------------------------------------------------------------------
    def training_losses(self, batch: Batch, *, generator=None, player=None):
        if batch.text is None:
            raise ValueError("clip trains on image-text batches (batch.text): choose an image-text dataset such "
                             "as mnist-captions")
        u, v = self.embed_images(batch.x), self.embed_text(batch.text)
        loss = info_nce(u, v, self.scale)
        return {"loss": loss, "temperature": (1.0 / self.scale).detach()}


__all__ = ["CLIP", "CLIPConfig", "TextEncoderName", "hashed_words"]
