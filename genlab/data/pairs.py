"""Image pairs derived on the fly from any image dataset, unpaired domains, and paired augmentation.

Derived forms, `TASK:DATASET` (DATASET any name `load_data` takes), each a pure function of the images
(and a fixed seed for `masked`), so a resumed run sees the very same pairs:
- `sr2:`, `sr3:`, `sr4:` low-res -> high-res: the source is the target downsampled by 2, 3 or 4 with Pillow's
  BICUBIC filter (Keys' cubic kernel, a = -0.5, widened by the factor, i.e. antialiased), rounded to 8 bits;
- `edges:` Sobel edges -> image: the source is the Sobel gradient magnitude of the greyscale image
  (3x3 kernels [1 2 1] x [-1 0 1], border pixels repeated: no edges at the frame), divided by its largest
  possible value 4 sqrt(2);
- `masked:` masked -> full: a square of half the image side, placed per image by a generator seeded with
  MASK_SEED, is set to 0 (black) in the source;
- `grey:` greyscale -> colour: the source is the ITU-R 601-2 luma of the RGB target (Pillow's "L" mode).
Image transforms (image data, e.g. the two domains of CycleGAN): `thin:` and `thick:` erode or dilate the
strokes of white-on-black images (a 2x2 grey-scale min or max filter).
Unpaired domains (`--data A --data-b B`): `unpaired(a, b)` keeps the even-indexed images of A and the
odd-indexed ones of B, so two domains derived from one dataset never share an image.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from genlab.data.base import DataError, ImageData, ImagePairData

MASK_SEED = 1234
PAIR_FORMS = ("sr2", "sr3", "sr4", "edges", "masked", "grey")
IMAGE_FORMS = ("thin", "thick")
FORMS = PAIR_FORMS + IMAGE_FORMS


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(n, c, h, w) uint8 -> (n, c, h / factor, w / factor) uint8, with Pillow's BICUBIC filter."""
    from PIL import Image

    n, c, h, w = x.shape
    if h % factor or w % factor:
        raise DataError(f"x{factor} super-resolution needs image sides divisible by {factor}, got {h}x{w}; "
                        f"use {'sr2' if factor != 2 and h % 2 == 0 and w % 2 == 0 else 'another factor'}")
    size = (w // factor, h // factor)
    planes = x.reshape(n * c, h, w).numpy()
    out = np.stack([np.asarray(Image.fromarray(p).resize(size, Image.Resampling.BICUBIC)) for p in planes])
    return torch.from_numpy(out).reshape(n, c, h // factor, w // factor)


def upsample(x: torch.Tensor, factor: int, method: str = "bicubic") -> torch.Tensor:
    """(n, c, h, w) uint8 -> (n, c, h * factor, w * factor) uint8 by Pillow's BICUBIC or LANCZOS (baselines)."""
    from PIL import Image

    resample = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}[method]
    n, c, h, w = x.shape
    planes = x.reshape(n * c, h, w).numpy()
    out = np.stack([np.asarray(Image.fromarray(p).resize((w * factor, h * factor), resample)) for p in planes])
    return torch.from_numpy(out).reshape(n, c, h * factor, w * factor)


def luma(x: torch.Tensor) -> torch.Tensor:
    """(n, 3, h, w) -> (n, 1, h, w) float: L = 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2); 1 channel as is."""
    if x.shape[1] == 1:
        return x.float()
    w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32).view(1, 3, 1, 1)
    return (x.float() * w).sum(1, keepdim=True)


def sobel(x: torch.Tensor) -> torch.Tensor:
    """(n, c, h, w) uint8 -> (n, 1, h, w) uint8 edge strength |grad L| / (4 sqrt 2) of the luma L."""
    k = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    kernels = torch.stack([k, k.T])[:, None]  # (2, 1, 3, 3): d/dx, d/dy
    g = F.conv2d(F.pad(luma(x) / 255.0, (1, 1, 1, 1), mode="replicate"), kernels)  # (n, 2, h, w)
    mag = g.pow(2).sum(1, keepdim=True).sqrt() / (4 * math.sqrt(2))
    return (mag.clamp(0, 1) * 255).round().to(torch.uint8)


def mask_square(x: torch.Tensor, seed: int = MASK_SEED) -> torch.Tensor:
    """x with one square of side h // 2 set to 0 per image, placed by a generator seeded with `seed`."""
    n, _, h, w = x.shape
    s = h // 2
    g = torch.Generator().manual_seed(seed)
    top = torch.randint(0, h - s + 1, (n,), generator=g)
    left = torch.randint(0, w - s + 1, (n,), generator=g)
    ys, xs = torch.arange(h), torch.arange(w)
    inside = ((ys[None, :, None] >= top[:, None, None]) & (ys[None, :, None] < top[:, None, None] + s)
              & (xs[None, None, :] >= left[:, None, None]) & (xs[None, None, :] < left[:, None, None] + s))
    return x.masked_fill(inside[:, None], 0)


