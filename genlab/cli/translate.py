"""`genlab translate` and `genlab upscale`: one image through a run of image pairs (genlab.runs.translate,
genlab.runs.upscale; genlab/apps/translate.py)."""

from __future__ import annotations

from typing import Literal

import tyro

from genlab.cli.common import output_file, write_output


def _write(x, out: str, overwrite: bool) -> None:
    from genlab.viz.grid import make_grid, png_bytes

    write_output(out, png_bytes(make_grid(x, nrow=len(x), pad=0)), overwrite=overwrite)
    print(f"wrote {out} ({x.shape[-1]}x{x.shape[-2]})")


def translate(run: tyro.conf.Positional[str], image: str, out: str = "translated.png",
              direction: Literal["ab", "ba"] | None = None, ema: bool = True, overwrite: bool = False) -> None:
    """Translate an image with a pix2pix, cyclegan, sr or srgan run: `genlab translate RUN --image in.png`.

    Args:
        run: the run folder.
        image: a PNG/JPEG of the run's source size (sr and srgan: any size), converted to its channels.
        out: the PNG to write (its folder must exist).
        direction: cyclegan only: ab (A -> B, the default) or ba (B -> A).
        ema: use the EMA weights when the run kept them.
        overwrite: replace OUT if it exists.
    """
    from genlab.runs import translate as translate_fn

    output_file(out, overwrite=overwrite)
    _write(translate_fn(run, image, direction=direction, ema=ema), out, overwrite)


def upscale(run: tyro.conf.Positional[str], image: str, out: str = "upscaled.png", ema: bool = True,
            overwrite: bool = False) -> None:
    """Upscale an image of any size with a super-resolution run (sr, srgan): `genlab upscale RUN --image small.png`.

    Args:
        run: the run folder (trained on sr2:DATASET, sr4:DATASET, ...).
        image: a PNG/JPEG, converted to the run's channels.
        out: the PNG to write (its folder must exist).
        ema: use the EMA weights when the run kept them.
        overwrite: replace OUT if it exists.
    """
    from genlab.runs import upscale as upscale_fn

    output_file(out, overwrite=overwrite)
    _write(upscale_fn(run, image, ema=ema), out, overwrite)
