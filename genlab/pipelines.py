"""`genlab.pipeline(RUN)`: a text-to-image run as a callable, prompt -> images (the "Stable Diffusion API"
of the seeds, for genlab's own t2i runs, docs/CLIP.md). The module is `pipelines`, not `pipeline`: a
submodule of that name would replace the function `genlab.pipeline` once imported.

    pipe = genlab.pipeline("runs/t2i-mnist")
    images = pipe("a thick handwritten seven", n=16, guidance=3)   # (16, 1, 28, 28) float in [0, 1]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


class TextToImage:
    """A loaded t2i model: `pipe(prompt, n=16, guidance=None, seed=0, **options)` -> (n, c, h, w) in [0, 1].

    Args:
        model: a model with text-conditioned sampling (the `t2i` family).
    """

    def __init__(self, model: Any):
        if getattr(model, "family", "") != "t2i":
            raise ValueError(f"genlab.pipeline needs a text-to-image run (family t2i); this run is a "
                             f"{getattr(model, 'family', type(model).__name__)} run. Train one with "
                             "`genlab train t2i --data mnist-captions --text-encoder RUN`")
        self.model = model.eval()

    def __call__(self, prompt: str, n: int = 16, *, guidance: float | None = None, seed: int | None = 0,
                 **options: Any) -> torch.Tensor:
        """n images for `prompt`; guidance w: 0 unconditional, 1 conditional, > 1 stronger (default: the
        run's); options: sampler, steps, eta, batch_size, precision (as for `genlab sample`)."""
        from genlab.data.captions import normalize_caption

        prompt = normalize_caption(prompt)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive number of images, got {n!r}")
        if guidance is not None and guidance < 0:
            raise ValueError(f"guidance must be >= 0 (0 = unconditional, 1 = conditional), got {guidance}")
        g = None if seed is None else torch.Generator(self.model.device).manual_seed(seed)
        return self.model.sample(n, cond=prompt, generator=g, guidance=guidance, **options).x


def pipeline(run: str | Path, *, ema: bool = True, device: str | torch.device = "cpu") -> TextToImage:
    """The text-to-image pipeline of a trained t2i run folder."""
    from genlab.runs import load_run

    return TextToImage(load_run(run, ema=ema, device=device).model)


__all__ = ["TextToImage", "pipeline"]
