"""Latent arithmetic: attribute vectors in a latent space, added to the codes of images and decoded
(Radford, Metz & Chintala 2016, DCGAN's vector arithmetic; White 2016, "Sampling generative networks", attribute
vectors from labelled means). Written against the "latent" capability (ae, vae, pca, flow, ...).

Notation: z = encode(x), the decoded edit x' = decode(z + s v) for a vector v and scale s.
- class vectors: v_k = mean{z_i : y_i = k}; an expression such as 7 - 1 + 3 adds and subtracts them (a seed
  image's own code may stand in for its class's first term).
- a measured attribute a(x) gives v_a = mean over classes k of (mean{z : y = k, a in the top q of class k}
  - mean{z : y = k, a in the bottom q of class k}): taken within each class, so that v_a does not also carry
  the class (thick strokes are commoner in 0s than in 1s); without labels, over all images.
- per-class attribute vectors v_a^k = the same difference within class k alone: thickening a 7 is not the same
  move in the code as thickening a 0, and an image of class k edited along v_a^k keeps its class more often than
  along the average v_a (benchmarks/apps_arithmetic.py).
- the attributes measured here: thickness(x) = the ink fraction, pixels > 1/2 of the (first) channel;
  slant(x) = mu_11 / mu_02 of the ink-weighted central moments with y pointing up: the horizontal shift per
  unit of height (> 0 leans right, as italic), the shear a deslanting step removes (Teow & Loe 2002).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch

from genlab.apps.latents import check_images, decode_codes, encode_images, require_latent


def thickness(x: torch.Tensor) -> torch.Tensor:
    """(n,) ink fraction: the share of pixels above 1/2 in channel 0 of (n, c, h, w) images in [0, 1]."""
    return (x[:, 0] > 0.5).float().flatten(1).mean(1)


def slant(x: torch.Tensor) -> torch.Tensor:
    """(n,) mu_11 / mu_02 of the ink (channel 0 as weights), y up: > 0 leans right; 0 for an empty image."""
    w = x[:, 0].double()  # (n, h, w)
    _, h, wd = w.shape
    ys = -torch.arange(h, dtype=torch.float64).view(1, h, 1)  # row index, negated: y up
    xs = torch.arange(wd, dtype=torch.float64).view(1, 1, wd)
    mass = w.sum((1, 2)).clamp_min(1e-12)
    my = (w * ys).sum((1, 2)) / mass
    mx = (w * xs).sum((1, 2)) / mass
    dy, dx = ys - my.view(-1, 1, 1), xs - mx.view(-1, 1, 1)
    mu11 = (w * dx * dy).sum((1, 2)) / mass
    mu02 = (w * dy * dy).sum((1, 2)) / mass
    return (mu11 / mu02.clamp_min(1e-12)).float()


ATTRIBUTES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"thickness": thickness, "slant": slant}


def class_vectors(z: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(num_classes, d) class means of the codes z (n, d) with labels y (n,); ValueError for a missing class."""
    counts = torch.bincount(y, minlength=num_classes)[:num_classes]
    if (counts == 0).any():
        missing = [int(k) for k in torch.nonzero(counts == 0).flatten()]
        raise ValueError(f"class vectors need images of every class; none of class {missing} among {len(y)}")
    sums = torch.zeros(num_classes, z.shape[1], dtype=z.dtype).index_add_(0, y, z)
    return sums / counts.unsqueeze(1).to(z.dtype)


def attribute_vector(z: torch.Tensor, a: torch.Tensor, y: torch.Tensor | None = None, q: float = 0.25) -> torch.Tensor:
    """(d,) mean code of the images in the top q of attribute a minus that of the bottom q, within each class
    (averaged over classes) when labels y are given.

    Args:
        z: (n, d) codes; a: (n,) the attribute measured on the images; y: (n,) labels or None.
        q: the fraction of images at each end, in (0, 0.5].
    """
    if not 0 < q <= 0.5:
        raise ValueError(f"q must be in (0, 0.5], got {q}")
    groups = [torch.arange(len(a))] if y is None else [torch.nonzero(y == k).flatten() for k in y.unique()]
    diffs = []
    for rows in groups:
        if len(rows) < 2:
            continue
        m = max(1, int(q * len(rows)))
        order = rows[a[rows].argsort()]
        diffs.append(z[order[-m:]].mean(0) - z[order[:m]].mean(0))
    if not diffs:
        raise ValueError(f"an attribute vector needs at least 2 images (of one class), got {len(a)}")
    return torch.stack(diffs).mean(0)


