"""Images from a folder: `folder:PATH`.

Layouts:
- PATH/<class>/**/*.png|jpg|...: one sub-folder per class; labels index the sorted sub-folder names.
- PATH/*.png|jpg|...: a flat folder of unlabelled images.
- PATH/train/ and PATH/test/, each in one of the layouts above: the two splits (classes come from train/).
Without train/, every image is train and asking for "test" raises DataError (no hidden hold-out, so
training always sees every image the user gave).
All images must share one size. If every image is greyscale the data has 1 channel, else 3 (RGB);
transparent images are composited on white; 16-bit greyscale is scaled to 8 bits (round(v * 255 / 65535)).
Hidden files and other file types are skipped. Pillow may only decode the formats listed in FORMATS
(a file named .png that holds EPS never reaches Ghostscript), and an image larger than Pillow's
decompression-bomb limit is refused.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from genlab.data.base import DataError, ImageData
from genlab.data.common import Split, make_image_data, one_line

SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
FORMATS = ("PNG", "JPEG", "BMP", "WEBP")  # the Pillow decoders for SUFFIXES; no other plugin is ever tried
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
WIDE_GREY = frozenset({"I", "I;16", "I;16B", "I;16L"})  # 16-bit greyscale PNG (Pillow >= 10: I;16, older: I)


def open_image(path: Path):
    """`PIL.Image.open` limited to FORMATS, with Pillow's decompression-bomb warning raised as an error;
    failures become DataError naming the file."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path, formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: refused: the image is too large to decode safely ({e})") from None
    except Exception as e:  # Pillow's parsers raise OSError, SyntaxError, struct.error, ... on damaged files
        raise DataError(f"{path}: cannot read image ({one_line(e)}); readable formats: "
                        f"{', '.join(FORMATS)}") from None


def to_8bit(im, path: Path):
    """A 16-bit greyscale image as 8-bit "L" (or "LA" when it has a transparent grey value), scaled by
    255 / 65535 and rounded; other images unchanged (Pillow itself reduces 16-bit colour to 8 bits)."""
    from PIL import Image

    if im.mode not in WIDE_GREY:
        return im
    v = np.asarray(im).astype(np.int64)
    if v.size and (v.min() < 0 or v.max() > 65535):
        raise DataError(f"{path}: {im.mode} pixels lie outside 0..65535 ({v.min()}..{v.max()})")
    grey = Image.fromarray(((v * 255 + 32767) // 65535).astype(np.uint8))  # 2-D uint8: mode "L"
    key = im.info.get("transparency")
    if isinstance(key, int):
        grey.putalpha(Image.fromarray(np.where(v == key, 0, 255).astype(np.uint8)))
    return grey


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in SUFFIXES and not path.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Image files under `folder` (recursive), sorted, skipping hidden files and folders."""
    rel = (p for p in folder.rglob("*") if _is_image(p))
    return sorted(p for p in rel if not any(part.startswith(".") for part in p.relative_to(folder).parts))


def scan(
    root: Path, classes: tuple[str, ...] | None = None
) -> tuple[list[Path], list[int] | None, tuple[str, ...] | None]:
    """The image files of one split folder, their labels and the class names.

    Args:
        root: a class-per-sub-folder or flat folder.
        classes: class names to use (from train/) instead of those found, or None.
    """
    loose = sorted(p for p in root.iterdir() if _is_image(p))
    subdirs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    class_dirs = {d.name: imgs for d in subdirs if (imgs := list_images(d))}
    if class_dirs and loose:
        raise DataError(
            f"{root}: mixes loose images ({loose[0].name}) with class folders ({next(iter(class_dirs))}/); "
            "put every image in a class folder, or none"
        )
    if not class_dirs:
        if not loose:
            raise DataError(f"{root}: no images found (looked for {', '.join(sorted(SUFFIXES))})")
        if classes is not None:
            raise DataError(f"{root}: has no class folders but train/ has classes {list(classes)}")
        return loose, None, None
    classes = classes if classes is not None else tuple(class_dirs)
    unknown = sorted(set(class_dirs) - set(classes))
    if unknown:
        raise DataError(f"{root}: class folder(s) {unknown} are not among the train classes {list(classes)}")
    files, labels = [], []
    for name, imgs in class_dirs.items():
        files += imgs
        labels += [classes.index(name)] * len(imgs)
    return files, labels, classes


def probe(files: list[Path]) -> tuple[tuple[int, int], bool]:
    """Read headers only: the common (width, height), and whether every image is greyscale.

    Raises DataError naming an unreadable file, or two files whose sizes differ.
    """
    first: tuple[Path, tuple[int, int]] | None = None
    grey = True
    for path in files:
        with open_image(path) as im:
            size, mode = im.size, im.mode
        if first is None:
            first = (path, size)
        elif size != first[1]:
            (w0, h0), (w1, h1) = first[1], size
            raise DataError(
                f"images differ in size: {first[0]} is {w0}x{h0} but {path} is {w1}x{h1}; "
                "resize them to one size first (e.g. Pillow: Image.open(f).resize((64, 64)))"
            )
        grey = grey and mode in GREY_MODES
    assert first is not None
    return first[1], grey


def decode(path: Path, grey: bool) -> np.ndarray:
    """One image as (c, h, w) uint8, c = 1 if `grey` else 3; transparency is composited on white."""
    from PIL import Image

    mode = "L" if grey else "RGB"
    try:
        with open_image(path) as opened:
            im = to_8bit(opened, path)
            if "A" in im.mode or "transparency" in im.info:
                rgba = im.convert("RGBA")
                im = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im.alpha_composite(rgba)
            array = np.asarray(im.convert(mode), dtype=np.uint8)
    except DataError:
        raise
    except Exception as e:  # a truncated or damaged image fails only here, when its data is decoded
        raise DataError(f"{path}: cannot decode image ({one_line(e)})") from None
    return array[None] if grey else array.transpose(2, 0, 1)


def load_folder(name: str, split: Split) -> ImageData:
    """Load `split` of the folder named by `name` = "folder:PATH" (layouts in the module docstring)."""
    root = Path(name.split(":", 1)[1]).expanduser()
    if not root.is_dir():
        raise DataError(f"{name}: {root} is not a folder")
    if (root / "train").is_dir():
        train = scan(root / "train")
        test = scan(root / "test", train[2]) if (root / "test").is_dir() else None
        if test is not None and train[2] is None and test[2] is not None:
            raise DataError(f"{name}: {root / 'train'} has no class folders but {root / 'test'} has")
        if split == "test" and test is None:
            raise DataError(
                f"{name}: {root} has train/ but no test/ folder; add {root / 'test'} (same layout)"
            )
        files, labels, classes = train if split == "train" else test  # type: ignore[misc]
        _, grey = probe(train[0] + ([] if test is None else test[0]))  # one size and channel count for both
    else:
        if split == "test":
            raise DataError(
                f"{name}: no test split: {root} has no train/ and test/ sub-folders. To fix: move the images "
                f"into {root / 'train'} and {root / 'test'} (same layout), or use split='train' "
                "(genlab eval --split train)"
            )
        files, labels, classes = scan(root)
        _, grey = probe(files)
    x = np.stack([decode(p, grey) for p in files])  # (n, c, h, w)
    y = None if labels is None else np.asarray(labels, dtype=np.int64)
    return make_image_data(x, y, name=name, split=split, classes=classes, source=str(root))
