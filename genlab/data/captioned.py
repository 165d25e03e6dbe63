"""MNIST and Fashion-MNIST with generated captions ("a thick, slanted handwritten seven" style): the
image-text datasets `mnist-captions` and `fashion-mnist-captions`.

The images and labels are those of `mnist` / `fashion-mnist` (same files, same splits). Captions come
from genlab.data.captions: class names and synonyms, attribute words measured on each image against
per-class thresholds of the training split, filled into templates. The training split uses the
training templates and names and never puts the held-out attribute pair in one caption; the test split
uses the held-out templates, so `genlab eval` on it measures retrieval on held-out phrasings.
"""

from __future__ import annotations

from pathlib import Path

from genlab.data import fashion_mnist, mnist
from genlab.data.base import ImageData, ImageTextData
from genlab.data.captions import (
    FASHION_CAPTIONS,
    MNIST_CAPTIONS,
    CaptionSet,
    attribute_words,
    caption_vocab,
    class_thresholds,
    compose,
    measure,
)
from genlab.data.common import Loader, Split

MAX_LEN = 64  # the longest generated caption has 57 characters


def thresholds_for(train: ImageData, cs: CaptionSet) -> dict:
    """Per-class attribute thirds measured on the training split."""
    return class_thresholds(measure(train.x), train.y, len(cs.names), cs.attributes)


def caption_images(data: ImageData, cs: CaptionSet, thresholds: dict, *, split: str, name: str) -> ImageTextData:
    """`data` (labelled grey images) with captions from `cs` (see genlab.data.captions.compose)."""
    words = attribute_words(measure(data.x), data.y, thresholds, cs.attributes)
    captions = compose(cs, data.y, words, split=split)
    return ImageTextData(data.x, captions, caption_vocab(), name, split, y=data.y, classes=data.classes,
                         source=f"{data.source}; captions: genlab.data.captions", max_len=MAX_LEN)


def _loader(base: Loader, cs: CaptionSet, name: str, what: str) -> Loader:
    def load(split: Split, data_dir: Path | None) -> ImageTextData:
        train = base(split="train", data_dir=data_dir)
        images = train if split == "train" else base(split=split, data_dir=data_dir)
        return caption_images(images, cs, thresholds_for(train, cs), split=split, name=name)

    return Loader(load, base.locate, f"{what} with generated captions (image-text)", base.shape, base.num_classes)


MNIST_LOADER = _loader(mnist.LOADER, MNIST_CAPTIONS, "mnist-captions", "MNIST")
FASHION_LOADER = _loader(fashion_mnist.LOADER, FASHION_CAPTIONS, "fashion-mnist-captions", "Fashion-MNIST")
CAPTION_SETS = {"mnist-captions": MNIST_CAPTIONS, "fashion-mnist-captions": FASHION_CAPTIONS}

__all__ = ["CAPTION_SETS", "FASHION_LOADER", "MAX_LEN", "MNIST_LOADER", "caption_images", "thresholds_for"]