def strokes(x: torch.Tensor, thick: bool) -> torch.Tensor:
    """White-on-black strokes thickened (2x2 max filter) or thinned (2x2 min filter), same size, uint8."""
    f = x.float()
    pooled = F.max_pool2d(F.pad(f if thick else -f, (0, 1, 0, 1), value=0.0 if thick else -255.0), 2, stride=1)
    return (pooled if thick else -pooled).to(torch.uint8)


def derive(form: str, data: ImageData) -> ImagePairData | ImageData:
    """The data of `FORM:DATASET` from the dataset's images (forms in the module docstring)."""
    if data.kind != "image":
        raise DataError(f"{form}:{data.name}: pairs are derived from image data, got {data.kind} data")
    name, x = f"{form}:{data.name}", data.x
    if form in IMAGE_FORMS:
        return ImageData(strokes(x, form == "thick"), data.y, name, data.split, data.classes,
                         f"{data.source}; strokes {form}ned by a 2x2 {'max' if form == 'thick' else 'min'} filter")
    if form.startswith("sr"):
        factor = int(form[2:])
        source, how = downsample(x, factor), f"x{factor} Pillow BICUBIC downsampling (a = -0.5, antialiased)"
    elif form == "edges":
        source, how = sobel(x), "Sobel gradient magnitude of the luma / (4 sqrt 2)"
    elif form == "masked":
        source, how = mask_square(x), f"a black square of half the side per image (seed {MASK_SEED})"
    elif form == "grey":
        if x.shape[1] != 3:
            raise DataError(f"{name}: greyscale -> colour pairs need RGB images, {data.name} has {x.shape[1]} "
                            "channel(s); use an RGB dataset such as emoji")
        source, how = luma(x).round().to(torch.uint8), "ITU-R 601-2 luma (Pillow 'L')"
    else:
        raise DataError(f"unknown pair form {form!r}; valid: {', '.join(FORMS)}")
    return ImagePairData(source, x, name, data.split, data.y, data.classes, f"{how} of {data.name}")


def unpaired(a: ImageData, b: ImageData) -> ImagePairData:
    """Two image domains as one unpaired dataset: even-indexed images of A as sources, odd-indexed images
    of B as targets (cut to the shorter), so no image is in both when A and B share their images."""
    for d in (a, b):
        if d.kind != "image":
            raise DataError(f"unpaired domains are image datasets; {d.name} is {d.kind} data")
    xa, xb = a.x[0::2], b.x[1::2]
    n = min(len(xa), len(xb))
    return ImagePairData(xa[:n], xb[:n], f"{a.name}|{b.name}", a.split, None, None,
                         f"unpaired domains: {a.name} (even images) -> {b.name} (odd images)", paired=False)


def augment_pairs(source: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None,
                  shift: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random horizontal flip and translation applied to both images of each pair.

    The translation is drawn in source pixels (up to `shift`, zero fill) and scaled by the size ratio for
    the target, so a low-res source stays the downsampled target after augmentation.
    Args:
        source: (b, c', h', w'); target: (b, c, h, w) with h = r h', w = r w' for an integer r.
    """
    b, r = source.shape[0], target.shape[-1] // source.shape[-1]
    device = source.device
    flip = torch.rand(b, generator=generator, device=device) < 0.5
    dy, dx = (torch.randint(-shift, shift + 1, (2, b), generator=generator, device=device)
              if shift > 0 else torch.zeros(2, b, dtype=torch.long, device=device))
    return _flip_shift(source, flip, dy, dx), _flip_shift(target, flip, dy * r, dx * r)


def _flip_shift(x: torch.Tensor, flip: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """x (b, c, h, w) flipped where `flip`, then moved by (dy, dx) pixels (b,) each, zeros shifted in."""
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    b, _, h, w = x.shape
    p = int(max(dy.abs().max(), dx.abs().max(), 0)) if b else 0
    if p == 0:
        return x
    padded = F.pad(x, (p, p, p, p))
    rows = torch.arange(h, device=x.device)[None] - dy[:, None] + p  # (b, h)
    cols = torch.arange(w, device=x.device)[None] - dx[:, None] + p  # (b, w)
    bi = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


__all__ = ["FORMS", "augment_pairs", "derive", "downsample", "luma", "mask_square", "sobel", "strokes",
           "unpaired", "upsample"]
