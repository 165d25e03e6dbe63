"""`genlab stylemix` and `genlab latent-walk`: pictures of a GAN run's latent space."""

from __future__ import annotations

import tyro

from genlab.cli.common import MAX_GRID, output_file
from genlab.config import check_bounds


def stylemix(run: tyro.conf.Positional[str], rows: int = 4, cols: int = 6, crossover: int | None = None,
             truncation: float = 0.7, out: str = "stylemix.png", seed: int = 0, ema: bool = True,
             overwrite: bool = False) -> None:
    """Style-mixing grid of a stylegan run: coarse styles from the row sources, fine ones from the columns.

    Args:
        run: the run folder (runs/NAME) of a stylegan model.
        rows: row sources (A, down the left).
        cols: column sources (B, along the top).
        crossover: first layer that takes B's style (default: half of the layers).
        truncation: truncation psi in (0, 1] for both sources (1 = off).
        out: the PNG to write (its folder must exist).
        seed: sampling seed.
        ema: use the EMA weights when the run kept them.
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
    """
    from genlab.apps.stylemix import style_mixing_grid
    from genlab.runs import load_run
    from genlab.viz.grid import save_grid

    output_file(out, overwrite=overwrite)
    check_bounds("--rows", rows, ge=1, le=MAX_GRID)
    check_bounds("--cols", cols, ge=1, le=MAX_GRID // rows, hint=f"a grid holds at most {MAX_GRID} images")
    check_bounds("--truncation", truncation, gt=0, le=1)
    r = load_run(run, ema=ema)
    grid = style_mixing_grid(r.model, rows, cols, crossover=crossover, truncation=truncation, seed=seed)
    save_grid(grid, out, nrow=cols + 1, scale=2)
    print(f"wrote {out}: {rows} x {cols} style mixes (first row and column: the sources)")


def latent_walk(run: tyro.conf.Positional[str], rows: int = 4, steps: int = 10, truncation: float = 1.0,
                out: str = "latent_walk.png", seed: int = 0, ema: bool = True, overwrite: bool = False) -> None:
    """Walk between random latents of a GAN run (slerp in z; straight lines in w for stylegan), one row each.

    Args:
        run: the run folder (runs/NAME) of a GAN family.
        rows: how many walks.
        steps: images per walk.
        truncation: truncation psi in (0, 1] (1 = off).
        out: the PNG to write (its folder must exist).
        seed: sampling seed.
        ema: use the EMA weights when the run kept them.
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
    """
    from genlab.apps.stylemix import latent_walk as walk
    from genlab.runs import load_run
    from genlab.viz.grid import save_grid

    output_file(out, overwrite=overwrite)
    check_bounds("--steps", steps, ge=2, le=MAX_GRID)
    check_bounds("--rows", rows, ge=1, le=MAX_GRID // steps, hint=f"a grid holds at most {MAX_GRID} images")
    check_bounds("--truncation", truncation, gt=0, le=1)
    r = load_run(run, ema=ema)
    save_grid(walk(r.model, rows, steps, truncation=truncation, seed=seed), out, nrow=steps, scale=2)
    print(f"wrote {out}: {rows} latent walks of {steps} steps")
