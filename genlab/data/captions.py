"""Captions for labelled grey images, built from class names, synonyms and attributes measured on each
image, from templates; some templates, synonyms and attribute pairs are held out of training.

Measured attributes of an image x in [0, 1] (1, h, w), ink m = x (an image's mass), pixels p = (row, col):
- thickness  w = area / (perimeter / 2): a stroke of width w and length L has area w L and perimeter ~ 2 L;
             area = #(x > 0.5), perimeter = #(horizontal and vertical ink/background edges).
- slant      s = -cov(col, row) / var(row) under the ink weights: > 0 leans right (the top further right).
- size       the area of the bounding box of the pixels > 0.2, as a fraction of the image.
- brightness the mean value of the object's pixels (> 0.2).
Each attribute becomes a word when the image is in the bottom or top third of its class on the training
split ("thin" / "thick"); the middle third says nothing. Thresholds are per class, from the training
split, so "a thick one" means thick for a one.

Captions are lower case. Every image gets CAPTIONS_PER_IMAGE captions, each a template filled with one
of the class's names and a random subset of its attribute words (drawn with a generator seeded by the
image's index (random.Random), so the captions are a pure function of the data). On the training split only the
training templates and names are used and the held-out attribute pair never appears together; the test
split's captions use the held-out templates (see `CaptionSet`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from genlab.data.base import DataError, Vocab

# Characters of every caption genlab writes: lower-case letters, digits, space and a little punctuation.
CHARS = " abcdefghijklmnopqrstuvwxyz0123456789-',.:&!/()"
UNK = "?"
CAPTIONS_PER_IMAGE = 4


def caption_vocab() -> Vocab:
    """The one caption vocabulary: padding (id 0), unknown "?" (id 1), then CHARS; the same for every
    captioned dataset, so a model trained on one split reads the other."""
    return Vocab(("<pad>", UNK, *CHARS), pad=True, unk=1)


def normalize_caption(text: object) -> str:
    """A caption as genlab reads it: lower case, runs of white space as one space.

    Raises:
        DataError: `text` is not a string, or is empty after stripping.
    """
    if not isinstance(text, str):
        raise DataError(f"a caption must be text (a str), got {type(text).__name__}; pass e.g. \"a thick seven\"")
    out = " ".join(text.lower().split())
    if not out:
        raise DataError("a caption is empty; pass a non-empty text such as \"a thick handwritten seven\"")
    return out


# --- attributes -------------------------------------------------------------------------------------
def measure(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The attributes of each image (see the module docstring).

    Args:
        x: (n, 1, h, w) float in [0, 1] (or uint8, read as /255).
    Returns:
        {"thickness", "slant", "size", "brightness"}: each (n,) float32.
    """
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"attributes are measured on grey images (n, 1, h, w), got {tuple(x.shape)}")
    x = x[:, 0].float()  # (n, h, w)
    n, h, w = x.shape
    ink = (x > 0.5).float()
    area = ink.sum((1, 2))
    perimeter = (ink[:, 1:] != ink[:, :-1]).sum((1, 2)) + (ink[:, :, 1:] != ink[:, :, :-1]).sum((1, 2))
    thickness = area / (perimeter.float() / 2).clamp_min(1.0)
    mass = x.sum((1, 2)).clamp_min(1e-6)
    rows = torch.arange(h, dtype=torch.float32)[None, :, None]
    cols = torch.arange(w, dtype=torch.float32)[None, None, :]
    r_mean = (x * rows).sum((1, 2)) / mass
    c_mean = (x * cols).sum((1, 2)) / mass
    dr, dc = rows - r_mean[:, None, None], cols - c_mean[:, None, None]
    var_r = (x * dr * dr).sum((1, 2)) / mass
    slant = -(x * dr * dc).sum((1, 2)) / mass / var_r.clamp_min(1e-6)
    obj = x > 0.2
    any_r, any_c = obj.any(2), obj.any(1)  # (n, h), (n, w)
    height = _extent(any_r)
    width = _extent(any_c)
    size = height * width / float(h * w)
    brightness = (x * obj).sum((1, 2)) / obj.sum((1, 2)).clamp_min(1)
    return {"thickness": thickness, "slant": slant, "size": size, "brightness": brightness}


def _extent(occupied: torch.Tensor) -> torch.Tensor:
    """(n,) length of the span from the first to the last True of each row of (n, k); 0 when none."""
    k = occupied.shape[1]
    idx = torch.arange(k).expand_as(occupied)
    first = torch.where(occupied, idx, k).min(1).values
    last = torch.where(occupied, idx, -1).max(1).values
    return (last - first + 1).clamp_min(0).float()


@dataclass(frozen=True)
class Attribute:
    """A measured attribute and the words for its bottom and top third (e.g. thickness: thin, thick)."""

    name: str
    low: str
    high: str
    absolute: bool = False  # measure |value| (slant: either way is "slanted")


def attribute_words(values: dict[str, torch.Tensor], y: torch.Tensor, thresholds: dict[str, torch.Tensor],
                    attributes: tuple[Attribute, ...]) -> list[list[str]]:
    """The attribute words of each image: for each attribute, its low word below the class's lower
    threshold, its high word above the upper one.

    Args:
        values: measure() of n images; y: (n,) labels; thresholds: name -> (K, 2) per-class thirds.
    """
    words: list[list[str]] = [[] for _ in range(len(y))]
    for a in attributes:
        v = values[a.name].abs() if a.absolute else values[a.name]
        lo, hi = thresholds[a.name][y, 0], thresholds[a.name][y, 1]
        for i in torch.nonzero(v < lo).flatten().tolist():
            words[i].append(a.low)
        for i in torch.nonzero(v > hi).flatten().tolist():
            words[i].append(a.high)
    return words


