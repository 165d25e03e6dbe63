"""The explicit joint probability table over k x k binary cells: a generative model that assumes nothing,
and the reason every other family factorizes (docs/LIKELIHOOD.md).

Notation: an image x (c, h, w) in [0, 1] is cut into k x k cells per channel, cell (i, j) holding the
pixels (r, s) with floor(r k / h) = i and floor(s k / w) = j (equal blocks when k divides h and w, e.g.
14 x 14 pixels for k = 2 on 28 x 28; 10, 9, 9 rows for k = 3). Each cell is pooled (area: the mean of
its pixels; max: its brightest pixel) and cut at its threshold t_j, giving D = c k^2 binary cells
b = cells(x) in {0, 1}^D. By default t_j is a median cut fitted to the training images: of the levels
cell j takes on them, the one above which the share of images with the cell on is nearest 1/2 (the
median, moved off ties: a cell that is mostly empty is on when it has any ink). A fixed 0.5 would turn
every MNIST digit into the empty 2x2 configuration: no 14 x 14 quadrant of a digit is half ink. Configuration b is entry
i(b) = sum_j b_j 2^j of a table of 2^D probabilities (cell j in (c, k, k) row-major order is bit j),
fitted by counting with additive (Laplace for s = 1, Lidstone otherwise) smoothing s:
    T[i] = (N_i + s) / (N + s 2^D),      N_i = training images whose cells are configuration i,
which has 2^D - 1 free parameters (the entries sum to 1). Everything after the fit is exact:
    nll(x) = -log T[i(cells(x))]                             nats of the D binary cells
    sample: i ~ T by the inverse CDF (any 2^D; torch.multinomial stops at 2^24 categories)
    p(b_miss | b_obs) = T[b] / sum of T over the 2^m completions of the m missing cells (Bayes' rule)
The table grows as 2^D: D <= 25 (2^25 = 33,554,432 entries, k <= 5 on one channel) keeps the counts
and the sampler's float64 copies under ~1 GiB; a larger k is refused before anything is allocated.

Shape: the model is built for the data's images (c, h, w), and every image in or out has that shape, so
runs, sample grids and FID treat it like any image family: `sample` returns its k x k cells blown up to
(h, w), each cell's pixels set to its value (blocks of ink or paper), and `inpaint` fills masked pixels
the same way. The model's own variables are the cells (`cells`, `sample_cells`, `completions`,
`inpaint_cells`); `likelihood_shape` = (c, k, k) tells evaluation that its nll, and so its bits/dim, is
over those D cells, not over the c h w pixels, and that it takes the images as they are (it pools and
cuts them itself).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from genlab.config import bounded
from genlab.data.base import DataSpec
from genlab.models.base import GenerativeModel, Samples
from genlab.models.classical.common import exact_dtype

MAX_CELLS = 25  # 2^25 entries: 256 MiB of int64 counts, ~0.8 GiB at the peak of sampling


@dataclass(frozen=True)
class TableConfig:
    """Options of `table`.

    Args:
        k: cells per side: each image is pooled to k x k cells per channel (D = c k^2 binary cells,
            a table of 2^D entries).
        smoothing: additive pseudo-count given to every configuration (1 = Laplace; 0 = the
            maximum-likelihood table, which gives unseen configurations probability 0).
        rule: how a cell's pooled grey level becomes 0 or 1: "median" cuts each cell at the median of its
            pooled level over the training images (fitted, moved off ties so that the share of images with
            the cell on is nearest 1/2), "fixed" at `threshold` for every cell.
        threshold: the cut of the "fixed" rule (a cell is 1 above it); also every cell's cut before fitting.
        downsample: "area" pools each cell to the mean of its pixels, "max" to its brightest pixel.
    """

    k: int = bounded(2, ge=1)
    smoothing: float = bounded(1.0, ge=0)
    rule: Literal["median", "fixed"] = "median"
    threshold: float = bounded(0.5, gt=0, lt=1)
    downsample: Literal["area", "max"] = "area"


def _bytes(n: int) -> str:
    """4_000_000_000 -> '4.0 GB'."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.{0 if n >= 100 * size else 1}f} {unit}"
    return f"{n:,} bytes"