def attribute_vectors(z: torch.Tensor, a: torch.Tensor, y: torch.Tensor, num_classes: int, q: float = 0.25
                      ) -> torch.Tensor:
    """(num_classes, d): row k is `attribute_vector` of the images of class k alone (top q minus bottom q of
    the attribute a). Edit an image of class k with row k: `apply_vector(model, x, vectors[labels])`.

    Args:
        z: (n, d) codes; a: (n,) the attribute measured on the images; y: (n,) labels in [0, num_classes).
        q: the fraction of images of each class at each end, in (0, 0.5].
    """
    counts = torch.bincount(y, minlength=num_classes)[:num_classes]
    if (counts < 2).any():
        few = [int(k) for k in torch.nonzero(counts < 2).flatten()]
        raise ValueError(f"per-class attribute vectors need at least 2 images of every class; class {few} has "
                         f"fewer among {len(y)}: fit on more images")
    return torch.stack([attribute_vector(z[y == k], a[y == k], None, q) for k in range(num_classes)])


def parse_expression(text: str, classes: Sequence[str] | None = None) -> list[tuple[int, int]]:
    """"7-1+3" -> [(+1, 7), (-1, 1), (+1, 3)]: signed class indices; ValueError for anything else.

    With `classes` (the data's class names) a term may also be a name, case-insensitive, with _ for a space:
    "sneaker - sandal + ankle_boot" or "T-shirt/top+bag" (a name is matched before a sign is read, so names with
    - or / in them work)."""
    names = sorted(((str(c).lower(), k) for k, c in enumerate(classes or ())), key=lambda t: -len(t[0]))
    worded = [str(c).replace(" ", "_") for c in classes or () if not str(c).isdigit()]
    hint = "class indices" + (" or names" if worded else "") + " joined by + and -, e.g. " + (
        f"{worded[1]}-{worded[0]}" if len(worded) > 1 else "7-1+3")
    low, terms, i, n = text.lower().replace("_", " "), [], 0, len(text)

    def skip(j: int) -> int:
        while j < n and low[j] == " ":
            j += 1
        return j

    i = skip(i)
    while True:
        sign = 1
        if i < n and low[i] in "+-":
            sign, i = (-1 if low[i] == "-" else 1), skip(i + 1)
        elif terms:
            raise ValueError(f"expression {text!r}: write {hint}")
        digits = re.match(r"\d+", low[i:])
        name = next(((m, k) for m, k in names if low.startswith(m, i)), None)
        if name is not None and (digits is None or len(name[0]) >= len(digits.group())):
            terms.append((sign, name[1]))
            i = skip(i + len(name[0]))
        elif digits is not None:
            terms.append((sign, int(digits.group())))
            i = skip(i + len(digits.group()))
        else:
            raise ValueError(f"expression {text!r}: write {hint}")
        if i >= n:
            return terms


def expression_vector(terms: list[tuple[int, int]], vectors: torch.Tensor, seed_code: torch.Tensor | None = None
                      ) -> torch.Tensor:
    """sum of sign * vectors[k] over the terms (d,); `seed_code` (d,) replaces the first term's class vector."""
    k_max = vectors.shape[0]
    bad = [k for _, k in terms if not 0 <= k < k_max]
    if bad:
        raise ValueError(f"class {bad[0]} is not a class of this data; valid: 0 ... {k_max - 1}")
    out = torch.zeros_like(vectors[0])
    for i, (sign, k) in enumerate(terms):
        out = out + sign * (seed_code if i == 0 and seed_code is not None else vectors[k])
    return out


def apply_vector(model: torch.nn.Module, x: torch.Tensor, v: torch.Tensor, scale: float | torch.Tensor = 1.0
                 ) -> torch.Tensor:
    """decode(encode(x) + scale v): (n, c, h, w) images edited by the vector v (d,) (or (n, d)).

    With v = 0 this is exactly the model's round trip decode(encode(x)): the app adds nothing else."""
    require_latent(model, "latent arithmetic")
    x = check_images(x, tuple(model.shape))
    z = encode_images(model, x)
    v = torch.as_tensor(v, dtype=z.dtype)
    if v.shape[-1] != z.shape[1]:
        raise ValueError(f"the vector has {v.shape[-1]} dimensions; this model's codes have {z.shape[1]}")
    return decode_codes(model, z + torch.as_tensor(scale, dtype=z.dtype) * v)


def decode_vector(model: torch.nn.Module, v: torch.Tensor) -> torch.Tensor:
    """The image decode(v) of one code v (d,) or (n, d) codes: (n, c, h, w)."""
    require_latent(model, "latent arithmetic")
    return decode_codes(model, torch.as_tensor(v).reshape(-1, torch.as_tensor(v).shape[-1]))


__all__ = ["ATTRIBUTES", "apply_vector", "attribute_vector", "attribute_vectors", "class_vectors", "decode_vector",
           "expression_vector", "parse_expression", "slant", "thickness"]
