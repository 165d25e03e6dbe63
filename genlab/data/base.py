"""The data kinds every loader returns, what a model is built for (DataSpec), what one training step
gets (Batch), and the error every loader raises.

Four kinds (core v2):
- "image": `ImageData`, uint8 images (n, c, h, w) with optional class labels.
- "tokens": `TokenData`, one 1-D stream of token ids with its `Vocab`; a batch is random blocks of
  T + 1 consecutive tokens (inputs and next-token targets).
- "image-text": `ImageTextData`, images with one or more captions each; a batch holds the images and
  one caption per image as padded token ids.
- "image-pair": `ImagePairData`, aligned source and target images (low-res -> high-res, edges -> image,
  ...); a batch holds both.
Scaling to [0, 1] and binarization belong to the kind (`batch`), not to the trainer. A batch is a pure
function of the indices it is given and the generator, so exact resume works for every kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch

from genlab.nn.distributions import binarize as binarize_images

DataKind = Literal["image", "tokens", "image-text", "image-pair"]
KINDS: tuple[str, ...] = ("image", "tokens", "image-text", "image-pair")
BinarizeMode = Literal["none", "dynamic", "static"]


class DataError(ValueError):
    """A dataset could not be read: the message names the file and the problem, and how to fix it."""


@dataclass(frozen=True)
class Vocab:
    """Token strings by id, for character (or word) tokens. Id 0 is reserved for padding when `pad`.

    Args:
        tokens: the string of each id.
        pad: id 0 is a padding token (image-text captions); token streams have none.
        unk: the id that stands for characters not in the vocabulary, or None (then they are an error).
    """

    tokens: tuple[str, ...]
    pad: bool = False
    unk: int | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def index(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.tokens)}

    def encode(self, text: str) -> list[int]:
        """Character ids of `text`; unknown characters map to `unk`, or raise DataError naming them."""
        index = self.index
        ids = [index.get(ch, -1) for ch in text]
        if -1 in ids:
            if self.unk is None:
                missing = sorted({ch for ch in text if ch not in index})
                raise DataError(f"characters {missing!r} are not in the vocabulary of {len(self)} tokens")
            ids = [self.unk if i < 0 else i for i in ids]
        return ids

    def decode(self, ids) -> str:
        """The text of a sequence of ids (padding dropped)."""
        return "".join(self.tokens[int(i)] for i in ids if not (self.pad and int(i) == 0))

    def to_json(self) -> dict[str, Any]:
        return {"tokens": list(self.tokens), "pad": self.pad, "unk": self.unk}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Vocab:
        return cls(tuple(d["tokens"]), bool(d.get("pad", False)), d.get("unk"))

    @classmethod
    def of_text(cls, text: str, *, pad: bool = False, unk: str | None = None) -> Vocab:
        """The sorted characters of `text` (after a padding token, and an unknown token, when asked)."""
        chars = sorted(set(text) - ({unk} if unk else set()))
        tokens = (["<pad>"] if pad else []) + ([unk] if unk else []) + chars
        return cls(tuple(tokens), pad, (1 if pad else 0) if unk else None)


@dataclass(frozen=True)
class DataSpec:
    """What a model is built for; saved in each run's config.json (`data_info`).

    Args:
        kind: the data kind.
        shape: (c, h, w) of an image (the target image of a pair); () for tokens.
        num_classes: label classes (0 = unlabelled).
        classes: class names by label, or None.
        vocab: token strings (tokens and image-text), or None.
        source_shape: (c, h, w) of a pair's source image, or None.
        kept_classes: the labels the data was cut to (`--classes`), or None for all: a conditional model
            draws these in turn, not classes it never saw.
    """

    kind: DataKind = "image"
    shape: tuple[int, ...] = ()
    num_classes: int = 0
    classes: tuple[str, ...] | None = None
    vocab: Vocab | None = None
    source_shape: tuple[int, ...] | None = None
    kept_classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown data kind {self.kind!r}; valid: {', '.join(KINDS)}")

    @classmethod
    def image(cls, shape, num_classes: int = 0, classes=None) -> DataSpec:
        return cls("image", tuple(int(s) for s in shape), int(num_classes), None if classes is None else tuple(classes))

    @property
    def vocab_size(self) -> int:
        return 0 if self.vocab is None else len(self.vocab)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": list(self.shape), "num_classes": self.num_classes,
                "classes": None if self.classes is None else list(self.classes),
                "vocab": None if self.vocab is None else self.vocab.to_json(),
                "source_shape": None if self.source_shape is None else list(self.source_shape),
                "kept_classes": None if self.kept_classes is None else list(self.kept_classes)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> DataSpec:
        """From `to_json` output, or from an older run's data_info (shape, num_classes, classes)."""
        return cls(d.get("kind", "image"), tuple(d.get("shape") or ()), int(d.get("num_classes") or 0),
                   tuple(d["classes"]) if d.get("classes") else None,
                   Vocab.from_json(d["vocab"]) if d.get("vocab") else None,
                   tuple(d["source_shape"]) if d.get("source_shape") else None,
                   tuple(int(k) for k in d["kept_classes"]) if d.get("kept_classes") else None)