def check_table_size(channels: int, k: int) -> None:
    """One-line ValueError, before anything is allocated, when the table of c k^2 cells is too big."""
    d = channels * k * k
    if d <= MAX_CELLS:
        return
    k_max = math.isqrt(MAX_CELLS // channels)
    over = f" over {channels} channels" if channels > 1 else ""
    grows = "2^(c*k*k)" if channels > 1 else "2^(k*k)"
    fix = (f"use k <= {k_max} (2^{channels * k_max ** 2} - 1 = {2 ** (channels * k_max ** 2) - 1:,} probabilities)"
           if k_max else f"use data with at most {MAX_CELLS} channels")
    raise ValueError(f"k={k}{over} needs a table of 2^{d} - 1 = {2 ** d - 1:,} probabilities "
                     f"({_bytes(4 * 2 ** d)} in float32); the joint table grows as {grows}: {fix}")


def median_cuts(pooled: torch.Tensor) -> torch.Tensor:
    """(n, ...) pooled levels -> (...) cuts t: for each cell, the level u it takes on some image for which
    the share of images with level > u is nearest 1/2 (the higher u on a tie, so distinct levels are cut
    at their median); never a cut that leaves the cell always off unless it is constant."""
    flat = pooled.reshape(pooled.shape[0], -1)
    n, cuts = flat.shape[0], []
    for v in flat.T:  # one cell at a time: D <= 25
        v = v.sort().values
        u = torch.unique_consecutive(v)
        on = n - torch.searchsorted(v, u, right=True)  # images with the cell above each level
        off_half = (2 * on - n).abs().flip(0)  # |2 on - n|, integers: ties are exact
        cuts.append(u[len(u) - 1 - int(off_half.argmin())])
    return torch.stack(cuts).reshape(pooled.shape[1:])


class Table(GenerativeModel):
    """The joint probability table of k x k binary cells: counted, exact likelihood, exact samples and
    exact conditionals (inpainting by Bayes' rule over the table's entries)."""

    family: ClassVar[str] = "table"
    Config: ClassVar[type] = TableConfig
    likelihood_kind: ClassVar[str] = "binary"  # a probability mass over the D binary cells
    likelihood_exact: ClassVar[bool] = True

    def __init__(self, config: TableConfig, spec: DataSpec):
        super().__init__(config, spec)  # refuses tokens and other kinds in one line
        c, h, w = self.shape
        k = config.k
        if k > min(h, w):
            raise ValueError(f"k={k} exceeds the {h}x{w} image: the table pools each image down to k x k cells; "
                             f"choose k <= {min(h, w)}")
        check_table_size(c, k)
        self.d = c * k * k
        self.register_buffer("counts", torch.zeros(2 ** self.d, dtype=torch.int64))  # N_i
        self.register_buffer("thresholds", torch.full((c, k, k), float(config.threshold)))  # t_j, fitted by "median"

    @property
    def likelihood_shape(self) -> tuple[int, int, int]:
        """(c, k, k): the binary cells the nll is a probability mass over (bits/dim divide by D = c k^2)."""
        return (self.shape[0], self.config.k, self.config.k)

    @property
    def entries(self) -> int:
        return 2 ** self.d

    # --- images <-> cells <-> entries -------------------------------------------------------------
    def cell_of_pixel(self, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(h,) and (w,) int64: the cell row floor(r k / h) of each pixel row, and the cell column of each
        pixel column (a partition into contiguous, near-equal blocks)."""
        k, (_, h, w) = self.config.k, self.shape
        return (torch.arange(h, device=device) * k) // h, (torch.arange(w, device=device) * k) // w

    def pool(self, x: torch.Tensor, reduce: str) -> torch.Tensor:
        """(b, c, h, w) -> (b, c, k, k): each cell's pixels reduced by "mean" or "amax"."""
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"a table model built for {'x'.join(map(str, self.shape))} images got "
                             f"{'x'.join(map(str, x.shape[1:]))}")
        rows, cols = self.cell_of_pixel(x.device)
        b, c, h, w = x.shape
        k = self.config.k
        by_rows = x.new_zeros(b, c, k, w).scatter_reduce_(2, rows.view(1, 1, h, 1).expand(b, c, h, w), x, reduce,
                                                          include_self=False)  # (b, c, k, w)
        return x.new_zeros(b, c, k, k).scatter_reduce_(3, cols.view(1, 1, 1, w).expand(b, c, k, w), by_rows, reduce,
                                                       include_self=False)  # (b, c, k, k)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(b, c, h, w) images in [0, 1] -> (b, c, k, k) pooled grey levels (area mean or max)."""
        return self.pool(x.float(), "mean" if self.config.downsample == "area" else "amax")

    def cells(self, x: torch.Tensor) -> torch.Tensor:
        """(b, c, h, w) images in [0, 1] -> (b, c, k, k) binary cells (float 0/1): pooled, cut at t_j."""
        return (self.pooled(x) > self.thresholds).float()

    def index_of(self, cells: torch.Tensor) -> torch.Tensor:
        """(b, c, k, k) binary cells -> (b,) int64 entries i(b) = sum_j b_j 2^j."""
        bits = torch.arange(self.d, device=cells.device)
        return (cells.reshape(cells.shape[0], -1).long() << bits).sum(1)

    def cells_at(self, index: torch.Tensor) -> torch.Tensor:
        """(b,) entries -> (b, c, k, k) binary cells (float 0/1)."""
        bits = torch.arange(self.d, device=index.device)
        return ((index.reshape(-1, 1) >> bits) & 1).float().view(-1, *self.likelihood_shape)

    def upsample(self, cells: torch.Tensor) -> torch.Tensor:
        """(b, c, k, k) cells -> (b, c, h, w) images: every pixel of a cell takes the cell's value."""
        rows, cols = self.cell_of_pixel(cells.device)
        return cells.float()[:, :, rows][:, :, :, cols]

    # --- the table ----------------------------------------------------------------------------------
    def _total(self, dtype: torch.dtype) -> torch.Tensor:
        """N + s 2^D, the normalizer (a one-line error when there is nothing to normalize)."""
        total = self.counts.sum().to(dtype) + self.config.smoothing * self.entries
        if total <= 0:
            raise ValueError("this table has no counts and smoothing=0: fit it first, or set smoothing > 0")
        return total

    def prob(self, index: torch.Tensor) -> torch.Tensor:
        """(b,) T[i] = (N_i + s) / (N + s 2^D) of the given entries, float64 (float32 on MPS)."""
        dtype = exact_dtype(self.counts.device)
        return (self.counts[index].to(dtype) + self.config.smoothing) / self._total(dtype)

    def table(self) -> torch.Tensor:
        """(2^D,) every probability T[i], float64 (float32 on MPS); they sum to 1."""
        return self.prob(torch.arange(self.entries, device=self.counts.device))

    # --- fit ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def fit(self, data: Any, *, generator: torch.Generator | None = None, time_budget: float = 0.0,
            batch_size: int = 4096) -> dict:
        """Cut each cell at its median pooled level ("median" rule), then count the cell configurations of
        the training images (exact; no randomness)."""
        if tuple(data.shape) != self.shape:
            raise ValueError(f"a table model built for {'x'.join(map(str, self.shape))} images cannot fit "
                             f"{'x'.join(map(str, data.shape))} images")
        if len(data) == 0:
            raise ValueError("a table model needs at least one training image")
        device = self.counts.device
        pooled = torch.cat([self.pooled(data.images(slice(i, i + batch_size)).to(device))
                            for i in range(0, len(data), batch_size)])  # (n, c, k, k)
        if self.config.rule == "median":
            self.thresholds.copy_(median_cuts(pooled))
        cells = (pooled > self.thresholds).float()
        self.counts.copy_(torch.bincount(self.index_of(cells), minlength=self.entries))
        seen = self.counts > 0
        nats = -(self.counts[seen].double() * self.prob(seen.nonzero().squeeze(1)).double().log()).sum() / len(data)
        return {"images": len(data), "configurations_seen": int(seen.sum()), "table_entries": self.entries,
                "free_parameters": self.entries - 1, "cells_on": float(cells.mean()), "train_nll_nats": float(nats),
                "train_bits_per_cell": float(nats) / (self.d * math.log(2))}

    # --- likelihood and samples ---------------------------------------------------------------------
    def log_prob_cells(self, cells: torch.Tensor) -> torch.Tensor:
        """(b,) log T[i(b)] of (b, c, k, k) binary cells, nats (float64; -inf where T is 0)."""
        return self.prob(self.index_of(cells)).log()

    def nll(self, x: torch.Tensor, y: torch.Tensor | None = None, *,
            generator: torch.Generator | None = None) -> torch.Tensor:
        """(b,) exact nats -log T[i(cells(x))] of the images' binary cells (float64); x grey or binary
        images of the data's shape, pooled and thresholded here."""
        return -self.log_prob_cells(self.cells(x))

    @torch.no_grad()
    def sample_cells(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, c, k, k) exact draws from T by the inverse CDF: the first i with cdf[i] > u, u ~ U[0, 1)."""
        cdf = torch.cumsum(self.table(), 0)
        u = torch.rand(n, generator=generator, device=cdf.device, dtype=cdf.dtype) * cdf[-1]
        return self.cells_at(torch.searchsorted(cdf, u, right=True).clamp_max(self.entries - 1))

    @torch.no_grad()
    def sample(self, n: int, *, cond: Any = None, generator: torch.Generator | None = None) -> Samples:
        """n images (n, c, h, w) in {0, 1}: exact draws of the cells, each cell a block (`upsample`)."""
        return Samples(self.upsample(self.sample_cells(n, generator=generator)))

    # --- conditionals -------------------------------------------------------------------------------
    def completions(self, cells: torch.Tensor, missing: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The 2^m entries that agree with one example's known cells and their probabilities given them,
        by Bayes' rule: p(b | b_obs) = T[b] / sum of T over the 2^m completions of the m missing cells.

        Args:
            cells: (c, k, k) binary cells; values under `missing` are ignored.
            missing: (c, k, k) bool, True = unknown.
        Returns:
            (2^m,) entry indices and (2^m,) conditional probabilities summing to 1.
        """
        b = cells.reshape(-1).long()
        miss = missing.reshape(-1).bool().to(b.device)
        bits = torch.arange(self.d, device=b.device)
        free = bits[miss]  # (m,) the unknown cells
        known = ((b * ~miss) << bits).sum()
        r = torch.arange(2 ** free.numel(), device=b.device)
        idx = known + (((r[:, None] >> torch.arange(free.numel(), device=b.device)) & 1) << free).sum(1)
        joint = self.prob(idx)
        z = joint.sum()
        if z <= 0:
            raise ValueError("the known cells have probability 0 under this table (smoothing=0 and no training "
                             "image had them): there is nothing to condition on")
        return idx, joint / z

    @torch.no_grad()
    def inpaint_cells(self, cells: torch.Tensor, missing: torch.Tensor, *,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """(b, c, k, k) cells with the `missing` ones (same shape, True = unknown) drawn exactly from
        p(b_miss | b_obs); the known cells are kept."""
        out = []
        for b, miss in zip(cells, missing.expand_as(cells)):
            idx, p = self.completions(b, miss)
            u = torch.rand((), generator=generator, device=p.device, dtype=p.dtype)
            j = torch.searchsorted(torch.cumsum(p, 0), u.reshape(1), right=True).clamp_max(len(p) - 1)
            out.append(self.cells_at(idx[j]))
        return torch.cat(out) if out else cells.clone()

    @torch.no_grad()
    def inpaint(self, x: torch.Tensor, mask: torch.Tensor, *, cond: Any = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill x where mask is 1, keep the rest exactly. A cell with any masked pixel is unknown (the
        table models cells, not pixels, so a partly seen cell's visible pixels are not evidence); the
        unknown cells are drawn from p(b_miss | b_obs) and their masked pixels take the drawn value.

        Args:
            x: (b, c, h, w) images in [0, 1].
            mask: broadcastable to x, e.g. (1, 1, h, w); 1 = fill in.
        """
        m = (mask.to(x.device) > 0.5).expand_as(x)
        missing = self.pool(m.float(), "amax") > 0  # (b, c, k, k)
        filled = self.upsample(self.inpaint_cells(self.cells(x), missing, generator=generator))
        return torch.where(m, filled.to(x.dtype), x)

    def describe(self) -> dict[str, Any]:
        """As every family's, plus the table's size: 2^D entries, 2^D - 1 free parameters (in buffers)."""
        return {**super().describe(), "cells": list(self.likelihood_shape), "table_entries": self.entries,
                "free_parameters": self.entries - 1}


__all__ = ["MAX_CELLS", "Table", "TableConfig", "check_table_size", "median_cuts"]
