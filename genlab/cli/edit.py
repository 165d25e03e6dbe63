"""`genlab inpaint` and `genlab denoise`: edit an image with a run that can (ddpm, pixelcnn, table, dae)."""

from __future__ import annotations

from typing import Annotated

import tyro

from genlab.cli.common import MAX_EDITS, given_flags, output_file
from genlab.config import ConfigError, check_bounds


def input_image(image: str, data, shape: tuple[int, int, int], flag: str = "--image"):
    """(image (1, c, h, w), its label or None) from `image`: test:I / train:I, image I of the split of `data`
    (a DataConfig), or a PNG/JPEG file converted and resized to `shape`."""
    from genlab.apps.inpaint import load_image
    from genlab.runs import load_training_data

    if not image.startswith(("test:", "train:")):
        return load_image(image, shape), None
    split, _, index = image.partition(":")
    images = load_training_data(data, split=split)
    if not index.isdigit() or int(index) >= len(images):
        raise ValueError(f"{flag} {image}: the index must be in [0, {len(images)}) of the {split} split")
    i = int(index)
    return images.images(slice(i, i + 1)), None if images.y is None else int(images.y[i])


def _edit_inputs(run: str, image: str, ema: bool, label: int | None, n: int):
    """(Run, image (1, c, h, w), labels (n,) or None) for inpaint/denoise; image is a file or test:I."""
    import torch

    from genlab.runs import load_run

    r = load_run(run, ema=ema)
    x, known = input_image(image, r.config.data, r.model.shape)
    if label is None and r.model.conditional:
        label = known
    labels = None
    if r.model.conditional and label is not None:
        labels = torch.full((n,), int(label))
    elif label is not None:
        raise ValueError(f"--label needs a conditional model; this {r.config.family} run is unconditional")
    return r, x, labels


def inpaint(run: tyro.conf.Positional[str], image: str = "test:0", mask: str = "center", out: str = "inpainted.png",
            n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 4, steps: int = 50, jump_length: int = 5,
            resample: int = 5, guidance: float | None = None, temperature: float | None = None,
            label: int | None = None, seed: int = 0, ema: bool = True, overwrite: bool = False,
            progress: bool = True) -> None:
    """Fill in the masked part of an image with a diffusion model (RePaint), a pixelcnn (exact completion of
    the lower part) or a table (exact conditionals); the rest is kept exactly.

    Args:
        run: the run folder (runs/NAME) of a model that can inpaint (ddpm, pixelcnn, table).
        image: a PNG/JPEG (converted and resized to the model's images), or test:I / train:I for image I
            of the run's dataset.
        mask: a PNG/JPEG, white (> 0.5) where to fill in, or one of left, right, top, bottom, center, noise.
        out: the PNG to write: the input with the hole greyed, then n completions (its folder must exist).
        n: how many completions (at most 1000).
        steps: timesteps of the RePaint chain (each visited `resample` times) (ddpm).
        jump_length: RePaint's jump length (ddpm).
        resample: RePaint's resampling count (1 = no resampling) (ddpm).
        guidance: classifier-free guidance scale for a conditional model (default: the run's) (ddpm).
        temperature: sampling temperature (default: the run's) (pixelcnn).
        label: class of a conditional model (default: the test image's label, else unconditional).
        seed: sampling seed.
        ema: use the EMA weights when the run kept them.
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
        progress: a bar of the sampler's steps (or a pixelcnn's pixels) on a terminal.
    """
    import torch

    from genlab.apps.inpaint import inpaint as inpaint_fn
    from genlab.apps.inpaint import load_mask
    from genlab.viz.grid import save_grid
    from genlab.viz.progress import Bars

    output_file(out, overwrite=overwrite)
    check_bounds("-n", n, ge=1, le=MAX_EDITS)
    for flag, value in (("--steps", steps), ("--jump-length", jump_length), ("--resample", resample)):
        check_bounds(flag, value, ge=1)
    for flag, value in (("--guidance", guidance), ("--temperature", temperature)):
        if value is not None:
            check_bounds(flag, value, ge=0)
    r, x, labels = _edit_inputs(run, image, ema, label, n)
    g = torch.Generator().manual_seed(seed)
    m = load_mask(mask, r.model.shape, g)
    options = _inpaint_options(r, {"steps": steps, "jump_length": jump_length, "resample": resample,
                                   "guidance": guidance, "temperature": temperature})
    with Bars(f"inpaint {r.config.family}", progress) as bars:
        filled = inpaint_fn(r.model, x.expand(n, *x.shape[1:]), m, cond=labels, generator=g,
                            **_with_progress(options, r.model, "inpaint", bars))
    shown = torch.where(m.bool(), torch.full_like(x, 0.5), x)
    save_grid(torch.cat([shown, filled]), out, nrow=n + 1, scale=2)
    print(f"wrote {out}: the masked input, then {n} completions ({int(m.sum())} pixels filled in)")