@dataclass
class Batch:
    """One step's data for a model. Which fields are set depends on the kind:

    Args:
        x: image: (b, c, h, w) float32 in [0, 1]; tokens: (b, T + 1) int64; image-text: the images;
            image-pair: the target images.
        y: (b,) int64 class labels, or None.
        text: image-text: (b, L) int64 caption token ids, 0 = padding.
        source: image-pair: (b, c', h', w') float32 source images in [0, 1].
    """

    x: torch.Tensor
    y: torch.Tensor | None = None
    text: torch.Tensor | None = None
    source: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(move(self.x), move(self.y), move(self.text), move(self.source))

    def channels_last(self) -> Batch:
        """Image fields in the channels-last memory format (faster convolutions on modern CPUs and GPUs)."""
        cl = lambda t: t if t is None or t.ndim != 4 else t.contiguous(memory_format=torch.channels_last)  # noqa: E731
        return Batch(cl(self.x) if self.x.is_floating_point() else self.x, self.y, self.text, cl(self.source))


def _labels(y: torch.Tensor | None, n: int) -> None:
    if y is not None:
        assert y.dtype == torch.int64 and y.shape == (n,), (y.dtype, y.shape)


def _image_shape(x: torch.Tensor) -> tuple[int, int, int]:
    """(c, h, w) of one image of a (n, c, h, w) tensor."""
    c, h, w = x.shape[1:]
    return (int(c), int(h), int(w))


def _float_images(x: torch.Tensor, index: torch.Tensor | slice | None) -> torch.Tensor:
    """uint8 images (all, or those at `index`) as float32 in [0, 1]."""
    return (x if index is None else x[index]).float().div_(255.0)


def _num_classes(classes, y) -> int:
    if classes is not None:
        return len(classes)
    return 0 if y is None or not len(y) else int(y.max().item()) + 1


