"""Grids for GAN latents: style mixing (the style generator: stylegan, or any GAN with arch "style") and
latent walks (every GAN family).

Style mixing (Karras et al. 2019, fig. 3): with w_A of a row source and w_B of a column source, the cell
(i, j) takes the per-layer styles of A_i for layers < `crossover` (coarse: shape, pose) and of B_j from
`crossover` on (fine: stroke, texture); the same noise is used in every cell. The grid has a blank
top-left corner, the B sources along the top and the A sources down the left.

Latent walk: for each row two random latents joined by `steps` points; spherical interpolation in z
(White 2016) for the z-space GANs, straight lines in w for the style generator (whose w space is what
the synthesis network sees). Rows of a conditional model keep one class each. A conditional model's
style-mixing sources draw random classes.
"""

from __future__ import annotations

import torch

from genlab.apps.interpolate import lerp, slerp
from genlab.models.gan.model import GAN


def _family(model) -> str:
    return getattr(model, "family", type(model).__name__)


def _described(model) -> str:
    arch = f" with arch={model.config.arch!r}" if isinstance(model, GAN) else ""
    return f"{_family(model)} model{arch}"


@torch.no_grad()
def style_mixing_grid(model, rows: int = 4, cols: int = 6, *, crossover: int | None = None,
                      truncation: float = 0.7, seed: int = 0) -> torch.Tensor:
    """((rows + 1) * (cols + 1), c, h, w) images in [0, 1], laid out with cols + 1 per row.

    Args:
        model: a GAN with the style generator (the stylegan family, or arch "style").
        rows, cols: how many A (row) and B (column) sources.
        crossover: first layer taking B's style (default: half of the layers, rounded down; 1..num_ws-1).
        truncation: psi of the truncation trick applied to both sources.
        seed: seeds the sources and the shared noise.
    """
    if not (isinstance(model, GAN) and model.has_styles):
        raise ValueError(f"style mixing needs a stylegan model (a GAN with arch='style': per-layer styles); this is "
                         f"a {_described(model)}: use `genlab latent-walk` for its latent space")
    if rows < 1 or cols < 1:
        raise ValueError(f"rows and cols must be >= 1, got {rows}, {cols}")
    k = model.num_ws
    crossover = k // 2 if crossover is None else crossover
    if not 1 <= crossover <= k - 1:
        raise ValueError(f"crossover must be in [1, {k - 1}] for this model's {k} style layers, got {crossover}")
    if not 0.0 < truncation <= 1.0:
        raise ValueError(f"truncation must be in (0, 1], got {truncation}")
    g = torch.Generator(device=model.device).manual_seed(seed)
    y_a, y_b = model.labels_for(rows), model.labels_for(cols)  # classes in turn; None if unconditional
    w_a = model.truncate(model.mapping(model.latent(rows, g), y_a), truncation)  # (rows, w_dim)
    w_b = model.truncate(model.mapping(model.latent(cols, g), y_b), truncation)  # (cols, w_dim)
    ws_a, ws_b = model.broadcast(w_a), model.broadcast(w_b)  # (., k, w_dim)

    def images(ws: torch.Tensor) -> torch.Tensor:  # the same noise for every image
        return model.synthesize(ws, noise="shared", generator=torch.Generator(device=model.device).manual_seed(seed))

    top, left = images(ws_b), images(ws_a)  # (cols, c, h, w), (rows, c, h, w)
    mixed = torch.cat([ws_a[:, None, :crossover].expand(-1, cols, -1, -1),
                       ws_b[None, :, crossover:].expand(rows, -1, -1, -1)], dim=2)  # (rows, cols, k, w_dim)
    cells = images(mixed.reshape(rows * cols, k, -1)).view(rows, cols, *top.shape[1:])
    blank = torch.ones_like(top[:1])
    out = [torch.cat([blank, top])]
    for i in range(rows):
        out.append(torch.cat([left[i:i + 1], cells[i]]))
    return torch.cat(out)


@torch.no_grad()
def latent_walk(model, rows: int = 4, steps: int = 10, *, truncation: float = 1.0, seed: int = 0) -> torch.Tensor:
    """(rows * steps, c, h, w) images in [0, 1]: each row walks between two random latents."""
    if not isinstance(model, GAN):
        raise ValueError(f"a latent walk needs a GAN family (gan, dcgan, cgan, wgan-gp, stylegan); this is a "
                         f"{_family(model)} model: use `genlab interpolate` for models with an encoder")
    if rows < 1 or steps < 2:
        raise ValueError(f"rows must be >= 1 and steps >= 2, got {rows}, {steps}")
    if not 0.0 < truncation <= 1.0:
        raise ValueError(f"truncation must be in (0, 1], got {truncation}")
    g = torch.Generator(device=model.device).manual_seed(seed)
    t = torch.linspace(0.0, 1.0, steps, device=model.device)[:, None]  # (steps, 1)
    out = []
    for r in range(rows):
        z = model.latent(2, g)  # (2, latent_dim): the row's ends
        y = torch.full((steps,), r % model.num_classes, device=model.device) if model.conditional else None
        if model.has_styles:  # straight lines in w, the same noise in every image
            w = model.truncate(model.mapping(z, None if y is None else y[:2]), truncation)
            noise = torch.Generator(device=model.device).manual_seed(seed)
            out.append(model.synthesize(model.broadcast(lerp(w[0], w[1], t)), noise="shared", generator=noise))
        else:
            out.append(model.generate(slerp(z[0], z[1], t), y, truncation=truncation))
    return torch.cat(out)