def _with_progress(options: dict, model, capability: str, bars) -> dict:
    """`options` with progress=bars when bars are shown and the model's `capability` method takes a hook."""
    from genlab.models.base import PROTOCOLS

    if bars and isinstance(model, PROTOCOLS[capability]):
        import inspect

        if "progress" in inspect.signature(getattr(model, capability)).parameters:
            return {**options, "progress": bars}
    return options


def _inpaint_options(r, options: dict) -> dict:
    """The options the run's model's `inpaint` takes (None = its default); ConfigError when the command line
    gave one it does not take."""
    import inspect

    from genlab.models.base import Inpaint

    if not isinstance(r.model, Inpaint):
        return {}  # the app says which families can inpaint
    accepted = inspect.signature(r.model.inpaint).parameters
    unknown = sorted(k for k in given_flags(options) or () if k not in accepted)
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        valid = ", ".join("--" + k.replace("_", "-") for k in options if k in accepted) or "none"
        raise ConfigError(f"a {r.config.family} model's inpainting takes no {flags}; its options: {valid}")
    return {k: v for k, v in options.items() if k in accepted and v is not None}


def denoise(run: tyro.conf.Positional[str], image: str = "test:0", out: str = "denoised.png",
            noise_std: float | None = None, strength: float | None = None, add_noise: float = 0.0,
            n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 4, sampler: str | None = None,
            steps: int | None = None, guidance: float | None = None, label: int | None = None,
            seed: int = 0, ema: bool = True, overwrite: bool = False, progress: bool = True) -> None:
    """Denoise an image: a diffusion model (SDEdit) from its noise level or re-noised to `strength`; a denoising
    autoencoder (dae) in one pass.

    Args:
        run: the run folder (runs/NAME) of a model that can denoise (ddpm, dae).
        image: a PNG/JPEG, or test:I / train:I for image I of the run's dataset.
        out: the PNG to write: the (noisy) input, then n denoised versions (its folder must exist).
        noise_std: the std of Gaussian noise in the image (pixel units of [0, 1]), when known.
        strength: otherwise, how far to re-noise, in (0, 1] of the diffusion (SDEdit; ddpm's default 0.5).
        add_noise: first add Gaussian noise of this std to the image (a demo of noise_std).
        n: how many denoised versions (at most 1000).
        sampler: ddpm, ddim or dpmpp_2m (default: the run's).
        steps: sampler steps over the part of the diffusion used.
        guidance: classifier-free guidance scale for a conditional model.
        label: class of a conditional model (default: the test image's label, else unconditional).
        seed: sampling seed.
        ema: use the EMA weights when the run kept them.
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
        progress: a bar of the sampler's steps (or a pixelcnn's pixels) on a terminal.
    """
    import torch

    from genlab.apps.denoise import add_noise as add_noise_fn
    from genlab.apps.denoise import denoise as denoise_fn
    from genlab.viz.grid import save_grid
    from genlab.viz.progress import Bars

    output_file(out, overwrite=overwrite)
    check_bounds("-n", n, ge=1, le=MAX_EDITS)
    check_bounds("--add-noise", add_noise, ge=0)
    for flag, value, bounds in (("--noise-std", noise_std, {"gt": 0}), ("--strength", strength, {"gt": 0, "le": 1}),
                                ("--steps", steps, {"ge": 1}), ("--guidance", guidance, {"ge": 0})):
        if value is not None:
            check_bounds(flag, value, **bounds)
    r, x, labels = _edit_inputs(run, image, ema, label, n)
    g = torch.Generator().manual_seed(seed)
    if add_noise > 0:
        x = add_noise_fn(x, add_noise, g)
        noise_std = add_noise if noise_std is None else noise_std
    options = {k: v for k, v in {"sampler": sampler, "steps": steps, "guidance": guidance}.items() if v is not None}
    with Bars(f"denoise {r.config.family}", progress) as bars:
        clean = denoise_fn(r.model, x.expand(n, *x.shape[1:]), noise_std=noise_std, strength=strength,
                           cond=labels, generator=g, **_with_progress(options, r.model, "denoise", bars))
    save_grid(torch.cat([x.clamp(0, 1), clean]), out, nrow=n + 1, scale=2)
    how = f"noise std {noise_std}" if noise_std is not None else f"strength {0.5 if strength is None else strength}"
    print(f"wrote {out}: the input, then {n} denoised versions ({how})")
