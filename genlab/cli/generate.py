"""`genlab generate RUN "PROMPT"`: images for a caption from a text-to-image (t2i) run, as a PNG grid."""

from __future__ import annotations

from typing import Annotated

import tyro

from genlab.cli.common import MAX_GRID, KeyValues, flatten, output_file, parse_options, write_output
from genlab.config import check_bounds


def generate(run: tyro.conf.Positional[str], prompt: tyro.conf.Positional[str],
             n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 16, out: str = "grid.png", seed: int = 0,
             guidance: float | None = None, ema: bool = True, option: KeyValues = (),
             overwrite: bool = False) -> None:
    """Draw n images for PROMPT from a t2i run into a PNG grid.

    Args:
        run: the t2i run folder (runs/NAME).
        prompt: the caption, e.g. "a thick handwritten seven".
        n: how many images.
        out: the .png grid to write (an existing file is replaced only with --overwrite).
        seed: sampling seed.
        guidance: classifier-free guidance scale (0 = unconditional, 1 = conditional, > 1 stronger; default:
            the run's).
        ema: use the EMA weights when the run kept them.
        option: sampling options KEY=VALUE (sampler=ddim steps=50 ...).
        overwrite: replace OUT if it exists.
    """
    from genlab.pipelines import pipeline
    from genlab.viz.grid import make_grid, png_bytes

    check_bounds("-n", n, ge=1, le=MAX_GRID)
    output_file(out, overwrite=overwrite, suffixes=(".png",))
    images = pipeline(run, ema=ema)(prompt, n, guidance=guidance, seed=seed, **parse_options(flatten(option)))
    write_output(out, png_bytes(make_grid(images, scale=2)), overwrite=overwrite)
    print(f"wrote {n} images for {prompt!r} to {out}")