@dataclass(frozen=True)
class ImageData:
    """Images stored as uint8 (n, c, h, w); `images()` gives float32 in `value_range` = [0, 1].

    Args:
        x: (n, c, h, w) uint8 pixels.
        y: (n,) int64 labels, or None for unlabelled data.
        name: dataset name as the user typed it (e.g. "mnist", "folder:/data/cats").
        split: "train" or "test".
        classes: class names indexed by label, or None.
        source: where the data was read from (a path or package), for `genlab datasets` and reports.
        kept_classes: the labels `of_classes` cut the data to, or None (all).
    """

    x: torch.Tensor
    y: torch.Tensor | None
    name: str
    split: str
    classes: tuple[str, ...] | None = None
    source: str = ""
    value_range: tuple[float, float] = field(default=(0.0, 1.0))
    kept_classes: tuple[int, ...] | None = None
    kind: DataKind = field(default="image", init=False)

    def __post_init__(self) -> None:
        assert self.x.dtype == torch.uint8 and self.x.ndim == 4, (self.x.dtype, self.x.shape)
        _labels(self.y, self.x.shape[0])

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(c, h, w) of one image."""
        return _image_shape(self.x)

    @property
    def num_classes(self) -> int:
        return _num_classes(self.classes, self.y)

    @property
    def spec(self) -> DataSpec:
        return DataSpec("image", self.shape, self.num_classes, self.classes, kept_classes=self.kept_classes)

    @property
    def origin(self) -> str:
        """Where the data came from (every kind has one), for config.json and reports."""
        return self.source

    def images(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """Float32 images in [0, 1], (n, c, h, w); all of them, or those at `index`."""
        return _float_images(self.x, index)

    def labels(self, index: torch.Tensor | slice | None = None) -> torch.Tensor | None:
        if self.y is None:
            return None
        return self.y if index is None else self.y[index]

    def subset(self, n: int) -> ImageData:
        """The first n examples (deterministic), for quick runs and tests."""
        y = None if self.y is None else self.y[:n]
        return ImageData(self.x[:n], y, self.name, self.split, self.classes, self.source,
                         kept_classes=self.kept_classes)

    def of_classes(self, keep: tuple[int, ...] | list[int]) -> ImageData:
        """The images whose label is in `keep` (their order kept); DataError when there are no labels, a
        label is out of range, or nothing is left."""
        if self.y is None:
            raise DataError(f"{self.name} has no class labels, so it cannot be filtered by class; drop --classes")
        bad = [k for k in keep if not 0 <= int(k) < self.num_classes]
        if bad:
            raise DataError(f"{self.name} has classes 0..{self.num_classes - 1}; {bad} are not among them")
        mask = torch.isin(self.y, torch.tensor([int(k) for k in keep], dtype=self.y.dtype, device=self.y.device))
        if not bool(mask.any()):
            raise DataError(f"{self.name} ({self.split}) has no images of classes {list(keep)}")
        return replace(self, x=self.x[mask], y=self.y[mask], kept_classes=tuple(sorted({int(k) for k in keep})))

    def per_class(self, n: int, generator: torch.Generator | None = None) -> ImageData:
        """n images of every class, drawn at random with `generator` (in dataset order within the result);
        DataError without labels or when a class has fewer than n images."""
        if self.y is None:
            raise DataError(f"{self.name} has no class labels, so it cannot be cut to n images per class; drop "
                            "--per-class")
        keep = []
        for k in range(self.num_classes):
            rows = torch.nonzero(self.y.cpu() == k).flatten()
            if len(rows) < n:
                raise DataError(f"{self.name} has {len(rows)} images of class {k}, fewer than --per-class {n}")
            keep.append(rows[torch.randperm(len(rows), generator=generator)[:n]])
        idx = torch.cat(keep).sort().values.to(self.x.device)
        return replace(self, x=self.x[idx], y=self.y[idx])

    def to(self, device: torch.device | str) -> ImageData:
        return replace(self, x=self.x.to(device), y=None if self.y is None else self.y.to(device))

    # --- batches ---------------------------------------------------------------------------------
    def items(self, block_size: int = 0) -> int:
        """How many examples a batch index can address."""
        return len(self)

    def batch(self, idx: torch.Tensor, *, generator: torch.Generator | None = None,
              binarize: BinarizeMode = "none", block_size: int = 0) -> Batch:
        """The images at `idx` in [0, 1] (binarized as asked) with their labels."""
        return Batch(binarize_images(self.images(idx), binarize, generator), self.labels(idx))


@dataclass(frozen=True)
class TokenData:
    """A stream of token ids (a corpus of text as characters, say) with its vocabulary.

    Args:
        ids: (n,) int64 token ids in [0, len(vocab)).
        vocab: the token strings.
        name, split, source: as for ImageData.
        doc_starts: (d,) int64 offsets where documents (scenes, files) begin, or None.
    """

    ids: torch.Tensor
    vocab: Vocab
    name: str
    split: str
    source: str = ""
    doc_starts: torch.Tensor | None = None
    kind: DataKind = field(default="tokens", init=False)

    def __post_init__(self) -> None:
        assert self.ids.dtype == torch.int64 and self.ids.ndim == 1, (self.ids.dtype, self.ids.shape)

    def __len__(self) -> int:
        return self.ids.shape[0]

    @property
    def num_classes(self) -> int:
        return 0

    @property
    def spec(self) -> DataSpec:
        return DataSpec("tokens", (), 0, None, self.vocab)

    @property
    def origin(self) -> str:
        return self.source

    def text(self, start: int = 0, stop: int | None = None) -> str:
        return self.vocab.decode(self.ids[start:stop].tolist())

    def subset(self, n: int) -> TokenData:
        """The first n tokens."""
        return replace(self, ids=self.ids[:n])

    def to(self, device: torch.device | str) -> TokenData:
        return replace(self, ids=self.ids.to(device))

    def items(self, block_size: int = 0) -> int:
        """Start offsets of the blocks of block_size + 1 tokens that fit in the stream."""
        if block_size < 1:
            raise ValueError("token batches need a block size (the model's context length) >= 1")
        return max(0, len(self) - block_size)

    def batch(self, idx: torch.Tensor, *, generator: torch.Generator | None = None,
              binarize: BinarizeMode = "none", block_size: int = 0) -> Batch:
        """Blocks of block_size + 1 tokens starting at `idx`: (b, T + 1), inputs x[:, :-1], targets x[:, 1:]."""
        offsets = torch.arange(block_size + 1, device=self.ids.device)
        return Batch(self.ids[idx[:, None] + offsets[None, :]])


@dataclass(frozen=True)
class ImageTextData:
    """Images with captions: uint8 images, one or more captions each, and the caption vocabulary.

    Args:
        x: (n, c, h, w) uint8 images.
        captions: for each image, a tuple of one or more non-empty captions.
        vocab: a Vocab with `pad` (id 0) covering every caption character.
        y: (n,) int64 labels, or None.
        max_len: captions are cut or padded to this many tokens in a batch.
    """

    x: torch.Tensor
    captions: tuple[tuple[str, ...], ...]
    vocab: Vocab
    name: str
    split: str
    y: torch.Tensor | None = None
    classes: tuple[str, ...] | None = None
    source: str = ""
    max_len: int = 64
    kind: DataKind = field(default="image-text", init=False)

    def __post_init__(self) -> None:
        assert self.x.dtype == torch.uint8 and self.x.ndim == 4, (self.x.dtype, self.x.shape)
        _labels(self.y, self.x.shape[0])
        if len(self.captions) != len(self.x):
            raise DataError(f"{self.name}: {len(self.x)} images but {len(self.captions)} caption lists; "
                            "give every image at least one caption")
        for i, caps in enumerate(self.captions):
            if not caps or not all(isinstance(c, str) and c.strip() for c in caps):
                raise DataError(f"{self.name}: image {i} has an empty or non-text caption; every image needs "
                                "at least one non-empty caption")
        if not self.vocab.pad:
            raise ValueError("an image-text vocabulary reserves id 0 for padding: build it with pad=True")

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        return _image_shape(self.x)

    @property
    def num_classes(self) -> int:
        return _num_classes(self.classes, self.y)

    @property
    def spec(self) -> DataSpec:
        return DataSpec("image-text", self.shape, self.num_classes, self.classes, self.vocab)

    @property
    def origin(self) -> str:
        return self.source

    def images(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        return _float_images(self.x, index)

    def tokens(self, texts: list[str]) -> torch.Tensor:
        """(len(texts), max_len) int64 ids, 0-padded (longer texts are cut)."""
        out = torch.zeros(len(texts), self.max_len, dtype=torch.int64)
        for i, t in enumerate(texts):
            ids = self.vocab.encode(t)[:self.max_len]
            out[i, :len(ids)] = torch.tensor(ids, dtype=torch.int64)
        return out

    def subset(self, n: int) -> ImageTextData:
        return replace(self, x=self.x[:n], captions=self.captions[:n], y=None if self.y is None else self.y[:n])

    def to(self, device: torch.device | str) -> ImageTextData:
        return replace(self, x=self.x.to(device), y=None if self.y is None else self.y.to(device))

    def items(self, block_size: int = 0) -> int:
        return len(self)

    def batch(self, idx: torch.Tensor, *, generator: torch.Generator | None = None,
              binarize: BinarizeMode = "none", block_size: int = 0) -> Batch:
        """The images at `idx` with one caption each, drawn with `generator` among the image's captions."""
        rows = idx.tolist()
        counts = torch.tensor([len(self.captions[i]) for i in rows], dtype=torch.float64)
        device = generator.device if generator is not None else "cpu"
        u = torch.rand(len(rows), generator=generator, device=device).cpu().double()
        pick = (u * counts).long().clamp_max(counts.long() - 1).tolist()
        text = self.tokens([self.captions[i][k] for i, k in zip(rows, pick)]).to(self.x.device)
        x = binarize_images(self.images(idx), binarize, generator)
        return Batch(x, None if self.y is None else self.y[idx], text=text)