def class_thresholds(values: dict[str, torch.Tensor], y: torch.Tensor, num_classes: int,
                     attributes: tuple[Attribute, ...]) -> dict[str, torch.Tensor]:
    """Per class, the 1/3 and 2/3 quantiles of each attribute: name -> (K, 2)."""
    out = {}
    for a in attributes:
        v = values[a.name].abs() if a.absolute else values[a.name]
        q = torch.tensor([1 / 3, 2 / 3])
        out[a.name] = torch.stack([torch.quantile(v[y == k], q) for k in range(num_classes)])
    return out


# --- templates --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaptionSet:
    """What captions of one dataset may say.

    Args:
        names: per class, its names; the last one is held out of training (a held-out synonym).
        train_templates, heldout_templates: with "{a}" (attribute words and a space, or nothing) and "{n}".
        attributes: the measured attributes and their words.
        heldout_pair: two attribute words that never appear together in a training caption.
    """

    names: tuple[tuple[str, ...], ...]
    train_templates: tuple[str, ...]
    heldout_templates: tuple[str, ...]
    attributes: tuple[Attribute, ...]
    heldout_pair: tuple[str, str]

    def train_names(self, k: int) -> tuple[str, ...]:
        return self.names[k][:-1]

    def heldout_name(self, k: int) -> str:
        return self.names[k][-1]

    def fill(self, template: str, name: str, words: list[str]) -> str:
        return template.format(a="".join(w + " " for w in words), n=name)


def compose(cs: CaptionSet, y: torch.Tensor, words: list[list[str]], *, split: str,
            per_image: int = CAPTIONS_PER_IMAGE, seed: int = 0) -> tuple[tuple[str, ...], ...]:
    """Captions of each image (see the module docstring): training templates and names on "train", the
    held-out templates (with training names) on "test".

    Args:
        y: (n,) labels; words: attribute words of each image (attribute_words).
    """
    templates = cs.train_templates if split == "train" else cs.heldout_templates
    out = []
    for i, (k, ws) in enumerate(zip(y.tolist(), words)):
        rng = random.Random(seed * 1_000_003 + i)  # per image: the captions of image i never depend on n
        names = cs.train_names(k)
        caps = []
        for _ in range(per_image):
            t, name = rng.choice(templates), rng.choice(names)
            keep = [w for w in ws if rng.random() < 0.75]
            if split == "train" and all(w in keep for w in cs.heldout_pair):
                keep.remove(rng.choice(cs.heldout_pair))
            caps.append(cs.fill(t, name, keep))
        out.append(tuple(caps))
    return tuple(out)


def class_prompts(cs: CaptionSet, *, templates: tuple[str, ...], heldout_names: bool = False) -> list[list[str]]:
    """Zero-shot prompts: per class, each template filled with each of its training names (or its
    held-out name) and no attribute words."""
    out = []
    for k in range(len(cs.names)):
        names = (cs.heldout_name(k),) if heldout_names else cs.train_names(k)
        out.append([cs.fill(t, n, []) for t in templates for n in names])
    return out


def _digit_names(k: int, word: str) -> tuple[str, ...]:
    """Four names of digit k; the one held out (last) rotates with k, so its words are seen with other
    digits ("number seven" is held out while "number one" is trained on)."""
    forms = [word, f"digit {word}", str(k), f"number {word}"]
    held = forms.pop(k % 4)
    return (*forms, held)


DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MNIST_CAPTIONS = CaptionSet(
    names=tuple(_digit_names(k, w) for k, w in enumerate(DIGITS)),
    train_templates=("a {a}handwritten {n}", "{a}{n}", "a {a}{n}", "an image of a {a}{n}",
                     "a photo of a {a}handwritten {n}"),
    heldout_templates=("a picture of a {a}{n}", "this is a {a}{n}", "a scan of a {a}handwritten {n}"),
    attributes=(Attribute("thickness", "thin", "thick"), Attribute("slant", "upright", "slanted", absolute=True),
                Attribute("size", "small", "large")),
    heldout_pair=("thick", "slanted"),
)
FASHION_CAPTIONS = CaptionSet(
    names=(("t-shirt", "top", "tee shirt"), ("trousers", "pants", "trouser"), ("pullover", "sweater", "jumper"),
           ("dress", "frock", "gown"), ("coat", "jacket", "overcoat"), ("sandal", "flip-flop", "sandals"),
           ("shirt", "button-up shirt", "blouse"), ("sneaker", "trainer", "running shoe"),
           ("bag", "handbag", "purse"), ("ankle boot", "boot", "short boot")),
    train_templates=("a {a}{n}", "a photo of a {a}{n}", "{a}{n}", "a product image of a {a}{n}",
                     "an image of a {a}{n}"),
    heldout_templates=("a picture of a {a}{n}", "this is a {a}{n}", "a catalogue photo of a {a}{n}"),
    attributes=(Attribute("size", "small", "large"), Attribute("brightness", "dark", "light")),
    heldout_pair=("small", "dark"),
)


__all__ = ["CAPTIONS_PER_IMAGE", "CHARS", "FASHION_CAPTIONS", "MNIST_CAPTIONS", "Attribute", "CaptionSet",
           "attribute_words", "caption_vocab", "class_prompts", "class_thresholds", "compose", "measure",
           "normalize_caption"]
