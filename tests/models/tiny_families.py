"""Tiny families of the data kinds and training styles that core v2 must serve before their real families
land: a token model, a fitted (closed-form) model, a pair-conditioned model and a model without `sample`.
They only add files, as a real family will; the shared contract tests run over them like over FAMILIES.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from genlab.config import bounded
from genlab.data.base import Batch, DataSpec, ImagePairData, ImageTextData, TokenData, Vocab
from genlab.data.pairs import unpaired
from genlab.models.base import GenerativeModel, Samples
from genlab.nn.transformer import Transformer


# --- tokens: a 2-layer causal transformer --------------------------------------------------------
@dataclass(frozen=True)
class TinyTokensConfig:
    context: int = bounded(8, ge=2)
    dim: int = bounded(16, ge=2)


class TinyTokens(GenerativeModel):
    """Next-token prediction with a 2-layer causal transformer; samples token ids."""

    family: ClassVar[str] = "tiny-tokens"
    Config: ClassVar[type] = TinyTokensConfig
    data_kinds: ClassVar[frozenset[str]] = frozenset({"tokens"})
    likelihood_kind: ClassVar[str] = "discrete"
    likelihood_exact: ClassVar[bool] = True

    def __init__(self, config: TinyTokensConfig, spec: DataSpec):
        super().__init__(config, spec)
        self.context = config.context
        self.net = Transformer(spec.vocab_size, config.context, config.dim, 2, 2, causal=True)
        self.head = nn.Linear(config.dim, spec.vocab_size)

    def logits(self, idx: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(idx))  # (b, T, vocab)

    def training_losses(self, batch: Batch, *, generator=None, player=None):
        x = batch.x  # (b, T + 1)
        loss = F.cross_entropy(self.logits(x[:, :-1]).flatten(0, 1), x[:, 1:].flatten())
        return {"loss": loss}

    def nll(self, x, y=None, *, generator=None):
        """(b,) nats of the T next-token predictions of blocks x (b, T + 1)."""
        logp = self.logits(x[:, :-1]).log_softmax(-1)
        return -logp.gather(-1, x[:, 1:, None]).squeeze(-1).sum(1)

    @torch.no_grad()
    def sample(self, n, *, cond=None, generator=None, length: int = 8) -> Samples:
        idx = torch.zeros(n, 1, dtype=torch.long, device=self.device) if cond is None else torch.as_tensor(cond)
        while idx.shape[1] < length:
            p = self.logits(idx[:, -self.context:])[:, -1].softmax(-1)
            nxt = torch.multinomial(p, 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
        return Samples(idx)


# --- fitted: PCA in closed form (scikit-learn) ----------------------------------------------------
@dataclass(frozen=True)
class TinyPCAConfig:
    components: int = bounded(3, ge=1)


class TinyPCA(GenerativeModel):
    """PCA fitted by scikit-learn; encode/decode; samples codes from N(0, explained variance)."""

    family: ClassVar[str] = "tiny-pca"
    Config: ClassVar[type] = TinyPCAConfig

    def __init__(self, config: TinyPCAConfig, spec: DataSpec):
        super().__init__(config, spec)
        d = 1
        for s in spec.shape:
            d *= s
        if config.components > d:
            raise ValueError(f"components {config.components} exceeds the {d} pixels")
        self.register_buffer("mean", torch.zeros(d))
        self.register_buffer("components", torch.zeros(config.components, d))
        self.register_buffer("variance", torch.ones(config.components))

    def fit(self, data, *, generator=None, time_budget: float = 0.0) -> dict:
        from sklearn.decomposition import PCA

        x = data.images().flatten(1).double().cpu().numpy()
        pca = PCA(self.config.components, svd_solver="full").fit(x)
        self.mean.copy_(torch.from_numpy(pca.mean_))
        self.components.copy_(torch.from_numpy(pca.components_))
        self.variance.copy_(torch.from_numpy(pca.explained_variance_))
        return {"explained_variance_ratio": float(pca.explained_variance_ratio_.sum())}

    def encode(self, x, y=None):
        return (x.flatten(1) - self.mean) @ self.components.T

    def decode(self, z, y=None):
        return (z @ self.components + self.mean).view(-1, *self.shape).clamp(0, 1)

    @torch.no_grad()
    def sample(self, n, *, cond=None, generator=None) -> Samples:
        z = torch.randn(n, self.config.components, generator=generator, device=self.device)
        return Samples(self.decode(z * self.variance.sqrt()))


# --- image-pair: a 1-conv upsampler ---------------------------------------------------------------
@dataclass(frozen=True)
class TinyPairConfig:
    width: int = bounded(4, ge=1)


class TinyPair(GenerativeModel):
    """Source image -> target image (nearest upsampling, two convolutions), L1 loss; sample needs a source."""

    family: ClassVar[str] = "tiny-pair"
    Config: ClassVar[type] = TinyPairConfig
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image-pair"})

    def __init__(self, config: TinyPairConfig, spec: DataSpec):
        super().__init__(config, spec)
        c_in, c_out = spec.source_shape[0], spec.shape[0]
        self.net = nn.Sequential(nn.Conv2d(c_in, config.width, 3, padding=1), nn.SiLU(),
                                 nn.Conv2d(config.width, c_out, 3, padding=1))

    def translate(self, source: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(source, size=self.shape[1:], mode="nearest")
        return torch.sigmoid(self.net(up))

    def training_losses(self, batch: Batch, *, generator=None, player=None):
        return {"loss": F.l1_loss(self.translate(batch.source), batch.x)}

    @torch.no_grad()
    def sample(self, n, *, cond=None, generator=None) -> Samples:
        if cond is None:
            raise ValueError("a tiny-pair model translates source images: pass cond=(n, c, h, w) sources")
        return Samples(self.translate(torch.as_tensor(cond, device=self.device)[:n]))


# --- image-text, no sample: a contrastive embedder ------------------------------------------------
@dataclass(frozen=True)
class TinyEmbedConfig:
    dim: int = bounded(8, ge=2)


class TinyEmbed(GenerativeModel):
    """Images and captions into one space with InfoNCE (CLIP-style); it cannot sample."""

    family: ClassVar[str] = "tiny-embed"
    Config: ClassVar[type] = TinyEmbedConfig
    data_kinds: ClassVar[frozenset[str]] = frozenset({"image-text"})

    def __init__(self, config: TinyEmbedConfig, spec: DataSpec):
        super().__init__(config, spec)
        d = 1
        for s in spec.shape:
            d *= s
        self.image = nn.Linear(d, config.dim)
        self.text = nn.EmbeddingBag(spec.vocab_size, config.dim, padding_idx=0)

    def embed_images(self, x):
        return F.normalize(self.image(x.flatten(1)), dim=-1)

    def embed_text(self, text):
        return F.normalize(self.text(text), dim=-1)

    def training_losses(self, batch: Batch, *, generator=None, player=None):
        logits = self.embed_images(batch.x) @ self.embed_text(batch.text).T / 0.1
        target = torch.arange(len(batch), device=logits.device)
        loss = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
        return {"loss": loss}


TINY_FAMILIES: dict[str, type[GenerativeModel]] = {
    "tiny-tokens": TinyTokens, "tiny-pca": TinyPCA, "tiny-pair": TinyPair, "tiny-embed": TinyEmbed,
}


# --- tiny data of each kind -----------------------------------------------------------------------
def tiny_tokens(n: int = 400, seed: int = 0) -> TokenData:
    """A repetitive character stream ("abcab cabca ...") that a tiny model can learn."""
    sentence = "the cat sat on the mat. "
    text = (sentence * (n // len(sentence) + 1))[:n]
    vocab = Vocab.of_text(sentence)
    return TokenData(torch.tensor(vocab.encode(text), dtype=torch.int64), vocab, "tiny-text", "train", "synthetic")


TOPICS = ("cat dog mouse bird horse cow sheep goat", "ship sea sail wave boat storm tide anchor")


def tiny_documents(n: int = 16, seed: int = 0) -> TokenData:
    """n short documents, each mostly about one of two topics (animals, the sea), with doc_starts; the
    vocabulary is fixed (the same spec for every n), so a model built on one size fits another."""
    g = torch.Generator().manual_seed(seed)
    topics = [t.split() for t in TOPICS]
    docs = []
    for d in range(n):
        main, other = topics[d % 2], topics[1 - d % 2]
        picks = [main[int(i)] for i in torch.randint(0, len(main), (10,), generator=g)]
        picks.append(other[int(torch.randint(0, len(other), (1,), generator=g))])
        docs.append(" ".join(picks) + ".\n")
    text = "\n".join(docs)
    starts, offset = [], 0
    for doc in docs:
        starts.append(offset)
        offset += len(doc) + 1
    vocab = Vocab.of_text(" ".join(TOPICS) + ".\n")
    return TokenData(torch.tensor(vocab.encode(text), dtype=torch.int64), vocab, "tiny-documents", "train",
                     "synthetic", torch.tensor(starts, dtype=torch.int64))


def tiny_pairs(n: int = 32, seed: int = 0) -> ImagePairData:
    """(1, 4, 4) sources: 2x2 average-pooled (1, 8, 8) targets."""
    from tests.conftest import tiny_images

    target = tiny_images(n, seed=seed).x
    source = F.avg_pool2d(target.float(), 2).round().to(torch.uint8)
    return ImagePairData(source, target, "tiny-pairs", "train", how="2x2 average pooling")


def tiny_domains(n: int = 32, seed: int = 0) -> ImagePairData:
    """Two unpaired domains of (1, 8, 8) images: tiny images (A) and their negatives (B), unaligned."""
    from tests.conftest import tiny_images

    a = tiny_images(2 * n, seed=seed)
    b = dataclasses.replace(a, x=255 - a.x, name="tiny-negatives")
    return unpaired(a, b)


def tiny_image_text(n: int = 32, seed: int = 0) -> ImageTextData:
    """Tiny images with captions naming the bright quadrant (two phrasings each)."""
    from tests.conftest import tiny_images

    data = tiny_images(n, seed=seed)
    captions = tuple((f"bright {QUADRANTS[int(k)]}", f"a {QUADRANTS[int(k)]} blob") for k in data.y)
    return ImageTextData(data.x, captions, tiny_caption_vocab(), "tiny-captions", "train", y=data.y,
                         classes=data.classes, max_len=24)


QUADRANTS = ("top left", "top right", "bottom left", "bottom right")


def tiny_caption_vocab() -> Vocab:
    """The characters of every tiny caption (the same for any n)."""
    return Vocab.of_text("".join(f"bright {q}a {q} blob" for q in QUADRANTS), pad=True)


TINY_DATA = {"tiny-tokens": tiny_tokens, "tiny-pca": None, "tiny-pair": tiny_pairs, "tiny-embed": tiny_image_text,
             "gpt": tiny_tokens, "lda": tiny_documents,  # families of FAMILIES that do not train on images
             "pix2pix": tiny_pairs, "sr": tiny_pairs, "srgan": tiny_pairs, "cyclegan": tiny_domains,
             "clip": tiny_image_text, "t2i": tiny_image_text}