@dataclass(frozen=True)
class ImagePairData:
    """Aligned source and target images (uint8), e.g. low-res -> high-res; labels optional.

    Args:
        source: (n, c', h', w') uint8 source images.
        target: (n, c, h, w) uint8 target images, aligned with `source` by index.
        how: how the pairs were made (e.g. "x2 bicubic downsampling"), for reports.
        paired: False for two unpaired domains (CycleGAN): source i and target i are unrelated images.
    """

    source: torch.Tensor
    target: torch.Tensor
    name: str
    split: str
    y: torch.Tensor | None = None
    classes: tuple[str, ...] | None = None
    how: str = ""
    paired: bool = True
    kind: DataKind = field(default="image-pair", init=False)

    def __post_init__(self) -> None:
        for t in (self.source, self.target):
            assert t.dtype == torch.uint8 and t.ndim == 4, (t.dtype, t.shape)
        if self.source.shape[0] != self.target.shape[0]:
            raise DataError(f"{self.name}: {self.source.shape[0]} source images but {self.target.shape[0]} "
                            "targets; pairs must be aligned one to one")
        _labels(self.y, self.target.shape[0])

    def __len__(self) -> int:
        return self.target.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        return _image_shape(self.target)

    @property
    def source_shape(self) -> tuple[int, int, int]:
        return _image_shape(self.source)

    @property
    def num_classes(self) -> int:
        return _num_classes(self.classes, self.y)

    @property
    def spec(self) -> DataSpec:
        return DataSpec("image-pair", self.shape, self.num_classes, self.classes, None, self.source_shape)

    @property
    def origin(self) -> str:
        """How the pairs were made (the `source` field holds the source images)."""
        return self.how

    def images(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        """The target images in [0, 1]."""
        return _float_images(self.target, index)

    def sources(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        return _float_images(self.source, index)

    def subset(self, n: int) -> ImagePairData:
        return replace(self, source=self.source[:n], target=self.target[:n], y=None if self.y is None else self.y[:n])

    def to(self, device: torch.device | str) -> ImagePairData:
        return replace(self, source=self.source.to(device), target=self.target.to(device),
                       y=None if self.y is None else self.y.to(device))

    def items(self, block_size: int = 0) -> int:
        return len(self)

    def batch(self, idx: torch.Tensor, *, generator: torch.Generator | None = None,
              binarize: BinarizeMode = "none", block_size: int = 0) -> Batch:
        return Batch(self.images(idx), None if self.y is None else self.y[idx], source=self.sources(idx))


Data = ImageData | TokenData | ImageTextData | ImagePairData
