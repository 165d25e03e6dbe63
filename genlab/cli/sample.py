"""`genlab sample`, `reconstruct` and `interpolate`: images from a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import tyro

from genlab.cli.common import MAX_GRID, KeyValues, flatten, output_file, parse_options, write_output
from genlab.config import check_bounds
from genlab.models import require
from genlab.runs import MAX_SAMPLES


def sample(run: tyro.conf.Positional[str], n: Annotated[int | None, tyro.conf.arg(aliases=["-n"])] = None,
           out: str = "samples.png", seed: int = 0, label: int | None = None, ema: bool = True,
           option: KeyValues = (), prompt: str | None = None, max_tokens: int | None = None,
           overwrite: bool = False, progress: bool = True) -> None:
    """Draw samples from a trained run into a PNG grid or an .npz of raw uint8 arrays; a text run prints text.

    Args:
        run: the run folder (runs/NAME).
        n: how many samples (default 64 images, or 1 text): at most 10000 in a .png grid, 100000 in an .npz.
        out: .png for a grid, .npz for arrays x (n, c, h, w) uint8 (genlab's layout: `npz:PATH` data reads
            it back) and y labels for conditional models; in a folder that exists; an existing file is never
            replaced without --overwrite. Text runs print to the terminal (and also write --out when it ends
            in .txt).
        seed: sampling seed.
        label: for a conditional model, draw only this class (default: cycle through all classes).
        ema: use the EMA weights when the run kept them.
        option: family sampling options KEY=VALUE: --option sampler=ddim steps=20, or one --option per pair
            (text: --option temperature=0.8 top_k=40 top_p=0.95).
        prompt: text runs: the text to continue (e.g. "ROMEO:").
        max_tokens: text runs: how many tokens to draw after the prompt.
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error, and nothing is sampled).
        progress: bars of the batches and denoising steps (diffusion, pixelcnn) on a terminal.
    """
    import io

    import numpy as np
    import torch

    from genlab.runs import load_run, read_run_config
    from genlab.runs import sample as sample_fn
    from genlab.viz.grid import make_grid, png_bytes, to_uint8

    options = parse_options(flatten(option))
    raw, config = read_run_config(run)  # the kind decides what --out may be; checked before any work
    if (raw.get("data_info") or {}).get("kind") == "tokens":
        if out.lower().endswith(".txt"):
            output_file(out, overwrite=overwrite, suffixes=(".txt",))
        check_bounds("-n", 1 if n is None else n, ge=1, le=MAX_GRID)
        return sample_text(load_run(run, ema=ema), 1 if n is None else n, out=out, seed=seed, prompt=prompt,
                           max_tokens=max_tokens, options=options, overwrite=overwrite)
    if prompt is not None or max_tokens is not None:
        raise ValueError(f"--prompt and --max-tokens are for text runs; this {config.family} run draws images")
    n = 64 if n is None else n
    suffix = output_file(out, overwrite=overwrite, suffixes=(".png", ".npz")).suffix.lower()
    cap = MAX_GRID if suffix == ".png" else MAX_SAMPLES
    more = f"an .npz takes up to {MAX_SAMPLES}" if suffix == ".png" else "write several files for more"
    check_bounds("-n", n, ge=1, le=cap, hint=more if n > cap else "")
    r = load_run(run, ema=ema)
    if label is not None and not r.model.conditional:
        raise ValueError(f"--label needs a conditional model; this {r.config.family} run is unconditional")
    if label is not None:
        check_bounds("--label", label, ge=0, lt=r.model.num_classes, hint=f"this model has {r.model.num_classes} "
                     "classes")
    cond = None if label is None else torch.full((n,), label)  # None: every class in turn
    out_ = sample_fn(r, n, cond=cond, seed=seed, progress=progress, **options)
    images, labels = out_.x, out_.y
    if suffix == ".png":
        classes = len(r.model.kept_classes or ()) or r.model.num_classes  # a column per class drawn
        nrow = classes if labels is not None and label is None and classes <= 16 else None
        data = png_bytes(make_grid(images, nrow, scale=2))
    else:
        arrays = {"x": to_uint8(images).transpose(0, 3, 1, 2)}  # (n, c, h, w), as genlab's data
        if labels is not None:
            arrays["y"] = labels.cpu().numpy().astype(np.int64)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        data = buffer.getvalue()
    write_output(out, data, overwrite=overwrite)
    print(f"wrote {n} samples to {out}")


def sample_text(r, n: int, *, out: str, seed: int, prompt: str | None, max_tokens: int | None,
                options: dict, overwrite: bool = False) -> None:
    """Print n samples of a text run; a single one streams to the terminal as its tokens are drawn."""
    import sys

    from genlab.models.base import sampling_options
    from genlab.runs import sample as sample_fn

    vocab = r.model.spec.vocab
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    stream = n == 1 and "on_token" in sampling_options(r.model)
    if stream:  # print each character as it is drawn
        sys.stdout.write(prompt or "")
        options["on_token"] = lambda ids: (sys.stdout.write(vocab.decode(ids[:1].tolist())), sys.stdout.flush())
    x = sample_fn(r, n, cond=prompt or None, seed=seed, progress=False, **options).x
    texts = [vocab.decode(row.tolist()) for row in x]
    if stream:
        sys.stdout.write("\n")
    else:
        print("\n\n".join(f"--- sample {i + 1} ---\n{t}" if n > 1 else t for i, t in enumerate(texts)))
    if Path(out).suffix.lower() == ".txt":  # its folder was checked before sampling (output_file)
        write_output(out, "\n\n---\n\n".join(texts).encode("utf-8"), overwrite=overwrite)
        print(f"wrote {n} samples to {out}")


def reconstruct(run: tyro.conf.Positional[str], n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 16,
                out: str = "reconstructions.png", split: Literal["train", "test"] = "test",
                overwrite: bool = False) -> None:
    """Reconstruct the first N images of the run's dataset: originals above, reconstructions below.

    Args:
        run: the run folder (runs/NAME) of a model that can reconstruct.
        n: how many images (at most 100000; a split with fewer gives all it has, and says so).
        out: the PNG to write (its folder must exist).
        split: which split of the run's dataset.
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
    """
    import torch

    from genlab.models.autoencoder import psnr
    from genlab.runs import load_run, load_training_data
    from genlab.viz.grid import save_grid

    output_file(out, overwrite=overwrite)
    check_bounds("-n", n, ge=1, le=MAX_SAMPLES)
    r = load_run(run)
    require(r.model, "reconstruct", "reconstruct")
    data = load_training_data(r.config.data, split=split)
    done = min(n, len(data))
    if done == 0:
        raise ValueError(f"the {split} split of {r.config.data.name} holds no images to reconstruct")
    x, y = data.images(slice(0, done)), data.labels(slice(0, done))
    with torch.no_grad():
        x_hat = r.model.reconstruct(x, y)
    save_grid(torch.cat([x, x_hat]), out, nrow=done, scale=2)
    err = (x_hat - x).pow(2).mean().item()
    if done < n:
        print(f"reconstructed {done} of the {n} asked: the {split} split has {done} images")
    print(f"wrote {out}: MSE {err:.5f} per pixel, PSNR {psnr(x_hat, x).mean().item():.2f} dB on {done} {split} "
          "images")


def interpolate(run: tyro.conf.Positional[str], steps: int = 10, pairs: int = 4,
                method: Literal["linear", "slerp"] = "linear", out: str = "interpolation.png", seed: int = 0,
                overwrite: bool = False) -> None:
    """Decode a path between pairs of test images through the latent space, one row per pair.

    Args:
        run: the run folder (runs/NAME) of a model with a latent space (encode/decode).
        steps: images per path, the two endpoints included (at least 2).
        pairs: how many paths (a test split with fewer than 2 * PAIRS images gives all it can, and says so).
        method: straight lines or spherical (slerp) paths in the latent space.
        out: the PNG to write (its folder must exist).
        seed: which test images are paired.
        overwrite: replace OUT if it exists (otherwise an existing OUT is an error).
    """
    import torch

    from genlab.apps.interpolate import interpolate as interp
    from genlab.runs import load_run, load_training_data
    from genlab.viz.grid import save_grid

    output_file(out, overwrite=overwrite)
    check_bounds("--steps", steps, ge=2, le=MAX_GRID)
    check_bounds("--pairs", pairs, ge=1, le=MAX_GRID // steps, hint=f"a grid holds at most {MAX_GRID} images")
    r = load_run(run)
    data = load_training_data(r.config.data, split="test")
    done = min(pairs, len(data) // 2)
    if done == 0:
        raise ValueError(f"interpolation needs 2 test images; the test split of {r.config.data.name} has {len(data)}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[: 2 * done]
    x, y = data.images(idx), data.labels(idx)
    rows = []
    for i in range(done):
        a, b = 2 * i, 2 * i + 1
        ya = None if y is None else y[a:a + 1]
        yb = None if y is None else y[b:b + 1]
        rows.append(interp(r.model, x[a:a + 1], x[b:b + 1], steps, method=method, y_a=ya, y_b=yb))
    save_grid(torch.cat(rows), out, nrow=steps, scale=2)
    if done < pairs:
        print(f"interpolated {done} of the {pairs} pairs asked: the test split has {len(data)} images")
    print(f"wrote {out}: {done} {method} interpolations of {steps} steps")
